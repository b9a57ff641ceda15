"""Group commit of directory fsyncs.

A file renamed into a directory is durable once the directory is fsynced. When
several sessions (or deliveries) rename into one directory at the same time,
one fsync that starts after all their renames covers them all: each caller
waits for such an fsync instead of issuing its own. A caller alone pays one
fsync, as before; under load the directory is synced once per batch.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Directory:
    __slots__ = ("changes", "synced", "lock")

    def __init__(self) -> None:
        self.changes = 0  # changes announced so far (each after its rename returned)
        self.synced = 0  # every change up to this number is covered by a completed fsync
        self.lock = threading.Lock()  # one fsync of this directory at a time


class DirectorySync:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._directories: dict[Path, _Directory] = {}

    def changed(self, path: Path) -> None:
        """The caller has just renamed or created an entry in `path`: return once an
        fsync of `path` that began after that change has completed."""
        with self._guard:
            directory = self._directories.get(path)
            if directory is None:
                directory = self._directories[path] = _Directory()
            directory.changes += 1
            ticket = directory.changes
        with directory.lock:
            if directory.synced >= ticket:
                return  # an fsync that started after our change has covered it
            with self._guard:
                covered = directory.changes  # every change counted here was made before this fsync
            fsync_dir(path)
            directory.synced = covered


# One per process: every writer of a directory must share it to share its fsyncs.
DIRECTORIES = DirectorySync()
