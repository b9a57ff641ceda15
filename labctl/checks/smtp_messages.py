"""The messages of the lab's SMTP dialogues, as the capture shows them: envelope (MAIL FROM,
RCPT TO) beside content (header fields, MIME parts), for what the student sent (exercise 10
items h, i, j; the message a dialogue check wants)."""
from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from functools import cached_property

from labctl.capture.dialogue import dialogue
from labctl.capture.tcp import TcpStream
from labctl.checks.context import CheckContext
from labctl.checks.sessions import capture_session, envelope_path
from labctl.mailserver.summary import MessageSummary, UnreadableMessage, addresses, parse, summary_of



@dataclass(frozen=True)
class CapturedMessage:
    stream: TcpStream
    mail_from: str
    rcpt_to: tuple[str, ...]
    content: Message

    def header_addresses(self, name: str) -> list[str]:
        """The addresses of a header field (To: may hold several), lower-cased, without display names."""
        return [address.lower() for address in addresses(self.content, name)]

    @cached_property
    def summary(self) -> MessageSummary | None:
        """Sender, subject and parts as the mailbox checks read them; None when unreadable."""
        try:
            return summary_of(self.content)
        except UnreadableMessage:
            return None

    @cached_property
    def login(self) -> str:
        """Who logged in (SMTP AUTH) in the message's connection, as far as it is readable; "" for no one."""
        return capture_session(self.stream).login

    @property
    def where(self) -> str:
        return f"{self.stream.client.ip} → {self.stream.server.ip}:{self.stream.server.port}"


def _unstuffed(data: bytes) -> bytes:
    """The message as sent: without the final '.' line and with RFC 5321 4.5.2 dot-stuffing
    undone; lines end in CRLF or, typed into nc, in a bare LF (each keeps its own)."""
    lines = data.split(b"\n")
    if lines[-2:] in ([b".", b""], [b".\r", b""]):
        lines = lines[:-2]
    return b"\n".join(line[1:] if line.startswith(b".") else line for line in lines) + b"\n"


def stream_messages(stream: TcpStream) -> list[CapturedMessage]:
    """Each message the server accepted (250 after the content, or after BDAT ... LAST) in
    one SMTP connection."""
    found = []
    mail_from, recipients, chunks = None, [], []

    def accepted(content: bytes) -> None:
        try:
            found.append(CapturedMessage(stream, mail_from, tuple(recipients), parse(content)))
        except UnreadableMessage:
            pass  # anyone may send the lab a message no parser should read: the others still count

    exchanges = dialogue(stream)
    for before, after in zip(exchanges, exchanges[1:] + [None]):
        verb = before.command_text[:4].upper()
        path = envelope_path(before.command_text)
        if verb == "MAIL" and path is not None and before.reply_text.startswith("250"):
            mail_from, recipients, chunks = path, [], []
        elif verb == "RCPT" and path is not None and before.reply_text.startswith("25"):
            recipients.append(path)
        elif verb in ("RSET", "HELO", "EHLO"):
            mail_from, recipients, chunks = None, [], []
        elif (verb == "DATA" and before.reply_text.startswith("354") and after is not None
              and after.reply_text.startswith("250") and mail_from is not None):
            accepted(_unstuffed(after.command.data))
            mail_from, recipients = None, []
        elif verb == "BDAT" and mail_from is not None:
            # RFC 3030: the chunk follows its command line, taken as it is (no dot-stuffing).
            line, _, chunk = before.command.data.partition(b"\n")
            if not before.reply_text.startswith("250"):
                mail_from, recipients, chunks = None, [], []  # a refused chunk ends the transaction
                continue
            chunks.append(chunk)
            if line.upper().split()[2:3] == [b"LAST"]:
                accepted(b"".join(chunks))
                mail_from, recipients, chunks = None, [], []
    return found


def captured_messages(ctx: CheckContext) -> list[CapturedMessage]:
    """Every accepted message of every SMTP connection in the capture, in order."""
    return [message for stream in ctx.capture.tcp_streams("smtp") for message in stream_messages(stream)]
