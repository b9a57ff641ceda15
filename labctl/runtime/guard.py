"""One change at a time per lab instance, and changes that signals cannot cut in half.

`instance_lock` is an flock on a file in the instance's state folder: a second
`up` (or `down`, `reset`) of the same instance waits for the first and then
finds the lab as the first left it. A folder that holds nothing but the lock
when the change is done goes with it (a `down` of a lab that never existed
leaves nothing behind). SIGTERM is turned into the same exception
as Ctrl-C, so both end in `up`'s rollback; during the rollback both are held
back until it is done.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import IO, Iterator

from labctl.paths import lab_state_dir

LOCK_FILE = ".lock"
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def instance_lock(instance: str) -> Iterator[bool]:
    """Hold the instance's lock; yields whether the instance had no state folder before."""
    directory = lab_state_dir(instance)
    handle, new = _locked(directory)
    try:
        yield new
    finally:
        try:
            _remove_if_only_the_lock(directory)
        finally:
            handle.close()  # the lock goes with the file, even on kill -9


def _locked(directory: Path) -> tuple[IO, bool]:
    """The lock file, opened and locked, and whether the folder was made for it. A holder
    may remove the folder (an empty one, or `down --purge`) while others wait for the lock:
    a waiter then holds the lock of a file no longer there, and locks anew."""
    while True:
        new = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        try:
            handle = open(directory / LOCK_FILE, "a")
        except FileNotFoundError:
            continue  # the folder went between mkdir and open
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if os.stat(directory / LOCK_FILE).st_ino == os.fstat(handle.fileno()).st_ino:
                return handle, new
        except FileNotFoundError:
            pass
        handle.close()


def clear_state(instance: str) -> None:
    """Called with the lock held: everything in the instance's state folder but the lock
    (which then goes with the folder when the lock is released)."""
    for entry in lab_state_dir(instance).iterdir():
        if entry.name != LOCK_FILE:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _remove_if_only_the_lock(directory: Path) -> None:
    """Called with the lock held: a state folder with nothing in it but the lock goes."""
    try:
        if [entry.name for entry in directory.iterdir()] != [LOCK_FILE]:
            return
        (directory / LOCK_FILE).unlink()
        directory.rmdir()
    except OSError:
        pass  # already gone (--purge), or another process's lock file appeared meanwhile


def _in_main_thread() -> bool:
    # Signal handlers and masks belong to the main thread (class mode may run ups in threads).
    return threading.current_thread() is threading.main_thread()


def _interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C or SIGTERM during the block take effect after it."""
    if not _in_main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
