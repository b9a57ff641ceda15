"""Files made durable the one way the spool and the Maildirs both need.

A file is written under a temporary name (or as an unnamed file, see
open_unnamed), fsynced, renamed (or linked) into place, and then its directory
is fsynced (dirsync.py shares that last fsync between writers). Where the
file's fsync covers its new name too (journal.py), the data is written back,
the file is renamed, and then fsynced: one journal commit (without a journal, one cache
flush) instead of two. WrittenFile is
a file written but not yet durable; StagedFile is content in memory on its way
to becoming one, which is how the event loop hands a message to the commit
helper (commit.py).
"""
from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .dirsync import DIRECTORIES
from .journal import names_follow_file, write_back


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


def copy_fully(source: int, destination: int) -> None:
    """Copy all of file `source` to `destination`, in the kernel (no copy through Python)."""
    size, offset = os.fstat(source).st_size, 0
    while offset < size:
        copied = os.sendfile(destination, source, offset, size - offset)
        if copied == 0:
            raise OSError(errno.EIO, "copy made no progress")
        offset += copied


def open_unnamed(directory: Path) -> int:
    """A new file with no name yet, on `directory`'s filesystem (O_TMPFILE): what it holds
    appears under a name only when it is linked there, whole; dropped unlinked, nothing is
    left behind. Creating a file waits on the filesystem's journal, so the commit helper
    makes one ahead, while it is idle."""
    return os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o600)


class _OwnDescriptors:
    """This process's /proc/self/fd, opened once (two system calls fewer per message). The
    entry names the process that opened it: a forked child opens its own."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self._lock = threading.Lock()  # the commit helper's threads link side by side
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._lock = threading.Lock()

    def fileno(self) -> int:
        with self._lock:
            if self._fd is None:
                self._fd = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            return self._fd


_OWN_DESCRIPTORS = _OwnDescriptors()


def _link_unnamed(fd: int, final: Path) -> None:
    """Give the O_TMPFILE file `fd` the name `final`: linkat(2) with AT_SYMLINK_FOLLOW of its
    /proc/self/fd entry. os.link makes that call only when given a directory descriptor
    (without one it calls link(2), which does not follow the entry: EXDEV)."""
    os.link(str(fd), final, src_dir_fd=_OWN_DESCRIPTORS.fileno(), follow_symlinks=True)


@dataclass
class WrittenFile:
    """Written whole under its temporary name, or unnamed (tmp None); not durable, and not
    in place, until `place`."""
    fd: int  # -1 once closed
    tmp: Path | None
    final: Path

    @classmethod
    def create(cls, tmp: Path, final: Path, fill: Callable[[int], None]) -> "WrittenFile":
        """`tmp`, created and filled by `fill(fd)`; nothing is left behind if that fails."""
        return cls.filled(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), tmp, final, fill)

    @classmethod
    def filled(cls, fd: int, tmp: Path | None, final: Path, fill: Callable[[int], None]) -> "WrittenFile":
        """The open file `fd` (named `tmp`, or unnamed) filled by `fill(fd)`; closed, and
        nothing left behind, if that fails."""
        written = cls(fd, tmp, final)
        try:
            fill(fd)
        except BaseException:
            written.abandon()
            raise
        return written

    def place(self) -> bool:
        """Make it durable under its final name. True if its directory is durable too; False if
        the caller still owes the directory's fsync. If it fails before the file has its name,
        nothing is left under either name; if the fsync after that fails, the file stays in
        place, perhaps not durable, as when the directory's fsync fails: the caller reports it
        not delivered, and the retry finds it there."""
        # A link cannot replace a file (it fails); a rename can, and without a journal that
        # name is not covered by the file's fsync (journal.py).
        one_commit = names_follow_file(self.final.parent, self.tmp is not None and os.path.lexists(self.final))
        try:
            if one_commit:
                write_back(self.fd)
            else:
                os.fsync(self.fd)
            self._name()
            if one_commit:
                os.fsync(self.fd)  # commits the name with the file (journal.py)
        except BaseException:
            self.abandon()
            raise
        self.close()
        return one_commit

    def _name(self) -> None:
        """Give it its final name: link the unnamed file, or rename the temporary one."""
        if self.tmp is None:
            _link_unnamed(self.fd, self.final)
        else:
            os.rename(self.tmp, self.final)

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def abandon(self) -> None:
        self.close()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


@dataclass
class StagedFile:
    """Content in memory (a memfd), bound for `final` by way of `tmp`.

    The event loop stages a file; the commit helper writes it out and makes it durable
    (commit.py): creating a file waits on the filesystem's journal, which the helper's
    fsyncs keep busy, and the loop must not wait on the disk."""
    fd: int  # -1 once closed
    tmp: Path
    final: Path

    @classmethod
    def create(cls, tmp: Path, final: Path, parts: list[bytes | bytearray]) -> "StagedFile":
        fd = os.memfd_create(final.name, os.MFD_CLOEXEC)
        try:
            write_parts(fd, parts)
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, tmp, final)

    def write_out(self, unnamed: int | None = None) -> WrittenFile:
        """The content as `tmp`, or into the `unnamed` file (open_unnamed) when given, not
        yet durable; the memory is released either way."""
        try:
            if unnamed is None:
                return WrittenFile.create(self.tmp, self.final, lambda fd: copy_fully(self.fd, fd))
            return WrittenFile.filled(unnamed, None, self.final, lambda fd: copy_fully(self.fd, fd))
        finally:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


def write_durably(path: Path, parts: list[bytes | bytearray]) -> None:
    """Atomically replace `path` with the concatenation of `parts`, durable once this returns."""
    if not WrittenFile.create(path.with_name(f".{path.name}.tmp"), path, lambda fd: write_parts(fd, parts)).place():
        DIRECTORIES.changed(path.parent)  # concurrent writers share one fsync of the directory
