"""Mail dialogues: SMTP, POP3 and IMAP sessions with the commands an exercise names, each
answered positively, in any order (the exercises name commands, not their order; SMTP's own
order is the protocol's, since a server takes DATA only after MAIL and RCPT).

Sessions come from the capture, without labctl's own probe connections. Where the exercise
does not ask to read the dialogue, an SMTP session over TLS counts too, read from the MTA's
own log. An SMTP dialogue may have to carry the exercise's message (an accepted DATA/BDAT
with its sender, recipient and subject): another clear session in the capture is not the
exercise's send, and the session that did send it, encrypted, is named as such from the
MTA's log. A POP3/IMAP session that must receive a message has to fetch one the MTA delivered
to the account: its queue id is in the Received: field the fetch returns, which also proves
the session overlapped or followed the delivery; the account's own sessions count together
(clients spread the reception over several connections). A failure names the most complete
session and what it lacks."""
from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from labctl.capture.ports import MAIL_PORT_PROTOCOLS
from labctl.checks.base import Check, Params, register
from labctl.checks.context import CheckContext
from labctl.checks.exercise_message import SentMessage, WantedMessage
from labctl.checks.mailbox import ADDRESS
from labctl.checks.mta_log import Delivery, local_deliveries
from labctl.checks.sessions import CAPTURE, STARTS_TLS, Session, capture_session, clock, mta_log_sessions
from labctl.checks.smtp_messages import stream_messages
from labctl.mailserver.summary import MessageSummary

PortName = Literal["smtp", "submission", "pop3", "imap"]
# How far apart the capture and the MTA's log may date the start of one connection (seconds).
SAME_CONNECTION = 5.0
COMMAND = r"^[A-Z]+( [A-Z]+)?(\|[A-Z]+( [A-Z]+)?)*$"  # "RETR", "UID FETCH", "AUTH|USER"
# How to send without TLS, told when a dialogue to read was encrypted.
# curl's --ssl and --ssl-reqd and openssl s_client -starttls switch to TLS too.
BY_HAND = "curl without --ssl/--ssl-reqd; by hand: nc or telnet, not openssl s_client -starttls"
WITHOUT_TLS = {
    "smtp": "send without TLS (swaks without --tls; Thunderbird: outgoing server, Connection security: None; "
            f"mutt: set ssl_force_tls=no ssl_starttls=no; {BY_HAND})",
    "pop": ("read the mail without TLS (Thunderbird: Server Settings, Connection security: None; fetchmail: sslproto ''; "
            f"{BY_HAND})"),
    "imap": ("read the mail without TLS (Thunderbird: Server Settings, Connection security: None; "
             f"mutt: set ssl_force_tls=no ssl_starttls=no; {BY_HAND})"),
}


class SessionParams(Params):
    # Each must be answered positively, in any order; "AUTH|USER" accepts either command.
    commands: list[str] = Field(min_length=1)
    server: str = "mail"  # the service the client talks to
    port: int | PortName | None = None  # None: any port of the server speaking the protocol
    client: str | None = None  # a service of the lab as the client (MTA -> MTA); None: anyone
    # Commands the exercise reads that some clients never send (IDLE and NOOP: mbsync and
    # curl fetch without waiting for new mail): a passing detail says when none was seen.
    noted: list[str] = []

    @field_validator("commands", "noted")
    @classmethod
    def _upper_case_commands(cls, commands: list[str]) -> list[str]:
        for command in commands:
            if not re.match(COMMAND, command):
                raise ValueError(f"{command!r} is not an upper-case command such as 'RETR' or 'AUTH|USER'")
        return commands


class SmtpParams(SessionParams):
    min_messages: int = Field(0, ge=0)  # messages accepted (250 after the data) in one connection
    min_recipients: int = Field(0, ge=0)  # recipients accepted in one connection
    # Mails accepted in one connection, a message once per recipient: two messages, or one to
    # two recipients (exercise 7: the course sheet's "destinatarios múltiples").
    min_mails: int = Field(0, ge=0)
    # The exercise reads the dialogue, so it must be in clear in the capture. False: a
    # session over TLS counts too, as the MTA's own log has it.
    readable: bool = True
    # The exercise's send: a message accepted in the session must be this one.
    message: WantedMessage | None = None

    @model_validator(mode="after")
    def _message_read_in_the_capture(self) -> "SmtpParams":
        if self.message is not None and not self.readable:
            raise ValueError("message needs readable: true (the MTA's log does not keep what a message says)")
        return self


class ReceiveParams(SessionParams):
    # The session fetched (RETR, TOP, FETCH) a message the MTA delivered to this account.
    fetches_delivery_to: str | None = Field(None, pattern=ADDRESS)


class SessionCheck(Check):
    protocol: ClassVar[str]
    Params = SessionParams

    @property
    def reads_dialogue(self) -> bool:
        """The exercise reads the dialogue in the capture, so TLS hides what it needs."""
        return True

    def _server(self, ctx: CheckContext) -> tuple[str, int | None, str | None]:
        p = self.params
        port = ctx.port(p.server, p.port) if p.port is not None else None
        return str(ctx.service(p.server).ip), port, str(ctx.service(p.client).ip) if p.client else None

    def sessions(self, ctx: CheckContext) -> list[Session]:
        server_ip, port, client_ip = self._server(ctx)
        return [
            capture_session(s) for s in ctx.streams(self.protocol)
            if s.server.ip == server_ip and (port is None or s.server.port == port)
            and (client_ip is None or s.client.ip == client_ip)
        ]

    def lacks(self, ctx: CheckContext, session: Session) -> list[str]:
        """What keeps the session from counting, one phrase per shortfall."""
        return [f"missing {c}" for c in self.params.commands if not session.has(c)]

    def described(self, ctx: CheckContext, session: Session) -> str:
        return f"{session.where} at {clock(session.start)} ({session.source}): {', '.join(session.answered())}"

    def carries_event(self, ctx: CheckContext, session: Session) -> bool:
        """The session was the exercise's event (whatever else it lacks): a failure names it first."""
        return False

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        p = self.params
        port = ctx.port(p.server, p.port) if p.port is not None else None
        where = f"{self.protocol.upper()} to {p.server}" + (f" port {port}" if port else "") + (f" from {p.client}" if p.client else "")
        sessions = self.sessions(ctx)
        if not sessions:
            looked = "the capture" if self.reads_dialogue else "the capture or the MTA's log"
            return False, f"{looked} has no {where} connection (labctl's own probes left aside)"
        candidates = []
        for session in sessions:
            lacks = self.lacks(ctx, session)
            if not lacks:
                return True, self.described(ctx, session) + self.unseen(sessions)
            candidates.append((not self.carries_event(ctx, session), len(lacks), -session.start, session, lacks))
        passed, together = self.together(ctx, sessions)
        if passed:
            return True, together + self.unseen(sessions)
        *_, best, lacks = min(candidates, key=lambda c: c[:3])
        missing = [item.removeprefix("missing ") for item in lacks if item.startswith("missing ")]
        others = [item for item in lacks if not item.startswith("missing ")]
        connections = len({(s.client_ip, s.client_port, s.server_port) for s in sessions})
        detail = (f"{connections} {where} session(s), none complete; the most complete, {best.where} at "
                  f"{clock(best.start)} ({best.source}), has {', '.join(best.answered()) or 'no accepted command'}"
                  + (f"; missing {', '.join(missing)}" if missing else "") + "".join(f"; {o}" for o in others))
        encrypted = [s for s in sessions if s.encrypted and s.source == CAPTURE]
        if encrypted and self.reads_dialogue and not (best.encrypted and self.carries_event(ctx, best)):
            detail += (f"; {len(encrypted)} of them switched to TLS ({STARTS_TLS[self.protocol]}), and what follows is "
                       f"encrypted, so it cannot be read in the capture: {WITHOUT_TLS[self.protocol]}")
        return False, detail + (f"; {together}" if together else "")

    def together(self, ctx: CheckContext, sessions: list[Session]) -> tuple[bool, str]:
        """Whether sessions that each lack something count together, and what they lack if not."""
        return False, ""

    def unseen(self, sessions: list[Session]) -> str:
        """The noted commands that no session has: the exercise reads them, but the student's
        client did the work without them, so they are told, not failed."""
        unseen = [c.replace("|", " or ") for c in self.params.noted if not any(s.has(c) for s in sessions)]
        return (f"; note: no {', '.join(unseen)} in the capture (this client never sent it); "
                "a client that waits for new mail does, as Thunderbird's IDLE") if unseen else ""


@register("smtp-session")
class SmtpSession(SessionCheck):
    protocol = "smtp"
    Params = SmtpParams

    @property
    def reads_dialogue(self) -> bool:
        return self.params.readable

    def sessions(self, ctx: CheckContext) -> list[Session]:
        found = super().sessions(ctx)
        if self.params.readable:
            return found
        _, port, client_ip = self._server(ctx)
        logged = [
            s for s in self._logged_sessions(ctx)
            if (port is None or s.server_port == port) and (client_ip is None or s.client_ip == client_ip)
        ]
        # A connection may be in both: the log sees past TLS, and past packets the capture lost.
        return found + logged

    def lacks(self, ctx: CheckContext, session: Session) -> list[str]:
        p = self.params
        lacks = super().lacks(ctx, session)
        if session.messages < p.min_messages:
            lacks.append(f"{session.messages} message(s) accepted in the connection, {p.min_messages} wanted")
        if session.recipients < p.min_recipients:
            lacks.append(f"{session.recipients} recipient(s) accepted in the connection, {p.min_recipients} wanted")
        if session.mails < p.min_mails:
            lacks.append(f"{session.mails} mail(s) accepted in the connection (messages times their recipients), "
                         f"{p.min_mails} wanted")
        if p.message is not None:
            lacks += self._message_lacks(ctx, session)
        return lacks

    def host_names(self, ctx: CheckContext) -> dict[str, str]:
        """The server's names that deliver for its first domain (Postfix's mydestination:
        $myhostname, localhost), as its MTA takes them."""
        service = ctx.service(self.params.server)
        return {name: service.mail_domains[0] for name in (service.hostname.lower(), "localhost")} if service.mail_domains else {}

    def is_wanted(self, ctx: CheckContext, sent: SentMessage) -> bool:
        return self.params.message.matches(sent, self.host_names(ctx))

    def _message_lacks(self, ctx: CheckContext, session: Session) -> list[str]:
        wanted = self.params.message
        carried = self.carried(ctx, session)
        right = [m for m in carried if self.is_wanted(ctx, m)]
        if right and session.encrypted:
            return [f"it carried the exercise's message ({right[-1].describe()}, as the MTA's log has it), "
                    f"but encrypted ({STARTS_TLS['smtp']}): {WITHOUT_TLS['smtp']}, so that the capture can show it"]
        if right:
            return []
        if carried:
            return [f"it carried {carried[-1].describe()}, not the exercise's ({wanted.describe()})"]
        if session.messages and not session.encrypted:
            return [f"its message could not be read as {wanted.describe()}"]
        # No message at all: the missing commands say so, unless DATA was answered 354 and the
        # message itself refused (552: too big).
        return [f"no message was accepted in it ({wanted.describe()} wanted)"] if session.has("DATA|BDAT") else []

    def carries_event(self, ctx: CheckContext, session: Session) -> bool:
        wanted = self.params.message
        return wanted is not None and any(self.is_wanted(ctx, m) for m in self.carried(ctx, session))

    def carried(self, ctx: CheckContext, session: Session) -> list[SentMessage]:
        """The messages the session handed over: read in the capture where it is clear; where
        TLS hid them, the envelopes the MTA's log has for the same connection, each with what
        its local delivery says of its content."""
        key = f"carried {session.source} {session.where} {session.start}"
        return ctx.measured(key, lambda: self._carried(ctx, session))

    def _carried(self, ctx: CheckContext, session: Session) -> list[SentMessage]:
        if session.stream is not None and not session.encrypted:
            return [SentMessage(m.mail_from, m.rcpt_to, m.summary) for m in stream_messages(session.stream)]
        events = ctx.mta_events(self.params.server)
        logged = session.queued if session.stream is None else next(
            (s.queued for s in self._logged_sessions(ctx) if (s.client_ip, s.client_port, s.server_port)
             == (session.client_ip, session.client_port, session.server_port) and abs(s.start - session.start) < SAME_CONNECTION),
            [])
        return [SentMessage(q.mail_from, q.recipients, _delivered_summary(events, q.queue_id, q.recipients)) for q in logged]

    def together(self, ctx: CheckContext, sessions: list[Session]) -> tuple[bool, str]:
        """Several recipients wanted (exercise 7, MTA→MTA), read as the statement allows too:
        messages sent one after the other to recipients of the domain, which the MTA relays
        one per connection (as Postfix does when they arrive together), or one message for
        recipients of both domains, of which only the other domain's go MTA→MTA. Each relay
        must be a complete session; mail for one recipient alone is not enough."""
        wanted = self.params.min_recipients
        if wanted < 2:
            return False, ""
        complete = [s for s in sessions if s.messages and all(s.has(c) for c in self.params.commands)]
        relayed = sorted({r.lower() for s in complete for m in self.carried(ctx, s) for r in m.rcpt_to})
        if not relayed:
            return False, ""
        connections = len({(s.client_ip, s.client_port, s.server_port) for s in complete})
        if len(relayed) >= wanted:
            return True, f"{connections} complete session(s) together carried {len(relayed)} recipients: {', '.join(relayed)}"
        mixed = self._sent_with_other_domains(ctx, set(relayed))
        if mixed:
            return True, (f"{', '.join(relayed)} relayed in {connections} complete session(s); the message was sent to "
                          f"{', '.join(mixed)}: recipients of other domains went elsewhere")
        return False, f"the complete sessions together carried mail for {', '.join(relayed)} alone"

    def _sent_with_other_domains(self, ctx: CheckContext, relayed: set[str]) -> list[str]:
        """The recipients of a message the client MTA took for one of `relayed` and for a
        recipient of another domain (an address without one is of the MTA's own)."""
        if self.params.client is None:
            return []
        for event in ctx.mta_events(self.params.client):
            recipients = [str(r).lower() for r in event.get("recipients") or []] if event.get("event") == "queued" else []
            if relayed.intersection(recipients) and len({r.partition("@")[2] for r in recipients}) > 1:
                return recipients
        return []

    def _logged_sessions(self, ctx: CheckContext) -> list[Session]:
        """The MTA's log of the server's SMTP sessions, probes left aside, read once per run."""
        server_ip, _, _ = self._server(ctx)
        service = ctx.service(self.params.server)
        listeners = {name: getattr(service.ports, name) for name, proto in MAIL_PORT_PROTOCOLS.items() if proto == "smtp"}
        return ctx.measured(f"mta sessions {self.params.server}", lambda: [
            s for s in mta_log_sessions(ctx.mta_events(self.params.server), server_ip, listeners)
            if not ctx.is_probe(s.client_port, server_ip, None, s.start)])

    def described(self, ctx: CheckContext, session: Session) -> str:
        text = super().described(ctx, session)
        if self.params.message is not None:
            text += f"; it carried {[m for m in self.carried(ctx, session) if self.is_wanted(ctx, m)][-1].describe()}"
        return text


def _delivered_summary(events: list[dict], queue_id: str, recipients: tuple[str, ...]) -> MessageSummary | None:
    """What the MTA read of a message it delivered locally (None if it delivered it nowhere here)."""
    for recipient in recipients:
        for delivery in local_deliveries(events, recipient):
            if delivery.queue_id == queue_id and delivery.summary is not None:
                return delivery.summary
    return None


class ReceiveSession(SessionCheck):
    Params = ReceiveParams

    def _deliveries(self, ctx: CheckContext) -> list[Delivery]:
        # Delivered while the capture ran: the exercise captures the sending too.
        since = ctx.capture.first_ts or 0.0
        return [d for d in ctx.deliveries(self.params.fetches_delivery_to) if d.ts >= since]

    def _fetched(self, ctx: CheckContext, session: Session) -> Delivery | None:
        """The delivered message the session fetched: its queue id is in the Received: field;
        a fetch of some header fields only (Thunderbird's message list) names its Message-ID,
        which counts in a session of the account itself (another account may hold a copy)."""
        own = self.own_login(session)
        for delivery in reversed(self._deliveries(ctx)):
            if delivery.queue_id and delivery.queue_id in session.fetched:
                return delivery
            message_id = delivery.summary.message_id if delivery.summary else ""
            if own and message_id and message_id in session.fetched:
                return delivery
        return None

    def own_login(self, session: Session) -> bool:
        """The session logged in as the account it must fetch for (by address or user name)."""
        account = (self.params.fetches_delivery_to or "").lower()
        return bool(account) and session.login.lower() in (account, account.partition("@")[0])

    def lacks(self, ctx: CheckContext, session: Session) -> list[str]:
        lacks = super().lacks(ctx, session)
        account = self.params.fetches_delivery_to
        if account is None or self._fetched(ctx, session):
            return lacks
        deliveries = self._deliveries(ctx)
        if not deliveries:
            return lacks + [f"no message has been delivered to {account} yet: send one, then fetch it in a session"]
        last = deliveries[-1]
        when = (f"it ended at {clock(session.end)}, before the last one arrived at {clock(last.ts)}"
                if session.end < last.ts else f"the last arrived at {clock(last.ts)}, queue id {last.queue_id}")
        return lacks + [f"it fetched none of the {len(deliveries)} message(s) delivered to {account} ({when})"]

    def together(self, ctx: CheckContext, sessions: list[Session]) -> tuple[bool, str]:
        """A client may spread the reception over several connections of the account: curl
        opens one per command (pop3:// LIST, RETR 1, -X STAT, -X UIDL); Thunderbird fetches on
        one IMAP connection while another IDLEs, or in a new one after a restart; a client
        without IDLE polls with NOOP. The account's logged-in sessions count together once
        one of them fetched the delivered message: what the exercise reads (its commands and
        the reception of that message) is then in the capture. Another account's sessions
        never count, nor does a fetch of mail the MTA did not deliver to the account."""
        account = self.params.fetches_delivery_to
        own = [s for s in sessions if self.own_login(s)]
        fetched = [(s, got) for s in own if (got := self._fetched(ctx, s))]
        if len(own) < 2 or not fetched:
            return False, ""
        missing = [c for c in self.params.commands if not any(s.has(c) for s in own)]
        if missing:
            return False, f"the {len(own)} logged-in sessions of {account} together lack {', '.join(missing)}"
        answered = dict.fromkeys(verb for s in own for verb in s.answered())
        session, got = fetched[-1]
        return True, (f"{len(own)} sessions of {account} together (capture): {', '.join(answered)}; {session.where} "
                      f"at {clock(session.start)} fetched the message delivered at {clock(got.ts)} (queue id {got.queue_id})")

    def described(self, ctx: CheckContext, session: Session) -> str:
        text = super().described(ctx, session)
        if self.params.fetches_delivery_to:
            got = self._fetched(ctx, session)
            text += f"; fetched the message delivered at {clock(got.ts)} (queue id {got.queue_id})"
        return text


@register("pop3-session")
class Pop3Session(ReceiveSession):
    protocol = "pop"


@register("imap-session")
class ImapSession(ReceiveSession):
    protocol = "imap"
