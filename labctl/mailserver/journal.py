"""Where a file's own fsync also makes its new name durable, and how to use that safely.

On ext4 with a journal, and on XFS, linking or renaming a file changes the file's
inode in the same journal transaction as the directory entry, and fsync of the
file commits that transaction: one journal commit instead of two (the file's,
then the directory's). It takes one precaution: the data must reach the disk
before the name can, or a commit made meanwhile by anyone (the periodic one,
another file's fsync) could record the name of a file whose blocks are not yet
allocated, and a crash would leave an empty message. `write_back` does that
first, without a commit of its own. Elsewhere (ext4 without a journal, as on
some cloud VMs; tmpfs, overlayfs, btrfs, NFS...) the directory is fsynced as
before.
"""
from __future__ import annotations

import ctypes
import errno
import os
from functools import lru_cache
from pathlib import Path

# statfs(2) f_type of the filesystems whose journaling is described above.
EXT4_SUPER_MAGIC = 0xEF53  # also ext2/ext3 mounted by the ext4 driver
XFS_SUPER_MAGIC = 0x58465342  # always logs its metadata
JBD2_JOURNALS = Path("/proc/fs/jbd2")  # one entry, "<device>-<journal inode>", per ext4 journal
SYS_BLOCK_DEVICES = Path("/sys/dev/block")  # "<major>:<minor>" -> the device's sysfs folder

_SYNC_FILE_RANGE_WAIT_BEFORE, _SYNC_FILE_RANGE_WRITE, _SYNC_FILE_RANGE_WAIT_AFTER = 1, 2, 4

_libc = ctypes.CDLL(None, use_errno=True)
_libc.statfs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
_libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]


def filesystem_type(path: Path) -> int:
    """statfs(2)'s f_type for `path` (the os module has only statvfs, which lacks it)."""
    buffer = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux
    if _libc.statfs(os.fsencode(path), buffer) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(path))
    return ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF  # f_type is the first field


@lru_cache(maxsize=256)
def names_follow_file(directory: Path) -> bool:
    """True if a name linked or renamed into `directory` is durable once the file is fsynced."""
    try:
        kind = filesystem_type(directory)
        if kind == XFS_SUPER_MAGIC:
            return True
        return kind == EXT4_SUPER_MAGIC and _has_jbd2_journal(os.stat(directory).st_dev)
    except OSError:
        return False


def _has_jbd2_journal(device: int) -> bool:
    name = (SYS_BLOCK_DEVICES / f"{os.major(device)}:{os.minor(device)}").resolve().name
    return any(entry.name.rpartition("-")[0] == name for entry in JBD2_JOURNALS.iterdir())


def write_back(fd: int) -> None:
    """Write the file's data to the disk and wait for it, without committing the journal:
    its blocks are allocated, and written, before any commit can carry a name for it."""
    flags = _SYNC_FILE_RANGE_WAIT_BEFORE | _SYNC_FILE_RANGE_WRITE | _SYNC_FILE_RANGE_WAIT_AFTER
    if _libc.sync_file_range(fd, 0, 0, flags) != 0:
        code = ctypes.get_errno() or errno.EIO
        raise OSError(code, os.strerror(code))
