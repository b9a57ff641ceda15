"""Group commit of directory fsyncs: every caller returns only after an fsync that began
after its change, and concurrent callers share fsyncs."""
from __future__ import annotations

import threading
import time

from labctl.mailserver import dirsync


def test_each_change_is_covered_by_an_fsync_begun_after_it(tmp_path, monkeypatch):
    syncs: list[tuple[float, float]] = []  # (began, ended) of each real fsync
    real = dirsync.fsync_dir

    def slow_fsync(path):
        began = time.monotonic()
        time.sleep(0.02)  # a disk flush: long enough for others to pile up behind it
        real(path)
        syncs.append((began, time.monotonic()))

    monkeypatch.setattr(dirsync, "fsync_dir", slow_fsync)
    shared = dirsync.DirectorySync()
    covered: list[bool] = []

    def writer(n: int) -> None:
        (tmp_path / f"f{n}").write_bytes(b"x")
        changed = time.monotonic()
        shared.changed(tmp_path)
        returned = time.monotonic()
        covered.append(any(changed <= began and ended <= returned for began, ended in syncs))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert covered == [True] * 20
    assert 1 <= len(syncs) < 20  # shared: far fewer fsyncs than changes


def test_a_failed_fsync_fails_its_caller_and_the_next_one_tries_again(tmp_path, monkeypatch):
    calls = []

    def failing_once(path):
        calls.append(path)
        if len(calls) == 1:
            raise OSError(5, "I/O error")

    monkeypatch.setattr(dirsync, "fsync_dir", failing_once)
    shared = dirsync.DirectorySync()
    try:
        shared.changed(tmp_path)
    except OSError:
        pass
    else:
        raise AssertionError("the failed fsync was not reported")
    shared.changed(tmp_path)
    assert calls == [tmp_path, tmp_path]
