"""Mailbox state on the server: messages, replies, read flags and folders."""
from __future__ import annotations

from email.utils import getaddresses

from pydantic import Field

from labctl.checks.base import Check, Params, register
from labctl.checks.context import CheckContext, StoredMessage

ADDRESS = r"^[^@\s]+@[^@\s]+$"
Address = Field(pattern=ADDRESS)


def sender_is(stored: StoredMessage, address: str) -> bool:
    senders = getaddresses([str(stored.message.get("From", ""))])
    return any(found.lower() == address.lower() for _, found in senders)


def type_matches(content_type: str, wanted: str) -> bool:
    """"image/jpeg" exactly, or a whole family with "image/*"."""
    if wanted.endswith("/*"):
        return content_type.startswith(wanted[:-1])
    return content_type == wanted


def body_text(stored: StoredMessage) -> str:
    part = stored.message.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else ""


class MessageParams(Params):
    account: str = Address
    folder: str = "INBOX"
    sender: str | None = Field(None, alias="from", pattern=ADDRESS)
    subject: str | None = None  # a substring of the Subject
    body: str | None = None  # a substring of the text body
    attachment_type: str | None = Field(None, pattern=r"^[a-z]+/([a-z0-9.+-]+|\*)$")


def matching_messages(ctx: CheckContext, p: MessageParams) -> list[StoredMessage]:
    found = []
    for stored in ctx.messages(p.account):
        if stored.folder != p.folder:
            continue
        if p.sender and not sender_is(stored, p.sender):
            continue
        if p.subject and p.subject not in str(stored.message.get("Subject", "")):
            continue
        if p.body and p.body not in body_text(stored):
            continue
        if p.attachment_type and not any(type_matches(a.get_content_type(), p.attachment_type)
                                         for a in stored.message.iter_attachments()):
            continue
        found.append(stored)
    return found


def describe(p: MessageParams) -> str:
    wanted = [f"in {p.account} {p.folder}"]
    if p.sender:
        wanted.append(f"from {p.sender}")
    if p.subject:
        wanted.append(f"subject containing {p.subject!r}")
    if p.body:
        wanted.append(f"body containing {p.body!r}")
    if p.attachment_type:
        wanted.append(f"an attachment of type {p.attachment_type}")
    return "a message " + ", ".join(wanted)


@register("mailbox-message")
class MailboxMessage(Check):
    """A message with the given sender, subject, body and attachment type is in a mailbox."""

    Params = MessageParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        found = matching_messages(ctx, self.params)
        if found:
            return True, f"found {describe(self.params)}: {found[-1].message.get('Subject', '')!r}"
        total = sum(1 for m in ctx.messages(self.params.account) if m.folder == self.params.folder)
        return False, f"no {describe(self.params)[2:]} ({total} message(s) there)"


class ReplyParams(Params):
    account: str = Address  # where the reply arrives
    sender: str = Field(alias="from", pattern=ADDRESS)  # who replied
    original_account: str = Address  # whose mailbox holds the message replied to


@register("mailbox-reply")
class MailboxReply(Check):
    """A reply sits in a mailbox, linked (In-Reply-To/References) to a message of another."""

    Params = ReplyParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        p = self.params
        originals = {str(m.message.get("Message-ID", "")).strip() for m in ctx.messages(p.original_account)}
        originals.discard("")
        for stored in ctx.messages(p.account):
            if not sender_is(stored, p.sender):
                continue
            links = f"{stored.message.get('In-Reply-To', '')} {stored.message.get('References', '')}".split()
            if originals.intersection(links):
                return True, f"reply {stored.message.get('Subject', '')!r} in {p.account} refers to a message of {p.original_account}"
        return False, (f"no message from {p.sender} in {p.account} whose In-Reply-To/References names one of "
                       f"the {len(originals)} message(s) of {p.original_account}")


class SeenParams(Params):
    account: str = Address
    folder: str = "INBOX"


@register("mailbox-all-seen")
class MailboxAllSeen(Check):
    """Every message of a folder carries the \\Seen flag on the server (and there is one)."""

    Params = SeenParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        p = self.params
        messages = [m for m in ctx.messages(p.account) if m.folder == p.folder]
        unseen = [m for m in messages if "S" not in m.flags]
        if not messages:
            return False, f"{p.account} {p.folder} is empty"
        if unseen:
            return False, f"{len(unseen)} of {len(messages)} message(s) in {p.account} {p.folder} are not \\Seen on the server"
        return True, f"all {len(messages)} message(s) in {p.account} {p.folder} are \\Seen on the server"


class FolderParams(Params):
    account: str = Address
    folder: str = Field(min_length=1)
    exists: bool = True


@register("mailbox-folder")
class MailboxFolder(Check):
    """A folder exists on the server for an account (or, with exists: false, does not)."""

    Params = FolderParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        p = self.params
        folders = ctx.folders(p.account)
        present = p.folder in folders
        where = f"folder {p.folder!r} of {p.account} on the server (it has: {', '.join(folders)})"
        if present == p.exists:
            return True, ("found " if present else "no ") + where
        return False, ("missing " if p.exists else "unexpected ") + where
