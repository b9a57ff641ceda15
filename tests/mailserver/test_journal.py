"""Where a file's fsync also makes its new name durable (ext4 with or without a journal, XFS), a
message is written back, named, and then fsynced, with no fsync of its directory; elsewhere
(tmpfs..., and a rename over an existing file on ext4 without a journal) the directory is still
fsynced."""
from __future__ import annotations

import os
import stat as stat_module
import subprocess
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from labctl.mailserver import durable, journal
from labctl.mailserver.commit import SpareFiles, commit_batch
from labctl.mailserver.durable import write_durably
from labctl.mailserver.maildir import stage


def stat_says(path: Path, field: str) -> str:
    return subprocess.run(["stat", "-f", "-c", field, str(path)], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("path", ["tmp", "/dev/shm", "/proc", "/"])
def test_the_filesystem_type_is_the_one_coreutils_stat_reports(path, tmp_path):
    where = tmp_path if path == "tmp" else Path(path)
    assert journal.filesystem_type(where) == int(stat_says(where, "%t"), 16)


@contextmanager
def mounted_ext4(image: Path, mountpoint: Path, *mkfs_options: str):
    """A fresh ext4 filesystem in `image`, loop-mounted on `mountpoint`; its loop device's name."""
    subprocess.run(["truncate", "-s", "64M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", *mkfs_options, str(image)], check=True)
    mountpoint.mkdir()
    subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], check=True)
    try:
        source = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(mountpoint)], capture_output=True, text=True,
                                check=True).stdout.strip()
        yield Path(source).name
    finally:
        # Lazily: a file a failed test left open must not leave the mount behind (the loop
        # device, mounted with autoclear, goes with it).
        subprocess.run(["umount", "--lazy", str(mountpoint)], check=True)


def journal_commits(device: str) -> int:
    [info] = Path("/proc/fs/jbd2").glob(f"{device}-*/info")
    return int(info.read_text().split()[0])  # "<n> transactions (<m> requested), ..."


def test_on_ext4_with_a_journal_a_message_costs_one_journal_commit(tmp_path):
    with mounted_ext4(tmp_path / "fs.img", tmp_path / "fs") as device:
        maildir = tmp_path / "fs" / "Maildir"
        for sub in ("tmp", "new"):
            (maildir / sub).mkdir(parents=True)
        assert journal.names_follow_file(maildir / "new")
        spares = SpareFiles()
        with ThreadPoolExecutor(2) as pool:
            before = journal_commits(device)
            for n in range(20):  # each alone, as at one client: no batch shares a commit
                assert commit_batch([(n, [stage(maildir, f"m{n}", b"Subject: x\r\n\r\nbody\r\n")])], pool,
                                    spares) == [[n, [None]]]
                if n < 19:  # (a file made ahead and left open would keep the filesystem busy)
                    spares.refill()
            commits = journal_commits(device) - before
        assert len(list((maildir / "new").iterdir())) == 20
    assert 20 <= commits <= 21  # (the periodic commit may add one); two per message before


def block_device_flushes(device: str) -> int:
    return int(Path(f"/sys/block/{device}/stat").read_text().split()[15])  # flush requests completed


def on_the_disk(image: Path, path: str, copy: Path) -> str | None:
    """What the disk itself holds at `path` (inside the filesystem), as a power cut now would
    leave it: the loop device's backing file as the device has written it (not read through the
    device, whose page cache would first write out what the filesystem has only in memory), the
    file read from that copy by debugfs; None if the name is not there."""
    copy.write_bytes(image.read_bytes())
    found = subprocess.run(["debugfs", "-R", f"cat {path}", str(copy)], capture_output=True, text=True)
    return None if "not found" in found.stderr else found.stdout


def test_on_ext4_without_a_journal_a_message_costs_one_flush_and_is_on_the_disk_under_its_name(tmp_path):
    with mounted_ext4(tmp_path / "fs.img", tmp_path / "fs", "-O", "^has_journal") as device:
        assert device not in {entry.name.rpartition("-")[0] for entry in journal.JBD2_JOURNALS.iterdir()}
        maildir = tmp_path / "fs" / "Maildir"
        for sub in ("tmp", "new"):  # new directories too: their own entries go with the first message
            (maildir / sub).mkdir(parents=True)
        assert journal.names_follow_file(maildir / "new")
        spares = SpareFiles()
        with ThreadPoolExecutor(2) as pool:
            before = block_device_flushes(device)
            for n in range(10):  # each alone, as at one client
                assert commit_batch([(n, [stage(maildir, f"m{n}", f"Subject: {n}\r\n\r\nbody\r\n".encode())])],
                                    pool, spares) == [[n, [None]]]
                if n % 2 and n < 9:  # the even ones from the third on by way of a file made ahead (linked), the
                    # others renamed; none left open after the last (it would keep the filesystem mounted)
                    spares.refill()
            flushes = block_device_flushes(device) - before
            for n in range(10):
                assert on_the_disk(tmp_path / "fs.img", f"/Maildir/new/m{n}", tmp_path / "disk.img") == f"Subject: {n}\n\nbody\n"
            # The near miss: a name given with no fsync is not on the disk yet (what the check above would see).
            (maildir / "new" / "unsynced").write_bytes(b"x")
            assert on_the_disk(tmp_path / "fs.img", "/Maildir/new/unsynced", tmp_path / "disk.img") is None
        assert flushes == 10  # two per message (the file's, then the directory's) before


def test_ext4_without_a_journal_fsyncs_the_directory_of_a_replaced_file(tmp_path, monkeypatch):
    with mounted_ext4(tmp_path / "fs.img", tmp_path / "fs", "-O", "^has_journal"):
        assert journal.filesystem_type(tmp_path / "fs") == journal.EXT4_SUPER_MAGIC
        assert journal.names_follow_file(tmp_path / "fs")
        assert not journal.names_follow_file(tmp_path / "fs", replacing=True)
        path = tmp_path / "fs" / "id.state"
        write_durably(path, [b"first"])
        calls = record_durability_calls(monkeypatch, tmp_path / "fs" / ".id.state.tmp")
        write_durably(path, [b"second"])
        assert path.read_bytes() == b"second"
        assert calls == [("fsync file", True), ("fsync dir", False)]


def test_with_a_journal_a_replaced_file_needs_no_directory_fsync(tmp_path):
    with mounted_ext4(tmp_path / "fs.img", tmp_path / "fs"):
        assert journal.names_follow_file(tmp_path / "fs", replacing=True)


def test_tmpfs_and_missing_directories_keep_the_directory_fsync(tmp_path):
    assert not journal.names_follow_file(Path("/dev/shm"))
    assert not journal.names_follow_file(tmp_path / "no such directory")


def test_ext2s_own_driver_keeps_the_directory_fsync(tmp_path, monkeypatch):
    """ext2 has ext4's magic number but not its fsync: only what /proc/fs/ext4 lists counts."""
    monkeypatch.setattr(journal, "EXT4_MOUNTS", tmp_path / "no ext4 mounts")
    assert journal.filesystem_type(tmp_path) == journal.EXT4_SUPER_MAGIC
    assert not journal.names_follow_file(tmp_path)


def test_write_back_fails_loudly_on_a_bad_descriptor(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    os.close(fd)
    with pytest.raises(OSError):
        journal.write_back(fd)


def record_durability_calls(monkeypatch, final: Path) -> list[tuple[str, bool]]:
    """Every write-back, file fsync and directory fsync, each with whether `final` had its name yet."""
    calls: list[tuple[str, bool]] = []
    real_fsync, real_write_back = os.fsync, durable.write_back

    def fsync(fd):
        kind = "fsync dir" if stat_module.S_ISDIR(os.fstat(fd).st_mode) else "fsync file"
        calls.append((kind, final.exists()))
        real_fsync(fd)

    def write_back(fd):
        calls.append(("write back", final.exists()))
        real_write_back(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(durable, "write_back", write_back)
    return calls


@pytest.mark.parametrize("made_ahead", [False, True], ids=["renamed", "linked"])
@pytest.mark.parametrize("journaled", [True, False], ids=["ext4-or-xfs", "other"])
def test_a_message_is_named_only_once_its_data_is_on_disk(journaled, made_ahead, tmp_path, monkeypatch):
    maildir = tmp_path / "Maildir"
    for sub in ("tmp", "new"):
        (maildir / sub).mkdir(parents=True)
    monkeypatch.setattr(durable, "names_follow_file", lambda directory, replacing=False: journaled)
    spares = SpareFiles()
    with ThreadPoolExecutor(2) as pool:
        if made_ahead:  # the first message leaves an unnamed file ready for the second
            assert commit_batch([(1, [stage(maildir, "first", b"first\r\n")])], pool, spares) == [[1, [None]]]
            spares.refill()
        calls = record_durability_calls(monkeypatch, maildir / "new" / "two")
        assert commit_batch([(2, [stage(maildir, "two", b"Subject: two\r\n\r\nbody\r\n")])], pool, spares) == [[2, [None]]]
    assert (maildir / "new" / "two").read_bytes() == b"Subject: two\n\nbody\n"
    if journaled:  # one journal commit, by the file's fsync, after the name and its data
        assert calls == [("write back", False), ("fsync file", True)]
    else:  # the file's fsync, then its name, then the directory's fsync
        assert calls == [("fsync file", False), ("fsync dir", True)]


@pytest.mark.parametrize("journaled", [True, False])
def test_spool_files_are_replaced_the_same_way(journaled, tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    path.write_bytes(b"old")
    monkeypatch.setattr(durable, "names_follow_file", lambda directory, replacing=False: journaled)
    calls = record_durability_calls(monkeypatch, tmp_path / ".state.json.tmp")
    write_durably(path, [b"new ", b"state"])
    assert path.read_bytes() == b"new state" and not (tmp_path / ".state.json.tmp").exists()
    # (the temporary name exists until the rename: True before, False after)
    if journaled:
        assert calls == [("write back", True), ("fsync file", False)]
    else:
        assert calls == [("fsync file", True), ("fsync dir", False)]


def test_a_failed_fsync_after_the_name_is_reported_and_the_file_stays_for_the_retry(tmp_path, monkeypatch):
    maildir = tmp_path / "Maildir"
    for sub in ("tmp", "new"):
        (maildir / sub).mkdir(parents=True)
    monkeypatch.setattr(durable, "names_follow_file", lambda directory, replacing=False: True)

    def failing_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with ThreadPoolExecutor(2) as pool:
        [[_, [error]]] = commit_batch([(1, [stage(maildir, "one", b"one\r\n")])], pool, SpareFiles())
    # Not acknowledged: the session queues it, and the queue's retry finds it in new/ (maildir.deliver).
    assert error[0] == 5
    assert (maildir / "new" / "one").read_bytes() == b"one\n" and not list((maildir / "tmp").iterdir())
