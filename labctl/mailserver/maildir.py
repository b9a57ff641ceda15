"""Local delivery into Maildirs that Dovecot also serves.

The file name is derived from the queue id and the recipient's position in
the envelope, not from the clock: if we crash after the rename into new/ but
before recording the delivery in the spool, the retry finds the file (in new/,
or in cur/ once an IMAP/POP3 client has seen it) and does not deliver twice.
"""
from __future__ import annotations

import os
from pathlib import Path

from .spool import fsync_dir, write_fully


def maildir_path(root: str | Path, domain: str, user: str) -> Path:
    return Path(root) / domain / user / "Maildir"


def _ensure_maildir(maildir: Path) -> None:
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True, mode=0o700)


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
    _ensure_maildir(maildir)
    if _already_delivered(maildir, name):
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
    fsync_dir(maildir / "new")
    return True
