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
from .spool import write_fully


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


def deliver(maildir: Path, name: str, *message: bytes) -> bool:
    """Store the concatenation of `message` (parts made of whole CRLF lines) as new/<name>.

    False if it was already there. The parts are written one after the other,
    not joined, so a large message is not copied once more here.
    """
    if maildir not in _made:
        _ensure_maildir(maildir)
    try:
        delivered = _already_delivered(maildir, name)
    except FileNotFoundError:  # removed behind our back (the mailboxes were reset): make it again
        _ensure_maildir(maildir)
        delivered = _already_delivered(maildir, name)
    if delivered:
        return False
    tmp = maildir / "tmp" / name
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # Maildir files use the local line convention (LF), as Postfix writes them.
        for part in message:
            write_fully(fd, part.replace(b"\r\n", b"\n"))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.rename(tmp, maildir / "new" / name)
    DIRECTORIES.changed(maildir / "new")
    return True
