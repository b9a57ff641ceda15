"""Wait on the event, not the clock: until the lab's capture holds a client's words."""
from __future__ import annotations

import time

from labctl.capture import TcpStream, lab_capture_files, load_capture


def wait_for_stream(instance: str, *said: bytes, timeout: float = 15.0) -> TcpStream:
    """The first TCP stream of the instance's capture in which the client sent every
    one of `said` (e.g. b"RETR", b"QUIT": a POP3 download that ended)."""
    deadline = time.monotonic() + timeout
    while True:
        capture = load_capture(lab_capture_files(instance))
        found = [s for s in capture.streams if all(word in s.client_bytes() for word in said)]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no stream of {instance}'s capture in which the client sent {said} within {timeout:.0f} s")
        time.sleep(0.1)
