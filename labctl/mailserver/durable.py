"""Files made durable the one way the spool and the Maildirs both need.

A file is written under a temporary name, fsynced, renamed into place, and
then its directory is fsynced (dirsync.py shares that last fsync between
writers). WrittenFile splits the cheap part (create and write, page cache
only) from the part that waits for the disk (fsync and rename), so that the
event loop can do the first and hand the second to a thread (commit.py).
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from .dirsync import DIRECTORIES


def write_fully(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write all of `data` or raise: os.write may write less than asked (disk full, file size limit)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written == 0:
            raise OSError(errno.EIO, "write made no progress")
        view = view[written:]


def write_parts(fd: int, parts: list[bytes | bytearray]) -> None:
    """Write the concatenation of `parts`: one writev, no joined copy unless the kernel cuts it short."""
    written = os.writev(fd, parts) if parts else 0
    if written < sum(map(len, parts)):
        write_fully(fd, memoryview(b"".join(parts))[written:])


@dataclass
class WrittenFile:
    """Written whole under its temporary name; not durable, and not in place, until `place`."""
    fd: int
    tmp: Path
    final: Path

    @classmethod
    def create(cls, tmp: Path, final: Path, parts: list[bytes | bytearray]) -> "WrittenFile":
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            write_parts(fd, parts)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        return cls(fd, tmp, final)

    def place(self) -> None:
        """fsync it and rename it into place; the caller still owes the directory's fsync.
        On failure nothing is left under either name."""
        try:
            os.fsync(self.fd)
        except BaseException:
            self.abandon()
            raise
        os.close(self.fd)
        try:
            os.rename(self.tmp, self.final)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise

    def abandon(self) -> None:
        os.close(self.fd)
        self.tmp.unlink(missing_ok=True)


def write_durably(path: Path, parts: list[bytes | bytearray]) -> None:
    """Atomically replace `path` with the concatenation of `parts`, durable once this returns."""
    WrittenFile.create(path.with_name(f".{path.name}.tmp"), path, parts).place()
    DIRECTORIES.changed(path.parent)  # concurrent writers share one fsync of the directory
