"""Local delivery into Maildirs that Dovecot also serves.

The file name is derived from the queue id and the recipient's position in
the envelope, not from the clock: if we crash after the rename into new/ but
before recording the delivery in the spool, the retry finds the file (in new/,
or in cur/ once an IMAP/POP3 client has seen it) and does not deliver twice.
"""
from __future__ import annotations

import os
from pathlib import Path

from .dirsync import DIRECTORIES
from .durable import StagedFile, WrittenFile, open_unnamed, write_parts


def maildir_path(root: str | Path, domain: str, user: str) -> Path:
    return Path(root) / domain / user / "Maildir"


# Maildirs this process has made sure of: three mkdir calls fewer per delivery.
_made: set[Path] = set()


def _ensure_maildir(maildir: Path) -> None:
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    _made.add(maildir)


def _already_delivered(maildir: Path, name: str) -> bool:
    if (maildir / "new" / name).exists():
        return True
    # Dovecot moves seen mail to cur/ and appends ":2,<flags>" to the name.
    return any(entry.startswith(name + ":") or entry == name for entry in os.listdir(maildir / "cur"))


def _prepared(maildir: Path) -> None:
    if maildir not in _made:
        _ensure_maildir(maildir)


def _lf(message: tuple[bytes | bytearray, ...]) -> list[bytes | bytearray]:
    # Maildir files use the local line convention (LF), as Postfix writes them.
    return [part.replace(b"\r\n", b"\n") for part in message]


def stage(maildir: Path, name: str, *message: bytes | bytearray) -> StagedFile:
    """The concatenation of `message` (parts made of whole CRLF lines), staged in memory for
    tmp/<name> and then new/<name>; once placed, and new/ fsynced, it is delivered."""
    _prepared(maildir)
    return StagedFile.create(maildir / "tmp" / name, maildir / "new" / name, _lf(message))


def deliver(maildir: Path, name: str, *message: bytes | bytearray) -> bool:
    """Store the concatenation of `message` as new/<name>, durably; False if it was already there."""
    _prepared(maildir)
    try:
        delivered = _already_delivered(maildir, name)
    except FileNotFoundError:  # removed behind our back (the mailboxes were reset): make it again
        _ensure_maildir(maildir)
        delivered = _already_delivered(maildir, name)
    if delivered:
        return False
    parts = _lf(message)
    _place(WrittenFile.create(maildir / "tmp" / name, maildir / "new" / name, lambda fd: write_parts(fd, parts)))
    return True


def deliver_fresh(maildir: Path, name: str, *message: bytes | bytearray) -> None:
    """Store the concatenation of `message` as new/<name>, durably, for a message just accepted
    (no earlier attempt can have taken its name): written into an unnamed file and linked into
    new/ once on the disk, with no temporary name to create and rename."""
    _prepared(maildir)
    parts = _lf(message)
    final = maildir / "new" / name
    try:
        unnamed = open_unnamed(maildir / "tmp")
    except OSError:  # no O_TMPFILE on this filesystem
        _place(WrittenFile.create(maildir / "tmp" / name, final, lambda fd: write_parts(fd, parts)))
        return
    _place(WrittenFile.filled(unnamed, None, final, lambda fd: write_parts(fd, parts)))


def _place(written: WrittenFile) -> None:
    if not written.place():
        DIRECTORIES.changed(written.final.parent)  # concurrent writers share one fsync of new/
