"""Two figures of issue 9, on a real lab (practica4 moved to its own subnet):

  drops   packets the capture sidecar lost under a burst of concurrent SMTP sessions
          (tcpdump's own "dropped by kernel" count, as the sidecar records it when it stops);
  delay   seconds until the right POP3 password is accepted after five wrong ones
          from the same address (every Thunderbird of the course is the host gateway).

    LABCTL_IMAGE_TAG=... python3 bench/bench_wire_limits.py [--sessions 60] [--kib 64]

Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import poplib
import smtplib
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("LABCTL_STATE_DIR", tempfile.mkdtemp(prefix="labctl-bench-state-"))

from labctl.capture.files import CaptureStats, capture_stats, lab_capture_files  # noqa: E402
from labctl.render.plan import CAPTURE_SERVICE  # noqa: E402
from labctl.runtime import containers as ctr  # noqa: E402
from labctl.runtime import project  # noqa: E402
from labctl.runtime.engine import client  # noqa: E402
from labctl.spec.loader import load_lab  # noqa: E402

INSTANCE = "bench-wire"
SUBNET = "172.31.232.0/24"
MAIL = "172.31.232.90"
SENDER, RCPT = "alumnopop@redes.unlp.edu.ar", "alumnoimap@redes.unlp.edu.ar"


def burst(sessions: int, kib: int) -> None:
    body = ("x" * 76 + "\r\n") * (kib * 1024 // 78)

    def one(i: int) -> None:
        with smtplib.SMTP(MAIL, 25, timeout=60) as smtp:
            smtp.sendmail(SENDER, [RCPT], f"Subject: burst {i}\r\n\r\n{body}".encode())

    # At most 40 at once: the MTA refuses more than 50 sessions per client, as Postfix does.
    with ThreadPoolExecutor(max_workers=min(sessions, 40)) as pool:
        list(pool.map(one, range(sessions)))


def tcpdump_stats(engine) -> CaptureStats:
    """tcpdump's final counters, written beside the capture files when it stops."""
    ctr.find_containers(engine, INSTANCE)[CAPTURE_SERVICE].stop(timeout=10)
    return capture_stats(lab_capture_files(INSTANCE)[-1])


def right_password_after_wrong_ones(wrong: int = 5) -> float:
    """Each typo differs (a repeated wrong password does not raise Dovecot's penalty)."""
    for typo in range(wrong):
        pop = poplib.POP3(MAIL, 110, timeout=60)
        pop.user("alumnopop")
        try:
            pop.pass_(f"typo{typo}")
        except poplib.error_proto:
            pass
        pop.quit()
    began = time.monotonic()
    pop = poplib.POP3(MAIL, 110, timeout=60)
    pop.user("alumnopop")
    pop.pass_("alumnopoppass")
    pop.quit()
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--kib", type=int, default=64)
    args = parser.parse_args()
    engine = client()
    lab = load_lab("practica4", None, SUBNET)
    project.down(engine, INSTANCE)
    project.up(engine, lab, INSTANCE)
    try:
        began = time.monotonic()
        burst(args.sessions, args.kib)
        print(f"burst: {args.sessions} SMTP sessions of {args.kib} KiB in {time.monotonic() - began:.1f} s")
        time.sleep(1)  # the last packets reach tcpdump
        stats = tcpdump_stats(engine)
        print(f"capture: {stats.received} packets received by filter, {stats.dropped} dropped by kernel")
        print(f"right POP3 password after 5 wrong ones: {right_password_after_wrong_ones():.2f} s")
    finally:
        project.down(engine, INSTANCE)


if __name__ == "__main__":
    main()
