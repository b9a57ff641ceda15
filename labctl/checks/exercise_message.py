"""The message an exercise's SMTP dialogue must carry (exercise 11: from
redesycomunicaciones to alumnoimap with subject SMTP-Práctica4), so that a dialogue check is
tied to the exercise's send and not to any other session in the capture. Addresses and
subject compare as the mailbox checks compare them (NFC, case-insensitive)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import Field

from labctl.checks.base import Params
from labctl.checks.mailbox import ADDRESS, same_address, subject_has
from labctl.mailserver.summary import MessageSummary


@dataclass(frozen=True)
class SentMessage:
    """A message a client handed to an SMTP server: its envelope, and what its content says
    (None when it could not be read, or only the MTA's log has it and it was not delivered here)."""
    mail_from: str
    rcpt_to: tuple[str, ...]
    summary: MessageSummary | None

    def describe(self) -> str:
        senders = [a for a in (self.summary.senders if self.summary else ()) if not same_address(a, self.mail_from)]
        text = f"a message from {self.mail_from or '<>'}" + (f" (From: {', '.join(senders)})" if senders else "")
        text += f" to {', '.join(self.rcpt_to) or 'nobody'}"
        if self.summary is None:
            return text + " (its content unread)"
        return text + (f" with subject {self.summary.subject!r}" if self.summary.subject else " without a subject")


def envelope_is(found: str, wanted: str, host_names: Mapping[str, str] | None = None) -> bool:
    """An envelope address names `wanted`: a bare local part (swaks --to alumnoimap) is taken
    in the wanted address's domain, as Postfix's append_at_myorigin completes it on the
    server of that domain, which is the one 3b and 11 send to; `host_names` maps the server's
    other names (its host name, localhost) to the domain they deliver for, as mydestination
    does (alumnoimap@mail.redes.unlp.edu.ar is alumnoimap@redes.unlp.edu.ar)."""
    if "@" not in found and found:
        found = f"{found}@{wanted.rpartition('@')[2]}"
    local, _, domain = found.rpartition("@")
    return same_address(f"{local}@{(host_names or {}).get(domain.lower(), domain)}", wanted)


class WantedMessage(Params):
    sender: str | None = Field(None, alias="from", pattern=ADDRESS)  # the MAIL FROM or an address of From:
    to: str | None = Field(None, pattern=ADDRESS)  # an accepted RCPT TO
    subject: str | None = None  # a substring of the Subject

    def matches(self, sent: SentMessage, host_names: Mapping[str, str] | None = None) -> bool:
        summary = sent.summary
        if self.sender and not (envelope_is(sent.mail_from, self.sender)
                                or (summary and any(same_address(a, self.sender) for a in summary.senders))):
            return False
        if self.to and not any(envelope_is(a, self.to, host_names) for a in sent.rcpt_to):
            return False
        return not self.subject or (summary is not None and subject_has(summary.subject, self.subject))

    def describe(self) -> str:
        return " ".join(["a message"] + ([f"from {self.sender}"] if self.sender else []) + ([f"to {self.to}"] if self.to else [])
                        + ([f"with subject containing {self.subject!r}"] if self.subject else []))
