"""Bounds on what the MTA keeps on the disk every lab of a class shares.

Each mailbox's quota, as Dovecot's quota-status policy service gives it to Debian's Postfix:
a recipient whose mailbox already holds its quota is refused at RCPT, for good
(552 5.2.2 Mailbox is full); without it one student's loop of 10 MB messages filled the disk
under every other lab. The queue's bound, as Postfix's queue_minfree: while the spool holds
it, MAIL is answered 452 4.3.1 Insufficient system storage (mail that cannot leave the lab,
sent with AUTH to any domain, is kept and retried for days).

Files are bounded as well as bytes: a mailbox's quota of tiny messages would be some 170k
files (each a 4 KiB block and an inode of the shared disk, and a longer walk of the folder);
past its files' bound a mailbox, or the spool, is full the same way.

The mailbox is measured on disk, every folder and Dovecot's own files in it, so mail put
there over IMAP (Dovecot's quota plugin bounds that) counts too. A message accepted while
the mailbox was under its quota is delivered whole: a mailbox exceeds its quota by at most
the messages in flight at that moment, as with Postfix and quota-status.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

FULL_TEXT = "Mailbox is full"  # Dovecot's quota_status_overquota, as Postfix words its reject
NO_ROOM = "452 4.3.1 Insufficient system storage"


@dataclass(frozen=True)
class Usage:
    bytes: int = 0
    files: int = 0

    def plus(self, size: int) -> "Usage":
        return Usage(self.bytes + size, self.files + 1)


@dataclass(frozen=True)
class Bound:
    """What a folder may hold; 0: no bound on that."""
    bytes: int = 0
    files: int = 0

    def reached_by(self, usage: Usage) -> bool:
        return (0 < self.bytes <= usage.bytes) or (0 < self.files <= usage.files)


def usage_under(top: Path) -> Usage:
    """The bytes and the number of every file under the folder (none while it does not exist)."""
    total = count = 0
    for folder, _dirs, files in os.walk(top):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
                count += 1
            except FileNotFoundError:
                pass  # expunged or moved by Dovecot meanwhile
    return Usage(total, count)


# A folder is walked again only after this long (for what Dovecot added or expunged);
# meanwhile what we write there is added to its last measure. A mailbox at its quota may hold
# some 170k tiny messages, 0.6 s of CPU to walk: a loop of RCPTs must not walk it each time.
MEASURE_EVERY = 5.0
_measured: dict[Path, tuple[float, Usage]] = {}
_lock = threading.Lock()  # added() is also called from delivery threads
# The walk under way for a folder: every MAIL or RCPT that needs it waits for that one walk.
_walks: dict[Path, asyncio.Future] = {}


async def is_full(folder: Path, bound: Bound) -> bool:
    """Whether the folder holds what it may. A recent measure is answered on the event loop at
    once (every MAIL and RCPT asks); a new one is walked in a thread, once for all who ask."""
    if not (bound.bytes > 0 or bound.files > 0):
        return False
    with _lock:
        when, usage = _measured.get(folder, (None, Usage()))
    if when is None or time.monotonic() - when >= MEASURE_EVERY:
        usage = await _walk(folder)
    return bound.reached_by(usage)


async def _walk(folder: Path) -> Usage:
    walk = _walks.get(folder)
    if walk is None or walk.done() or walk.get_loop() is not asyncio.get_running_loop():
        walk = _walks[folder] = asyncio.ensure_future(_measure(folder))
    # Shielded: one session leaving must not cancel the walk the others wait for.
    return await asyncio.shield(walk)


async def _measure(folder: Path) -> Usage:
    began = time.monotonic()
    try:
        usage = await asyncio.to_thread(usage_under, folder)
    finally:
        if _walks.get(folder) is asyncio.current_task():
            del _walks[folder]
    with _lock:
        _measured[folder] = (began, usage)
    return usage


def added(folder: Path, size: int) -> None:
    """We wrote a file of `size` bytes under the folder: its last measure holds it from now on."""
    with _lock:
        if folder in _measured:
            when, before = _measured[folder]
            _measured[folder] = (when, before.plus(size))
