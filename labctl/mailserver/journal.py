"""Where a file's own fsync also makes its new name durable, and how to use that safely.

On ext4 with a journal, and on XFS, linking or renaming a file changes the file's
inode in the same journal transaction as the directory entry, and fsync of the
file commits that transaction: one journal commit instead of two (the file's,
then the directory's). On ext4 without a journal (as on this project's VMs and the
Docker volumes on them) a name that did not exist before is covered too: the
driver marks a file it has just added to a directory (EXT4_STATE_NEWENTRY, set by
ext4_add_entry for create, link and rename alike), and fsync of such a file writes
that directory's blocks and inode, and those of any new directory above it, before
its one cache flush (ext4_sync_parent in fs/ext4/fsync.c): one flush instead of two.
A name that replaced another (rename over an existing file) is not marked there, so
its directory is still fsynced.

It takes one precaution: the data must reach the disk before the name can, or a
commit made meanwhile by anyone (the periodic one, another file's fsync; without a
journal, the writeback of the directory's block) could record the name of a file
whose blocks are not yet allocated, and a crash would leave an empty message.
`write_back` does that first, without a commit or a flush of its own. Elsewhere
(tmpfs, overlayfs, btrfs, NFS, ext2's own driver...) the directory is fsynced as before.
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
EXT4_MOUNTS = Path("/proc/fs/ext4")  # one entry, "<device>", per filesystem the ext4 driver mounts
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
def names_follow_file(directory: Path, replacing: bool = False) -> bool:
    """True if a name linked or renamed into `directory` is durable once the file is fsynced;
    `replacing`: the name is that of an existing file, which the rename replaces."""
    try:
        kind = filesystem_type(directory)
        if kind == XFS_SUPER_MAGIC:
            return True
        if kind != EXT4_SUPER_MAGIC:
            return False
        device = _device_name(os.stat(directory).st_dev)
        if not (EXT4_MOUNTS / device).is_dir():
            return False  # the same magic number, but ext2's driver (or no /proc to tell)
        return not replacing or any(entry.name.rpartition("-")[0] == device for entry in JBD2_JOURNALS.iterdir())
    except OSError:
        return False


def _device_name(device: int) -> str:
    return (SYS_BLOCK_DEVICES / f"{os.major(device)}:{os.minor(device)}").resolve().name


def write_back(fd: int) -> None:
    """Write the file's data to the disk and wait for it, without committing the journal:
    its blocks are allocated, and written, before any commit can carry a name for it."""
    flags = _SYNC_FILE_RANGE_WAIT_BEFORE | _SYNC_FILE_RANGE_WRITE | _SYNC_FILE_RANGE_WAIT_AFTER
    if _libc.sync_file_range(fd, 0, 0, flags) != 0:
        code = ctypes.get_errno() or errno.EIO
        raise OSError(code, os.strerror(code))
