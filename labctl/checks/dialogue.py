"""Mail dialogues in the lab's capture: SMTP, POP3 and IMAP sessions with the commands an
exercise asks the student to observe, answered positively, in order."""
from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from labctl.capture.dialogue import Exchange, dialogue
from labctl.capture.tcp import TcpStream
from labctl.checks.base import Check, Params, register
from labctl.checks.context import CheckContext

PortName = Literal["smtp", "submission", "pop3", "imap"]
COMMAND = r"^[A-Z]+( [A-Z]+)?(\|[A-Z]+( [A-Z]+)?)*$"  # "RETR", "UID FETCH", "AUTH|USER"


class SessionParams(Params):
    # Each entry must appear in this order; "AUTH|USER" accepts either command.
    commands: list[str] = Field(min_length=1)
    server: str = "mail"  # the service the client talks to
    port: int | PortName | None = None  # None: any port of the server speaking the protocol
    client: str | None = None  # a service of the lab as the client (MTA -> MTA); None: anyone
    min_messages: int = Field(0, ge=0)  # SMTP: messages accepted (250 after DATA) in one connection
    min_recipients: int = Field(0, ge=0)  # SMTP: recipients accepted in one connection

    @field_validator("commands")
    @classmethod
    def _upper_case_commands(cls, commands: list[str]) -> list[str]:
        for command in commands:
            if not re.match(COMMAND, command):
                raise ValueError(f"{command!r} is not an upper-case command such as 'RETR' or 'AUTH|USER'")
        return commands


def command_words(exchange: Exchange, tagged: bool) -> str:
    """The command's verb (two words for IMAP's UID FETCH), upper-cased, without the tag."""
    words = exchange.command_text.split(None, 3)[1 if tagged else 0:]
    return " ".join(words[:2]).upper()


class SessionCheck(Check):
    protocol: ClassVar[str]
    tagged: ClassVar[bool] = False
    Params = SessionParams

    def positive(self, exchange: Exchange) -> bool:
        raise NotImplementedError

    def extra_shortfall(self, exchanges: list[Exchange]) -> str | None:
        """Why a session with every command still does not count (SMTP counts messages)."""
        return None

    def _streams(self, ctx: CheckContext) -> list[TcpStream]:
        p = self.params
        server_ip = str(ctx.service(p.server).ip)
        port = ctx.port(p.server, p.port) if p.port is not None else None
        client_ip = str(ctx.service(p.client).ip) if p.client else None
        return [
            s for s in ctx.capture.tcp_streams(self.protocol)
            if s.server.ip == server_ip
            and (port is None or s.server.port == port)
            and (client_ip is None or s.client.ip == client_ip)
        ]

    def _missing(self, exchanges: list[Exchange]) -> list[str]:
        """The wanted commands not found, in order, with a positive reply."""
        wanted = list(self.params.commands)
        for exchange in exchanges:
            if not wanted or exchange.command is None:
                continue
            verb = command_words(exchange, self.tagged)
            if any(verb == alt or verb.startswith(alt + " ") for alt in wanted[0].split("|")) and self.positive(exchange):
                wanted.pop(0)
        return wanted

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        streams = self._streams(ctx)
        p = self.params
        where = f"{self.protocol.upper()} to {p.server}" + (f" port {ctx.port(p.server, p.port)}" if p.port is not None else "") + (f" from {p.client}" if p.client else "")
        if not streams:
            return False, f"the capture has no {where} connection"
        best = None
        for stream in streams:
            exchanges = dialogue(stream)
            missing = self._missing(exchanges)
            shortfall = f"missing {' → '.join(missing)}" if missing else self.extra_shortfall(exchanges)
            if shortfall is None:
                return True, f"{stream.title}: {' → '.join(self.params.commands)}"
            best = best or shortfall
        return False, f"{len(streams)} {where} connection(s) in the capture, none complete: {best}"


@register("smtp-session")
class SmtpSession(SessionCheck):
    protocol = "smtp"

    def positive(self, exchange: Exchange) -> bool:
        return exchange.reply_text[:1] in ("2", "3")

    def extra_shortfall(self, exchanges: list[Exchange]) -> str | None:
        p = self.params
        # The message itself is the exchange after DATA's 354: accepted when answered 250.
        messages = sum(1 for before, after in zip(exchanges, exchanges[1:])
                       if command_words(before, False) == "DATA" and before.reply_text.startswith("354")
                       and after.reply_text.startswith("250"))
        recipients = sum(1 for e in exchanges if e.command_text[:4].upper() == "RCPT" and e.reply_text.startswith("25"))
        if messages < p.min_messages:
            return f"{messages} message(s) accepted in one connection, {p.min_messages} wanted"
        if recipients < p.min_recipients:
            return f"{recipients} recipient(s) accepted in one connection, {p.min_recipients} wanted"
        return None


@register("pop3-session")
class Pop3Session(SessionCheck):
    protocol = "pop"

    def positive(self, exchange: Exchange) -> bool:
        return exchange.reply_text.startswith("+")  # "+OK", or "+ " to go on with AUTH


@register("imap-session")
class ImapSession(SessionCheck):
    protocol = "imap"
    tagged = True

    def positive(self, exchange: Exchange) -> bool:
        # A continuation ("+ idling") counts: a student's IDLE is still going on at check time.
        if exchange.reply_text.startswith("+"):
            return True
        tag = exchange.command_text.split(None, 1)[0]
        last = exchange.reply_text.rstrip("\r\n").rsplit("\n", 1)[-1]
        return last.startswith(f"{tag} OK")
