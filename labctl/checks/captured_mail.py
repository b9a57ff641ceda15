"""Checks on the messages the capture shows crossing the lab: an attachment's transfer
encoding (item h), and header fields that differ from the envelope (items i, j)."""
from __future__ import annotations

from typing import Literal

from labctl.checks.base import Check, Params, register
from labctl.checks.context import CheckContext
from labctl.checks.dialogue import WITHOUT_TLS
from labctl.checks.sessions import capture_session
from labctl.checks.smtp_messages import CapturedMessage, captured_messages

ENCODINGS = ("base64", "quoted-printable")


class AttachmentParams(Params):
    encodings: list[Literal["base64", "quoted-printable"]] = list(ENCODINGS)


def _attachments(message: CapturedMessage) -> list[tuple[str, str, str]]:
    """(file name or type, content type, transfer encoding) of each attached part."""
    found = []
    for part in message.content.walk():
        if part.is_multipart():
            continue
        if part.get_content_disposition() == "attachment" or part.get_filename():
            encoding = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
            found.append((part.get_filename() or part.get_content_type(), part.get_content_type(), encoding))
    return found


def encrypted_note(ctx: CheckContext) -> str:
    """What a failure adds when SMTP sessions switched to TLS: the capture cannot show their
    messages (Thunderbird picks STARTTLS whenever the server offers it)."""
    encrypted = sum(1 for stream in ctx.capture.tcp_streams("smtp") if capture_session(stream).encrypted)
    if not encrypted:
        return ""
    return (f"; {encrypted} SMTP session(s) switched to TLS (STARTTLS), and the capture cannot show "
            f"their messages: {WITHOUT_TLS['smtp']}")


@register("smtp-attachment-encoded")
class SmtpAttachmentEncoded(Check):
    """A message with an attachment crossed the lab over SMTP, the attachment in base64 or QP."""

    Params = AttachmentParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        seen = []
        for message in captured_messages(ctx):
            for name, content_type, encoding in _attachments(message):
                if encoding in self.params.encodings:
                    return True, (f"{message.where}: attachment {name} ({content_type}) sent as "
                                  f"Content-Transfer-Encoding: {encoding}")
                seen.append(f"{name} as {encoding}")
        if seen:
            return False, f"attachments in the capture, none in {' or '.join(self.params.encodings)}: {', '.join(seen)}"
        return False, "no message with an attachment in the SMTP dialogues of the capture" + encrypted_note(ctx)


def _is_login(address: str, login: str) -> bool:
    """The address is the logged-in user's own: the login itself, or its user name's."""
    return address == login or ("@" not in login and address.partition("@")[0] == login)


class ForgedParams(Params):
    field: Literal["From", "To"]


# The header fields that show what the envelope carries: the recipients are those of To:
# and Cc: alike. Relayed to another domain, a message sent To: a local user and Cc: a remote
# one has only the remote one in RCPT TO, and forges nothing.
VISIBLE = {"From": ("From",), "To": ("To", "Cc")}


@register("smtp-header-differs")
class SmtpHeaderDiffers(Check):
    """A message whose From: (or To: and Cc:) names other addresses than its MAIL FROM (or RCPT TO)."""

    Params = ForgedParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        field = self.params.field
        envelope_name = "MAIL FROM" if field == "From" else "RCPT TO"
        # A bounce (MAIL FROM:<>) is not the student's forgery.
        messages = [message for message in captured_messages(ctx) if message.mail_from]
        for message in messages:
            shown = [address for name in VISIBLE[field] for address in message.header_addresses(name)]
            envelope = [message.mail_from] if field == "From" else list(message.rcpt_to)
            if shown and not set(shown) & set(envelope):
                return True, (f"{message.where}: {envelope_name} {', '.join(f'<{a}>' for a in envelope)} "
                              f"| {'/'.join(f'{name}:' for name in VISIBLE[field])} {', '.join(shown)}")
        # Forged in the envelope too (a webmail identity, swaks --from): the visible sender
        # is still not whoever logged in to send it.
        for message in messages if field == "From" else []:
            shown = message.header_addresses("From")
            login = message.login.lower()
            if shown and login and not any(_is_login(address, login) for address in shown):
                return True, f"{message.where}: logged in as {login} | From: {', '.join(shown)}"
        found = (f"{len(messages)} message(s) in the capture, none whose {field}: differs from its {envelope_name}"
                 + (" or from who logged in" if field == "From" else "")
                 if messages else "no message in the SMTP dialogues of the capture")
        return False, found + encrypted_note(ctx)
