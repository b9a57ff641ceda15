"""Mailbox state on the server: messages, replies, read flags and folders."""
from __future__ import annotations

import re
from collections import Counter
from typing import Annotated, Callable

from pydantic import Field

from labctl.checks.base import Check, Params, register
from labctl.checks.context import CheckContext
from labctl.checks.received import Received, delivered_test, received_messages
from labctl.mailserver.summary import Attachment, normalised

ADDRESS = r"^[^@\s]+@[^@\s]+$"
Address = Field(pattern=ADDRESS)
TAG = re.compile(r"<[^>]*>|&nbsp;")


def same_address(found: str, wanted: str) -> bool:
    return normalised(found) == normalised(wanted)


def subject_has(subject: str, wanted: str) -> bool:
    """`wanted` is in the subject, however its accents (composed or not) and case are typed."""
    return normalised(wanted) in normalised(subject)


def sender_is(received: Received, address: str) -> bool:
    return any(same_address(found, address) for found in received.senders)


def type_matches(content_type: str, wanted: str) -> bool:
    """"image/jpeg" exactly, or a whole family with "image/*"."""
    if wanted.endswith("/*"):
        return content_type.startswith(wanted[:-1])
    return content_type == wanted


def attachment_is(attachment: Attachment, wanted: str) -> bool:
    """By what its bytes are, its file name or its declared type: swaks --attach @archivo.pdf
    labels a PDF application/octet-stream, and Thunderbird may show an image inline. A label
    its bytes belie does not count."""
    return any(type_matches(found, wanted) for found in attachment.credible_types)


def attachment_kinds(attachment: Attachment) -> list[str]:
    """What an attachment is, for a student: its types, and the labels its bytes belie."""
    return sorted(attachment.credible_types) + [f"{t} by its label only, not by its bytes"
                                                for t in sorted(attachment.types - attachment.credible_types)]


def folder_present(folders: list[str], wanted: str) -> bool:
    """`wanted` is one of the account's folders, at the top or under another (Thunderbird's
    "New folder" on the Inbox makes "INBOX.IMAP"), however its accents and case are typed."""
    return any(normalised(last_level(f)) == normalised(wanted) for f in folders)


def last_level(folder: str) -> str:
    """The folder's own name, below its parents: Dovecot's separator is "." (Debian's default
    for Maildir) or "/" (a namespace that sets it), and neither may appear inside a name."""
    return re.split(r"[./]", folder)[-1]


def has_text(received: Received) -> bool:
    """Words in the body (an HTML body of nothing but markup is empty)."""
    return bool(TAG.sub(" ", received.summary.text).strip())


class MessageParams(Params):
    # The account that received it; a list: any of them (exercise 7: a mailbox of the other domain).
    account: Annotated[str, Address] | Annotated[list[Annotated[str, Address]], Field(min_length=1)]
    folder: str | None = None  # None: received, whatever folder it is in now (or downloaded and deleted)
    sender: str | None = Field(None, alias="from", pattern=ADDRESS)  # sent by this account, over SMTP
    subject: str | None = None  # a substring of the Subject (accents and case do not matter)
    body: str | None = None  # a substring of the text body (accents and case do not matter)
    has_subject: bool = False  # a non-empty Subject
    has_body: bool = False  # words in the text body
    attachment_type: str | None = Field(None, pattern=r"^[a-z]+/([a-z0-9.+-]+|\*)$")

    @property
    def accounts(self) -> list[str]:
        return [self.account] if isinstance(self.account, str) else self.account

    @property
    def receiver(self) -> str:
        return " or ".join(self.accounts)


def criteria(p: MessageParams) -> list[tuple[str, Callable[[Received], bool]]]:
    """What the message must have, each named as the student would say what is missing."""
    wanted: list[tuple[str, Callable[[Received], bool]]] = []
    if p.folder:
        wanted.append((f"in folder {p.folder}", lambda r: r.in_folder(p.folder)))
    if p.sender:
        wanted.append((f"From: {p.sender}", lambda r: sender_is(r, p.sender)))
        wanted.append(("sent over SMTP from your machine (not placed in the mailbox by IMAP)",
                       lambda r: r.sent_by_student))
    else:
        wanted.append(("delivered to the account (not a copy the client put there, as the one in Sent)",
                       lambda r: r.delivered))
    if p.has_subject:
        wanted.append(("a subject", lambda r: bool(r.summary.subject.strip())))
    if p.subject:
        wanted.append((f"subject containing {p.subject!r}",
                       lambda r: subject_has(r.summary.subject, p.subject)))
    if p.has_body:
        wanted.append(("text in the body", has_text))
    if p.body:
        wanted.append((f"body containing {p.body!r}", lambda r: normalised(p.body) in normalised(r.summary.text)))
    if p.attachment_type:
        wanted.append((f"an attachment of type {p.attachment_type}",
                       lambda r: any(attachment_is(a, p.attachment_type) for a in r.summary.attachments)))
    return wanted


def candidates(ctx: CheckContext, p: MessageParams) -> list[Received]:
    found = [r for account in p.accounts for r in received_messages(ctx, account)]
    # A folder asked for is about the mailbox as it is now: the log does not count there.
    return [r for r in found if r.folders] if p.folder else found


def matching_messages(ctx: CheckContext, p: MessageParams) -> list[Received]:
    wanted = criteria(p)
    return [r for r in candidates(ctx, p) if all(test(r) for _, test in wanted)]


def describe(p: MessageParams) -> str:
    return "a message to " + p.receiver + "".join(f", {name}" for name, _ in criteria(p))


def closest_miss(ctx: CheckContext, p: MessageParams) -> str:
    """The message nearest to what is asked and what it lacks; the unreadable ones named."""
    wanted = criteria(p)
    found = candidates(ctx, p)
    notes = [str(u) for account in p.accounts for u in ctx.unread_messages(account)][:3]
    if not found:
        return "; ".join([f"{p.receiver} has received no message"] + notes)
    # Fewest things missing; among equals the newest (min keeps the first of reversed order).
    lacks, nearest = min((([name for name, test in wanted if not test(r)], r) for r in reversed(found)),
                         key=lambda pair: len(pair[0]))
    kinds = list(dict.fromkeys(kind for a in nearest.summary.attachments for kind in attachment_kinds(a)))
    has = f" (its attachments: {', '.join(kinds)})" if kinds and p.attachment_type else ""
    line = f"none of the {len(found)} message(s) of {p.receiver} has it all; the closest, {nearest.describe()}, lacks: {'; '.join(lacks)}{has}"
    return "; ".join([line] + notes)


@register("mailbox-message")
class MailboxMessage(Check):
    """A message with the given sender, subject, body and attachment reached a mailbox."""

    Params = MessageParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        found = matching_messages(ctx, self.params)
        if found:
            return True, f"found {found[-1].describe()}"
        return False, closest_miss(ctx, self.params)


class ReplyParams(Params):
    # A mail from one of these accounts to the other, answered from the other: the course
    # sheet (3a) names no direction, "desde una cuenta a la otra y luego desde la otra".
    accounts: tuple[Annotated[str, Address], Annotated[str, Address]]


@register("mailbox-reply")
class MailboxReply(Check):
    """A reply sits in one account's mailbox, sent by the other account and linked
    (In-Reply-To/References) to a message the first one had sent it, in either direction.
    A forward or a read receipt of that message names it too, and is no reply."""

    Params = ReplyParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        unsent, not_replies = [], []
        for replier, asker in (self.params.accounts, self.params.accounts[::-1]):
            # The message answered was delivered to the replier: one APPENDed with the asker's
            # From: was never sent by the asker.
            sent = [r for r in received_messages(ctx, replier) if sender_is(r, asker) and r.delivered]
            originals = {r.summary.message_id for r in sent} - {""}
            answers = [r for r in received_messages(ctx, asker) if sender_is(r, replier)]
            linked = [r for r in answers if originals.intersection(r.summary.links)]
            replies = [r for r in linked if originals.intersection(r.summary.answers)]
            replies += [r for r in answers if any(answers_unnamed(r, original) for original in sent)]
            for reply in replies:
                if reply.sent_by_student:
                    return True, f"reply {reply.describe()} answers a message {asker} had sent to {replier}"
            unsent += replies
            not_replies += [r for r in linked if r not in replies]
        if unsent:
            return False, (f"the reply {unsent[-1].describe()} was not sent over SMTP from your machine "
                           f"(it was placed in the mailbox by IMAP)")
        if not_replies:
            return False, (f"{not_replies[-1].describe()} names the message it came from, but is {not_a_reply(not_replies[-1])}, "
                           f"not a reply: answer it with Reply (Responder)")
        first, second = self.params.accounts
        counts = ", ".join(f"{len([r for r in received_messages(ctx, b) if sender_is(r, a)])} from {a} to {b}"
                           for a, b in ((first, second), (second, first)))
        return False, (f"no message between {first} and {second} answers one the other had sent "
                       f"(In-Reply-To/References name none, nor is one «Re:» the subject of one without Message-ID; "
                       f"messages: {counts})")


# What a client puts before the subject it answers: "Re:" (Thunderbird, mutt, Roundcube), "RE:"
# (Outlook), "AW:" (a German Thunderbird), "SV:", "Antw:", "Res:"; "Re[2]:" counted.
REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|res)(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def answers_unnamed(reply: Received, original: Received) -> bool:
    """A reply to a message without Message-ID (typed after DATA by hand: Postfix adds none for
    a client of another host) cannot name it, and the client sends it without In-Reply-To:
    its subject, the original's after "Re:", is all that ties them."""
    prefix = REPLY_PREFIX.match(reply.summary.subject)
    return (not original.summary.message_id and prefix is not None and not reply.summary.links
            and not reply.summary.report
            and normalised(reply.summary.subject[prefix.end():].strip()) == normalised(original.summary.subject.strip()))


def not_a_reply(received: Received) -> str:
    """What a message that names another without answering it is, in the student's terms."""
    report = received.summary.report
    if report == "disposition-notification":
        return "a read receipt (Content-Type: multipart/report; report-type=disposition-notification)"
    if report:
        return f"a report (Content-Type: multipart/report; report-type={report})"
    return "a forward of it (X-Forwarded-Message-Id)"


# Folders whose mail is not the student's to read: what they threw away (a message deleted
# unread stays unread there, and "mark all read" does not reach it) and what they are writing
# (Thunderbird saves a draft, every few minutes while composing, without \\Seen). The names
# are Thunderbird's and Roundcube's on the server; Outlook's and Apple Mail's otherwise.
NOT_FOR_READING = {"trash", "junk", "spam", "deleted items", "deleted messages", "junk email", "drafts"}


def not_for_reading(folder: str) -> bool:
    return normalised(last_level(folder)) in NOT_FOR_READING


class SeenParams(Params):
    account: str = Address
    folder: str | None = None  # None: every folder but Trash, Junk and Drafts


@register("mailbox-all-seen")
class MailboxAllSeen(Check):
    """Every message of the account (or of one folder) carries the \\Seen flag on the server,
    and there is one: wherever the student filed it (Thunderbird moves mail into the folder
    the exercise makes), except in Trash, Junk and Drafts and except drafts (\\Draft)."""

    Params = SeenParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        p = self.params
        stored = [m for m in ctx.messages(p.account) if "D" not in m.flags
                  and (m.folder == p.folder if p.folder else not not_for_reading(m.folder))]
        where = f"{p.account} {p.folder}" if p.folder else f"the folders of {p.account} (Trash, Junk and Drafts aside)"
        # A message marked \\Deleted (Maildir T) and not yet expunged is hidden by the
        # client (Thunderbird's "mark as deleted"): there is nothing left to mark read.
        messages = [m for m in stored if "T" not in m.flags]
        deleted = f" ({len(stored) - len(messages)} marked deleted, not counted)" if len(stored) > len(messages) else ""
        unseen = [m for m in messages if "S" not in m.flags]
        if not messages:
            return False, f"no message in {where}{deleted}"
        # Copies the client put there itself (Thunderbird's of each message sent, in Sent, are
        # stored \Seen) were never unread: with nothing received there is nothing to mark read.
        if not any(map(delivered_test(ctx, p.account), messages)):
            folders = ", ".join(dict.fromkeys(m.folder for m in messages))
            return False, (f"no mail received by {p.account} in {where}, only {len(messages)} message(s) the client "
                           f"put there itself (in {folders}): send it mail, then mark it read")
        if unseen:
            folders = ", ".join(f"{n} in {folder}" for folder, n in Counter(m.folder for m in unseen).items())
            return False, (f"{len(unseen)} of {len(messages)} message(s) in {where} are not \\Seen on the server "
                           f"({folders}){deleted}")
        folders = ", ".join(dict.fromkeys(m.folder for m in messages))
        return True, f"all {len(messages)} message(s) in {where} are \\Seen on the server (in {folders}){deleted}"


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
        present = folder_present(folders, p.folder)
        where = f"folder {p.folder!r} of {p.account} on the server (it has: {', '.join(folders)})"
        if present == p.exists:
            return True, ("found " if present else "no ") + where
        return False, ("missing " if p.exists else "unexpected ") + where
