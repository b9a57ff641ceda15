"""An account's Maildir as Docker hands it over (a tar stream), read message by message.

The layout is Dovecot's Maildir++ (templates/mail/dovecot.conf.j2: `maildir:` with its own
hierarchy separator "."): INBOX is the root, every other folder a `.Name` directory with
"." for each level (`.INBOX.IMAP` is IMAP's "INBOX.IMAP", Thunderbird's IMAP under the Inbox) and its name in IMAP's
modified UTF-7 (`.Borradores &AOE-` ...). Dovecot stores an IMAP COPY as a hard link, which
the tar holds as a link entry naming the first copy: it is the same message, in another
folder. The stream is read once, one message in memory at a time.
"""
from __future__ import annotations

import base64
import io
import re
import tarfile
from dataclasses import dataclass, field
from typing import Iterable

from labctl.mailserver.summary import MAX_MESSAGE_BYTES, MessageSummary, UnreadableMessage, summarise

# Reading stops here, so that one account stuffed with mail cannot hold a check for long.
MAX_ACCOUNT_BYTES = 512 * 1024 * 1024
MUTF7_RUN = re.compile(r"&([A-Za-z0-9+,]*)-")
# The MTA names the files it delivers after the queue id: "<time>.Q<id>R<n>.<host>"; Dovecot
# keeps the name when it copies or moves the message to another folder.
QUEUE_ID_IN_NAME = re.compile(r"\.Q([0-9A-F]{10})R\d+\.")


@dataclass(frozen=True)
class StoredMessage:
    folder: str  # "INBOX" or the folder's name as IMAP lists it ("INBOX.IMAP", "Enviados")
    flags: str  # Maildir info letters: S seen, R replied, ...
    name: str  # the file's unique name, without the ":2," info
    summary: MessageSummary


@dataclass(frozen=True)
class UnreadMessage:
    folder: str
    name: str
    why: str

    def __str__(self) -> str:
        return f"could not read message {self.name} in {self.folder}: {self.why}"


@dataclass
class MaildirContents:
    messages: list[StoredMessage] = field(default_factory=list)
    unread: list[UnreadMessage] = field(default_factory=list)


def decode_mutf7(name: str) -> str:
    """IMAP's modified UTF-7 (RFC 3501 5.1.3), as Dovecot names folders on disk."""
    def run(match: re.Match) -> str:
        if not match.group(1):
            return "&"
        encoded = match.group(1).replace(",", "/")
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-16-be")
    try:
        return MUTF7_RUN.sub(run, name)
    except (ValueError, UnicodeDecodeError):
        return name  # not valid mUTF-7: show it as it is on disk


def folder_of(path: str) -> str | None:
    """The folder of a message file at `path` (relative to the tar's root), None if not a message."""
    parts = path.split("/")
    if len(parts) == 3 and parts[1] in ("cur", "new"):
        return "INBOX"
    if len(parts) == 4 and parts[1].startswith(".") and len(parts[1]) > 1 and parts[2] in ("cur", "new"):
        return ".".join(decode_mutf7(level) for level in parts[1][1:].split("."))
    return None


def _name_and_flags(path: str) -> tuple[str, str]:
    base = path.rpartition("/")[2]
    name, _, flags = base.partition(":2,")
    return name, flags


class ChunkStream(io.RawIOBase):
    """A file-like view of an iterable of byte chunks (Docker's archive stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._chunk = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._chunk:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._chunk = memoryview(chunk)
        count = min(len(buffer), len(self._chunk))
        buffer[:count] = self._chunk[:count]
        self._chunk = self._chunk[count:]
        return count


def queue_id_of(name: str) -> str | None:
    match = QUEUE_ID_IN_NAME.search(name)
    return match.group(1) if match else None


def read_maildir_tar(chunks: Iterable[bytes], known: dict[str, MessageSummary | str] | None = None) -> MaildirContents:
    """Every message of a Maildir tar stream, hard links included; the unreadable ones apart.
    `known` holds what the MTA's log says of the messages it delivered, by queue id (their
    summary, or why they are unreadable): those files are the MTA's own writing and are not
    parsed again (a mailbox of big photos would otherwise cost a parse of each at every check)."""
    known = known or {}
    contents = MaildirContents()
    by_path: dict[str, MessageSummary | str] = {}  # archive path -> summary, or why unreadable
    budget = MAX_ACCOUNT_BYTES
    stream = io.BufferedReader(ChunkStream(chunks), buffer_size=1024 * 1024)
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            folder = folder_of(member.name)
            if folder is None or not (member.isfile() or member.islnk()):
                continue
            name, flags = _name_and_flags(member.name)
            if member.islnk():
                read = by_path.get(member.linkname, "its hard-linked original was not read")
            elif queue_id_of(name) in known:
                read = known[queue_id_of(name)]
            elif member.size > MAX_MESSAGE_BYTES:
                read = f"{member.size} bytes, more than the {MAX_MESSAGE_BYTES} a check reads"
            elif member.size > budget:
                read = f"the account holds more than the {MAX_ACCOUNT_BYTES} bytes a check reads"
            else:
                budget -= member.size
                try:
                    read = summarise(tar.extractfile(member).read())
                except UnreadableMessage as error:
                    read = str(error)
            by_path[member.name] = read
            if isinstance(read, MessageSummary):
                contents.messages.append(StoredMessage(folder, flags, name, read))
            else:
                contents.unread.append(UnreadMessage(folder, name, read))
    return contents
