"""One change at a time per lab instance, and changes that signals cannot cut in half.

`instance_lock` is an flock on a file in the instance's state folder: a second
`up` (or `down`, `reset`) of the same instance waits for the first and then
finds the lab as the first left it. SIGTERM is turned into the same exception
as Ctrl-C, so both end in `up`'s rollback; during the rollback both are held
back until it is done.
"""
from __future__ import annotations

import contextlib
import fcntl
import signal
import threading
from typing import Iterator

from labctl.paths import lab_state_dir

LOCK_FILE = ".lock"
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def instance_lock(instance: str) -> Iterator[None]:
    directory = lab_state_dir(instance)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, even on kill -9
        yield


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
