"""What hostile or careless clients cost our MTA: memory per large message, and the AUTH guessing rate.

1. Memory: a fresh server (subprocess) takes one message of --size MiB over
   DATA, once of ordinary 78-character lines and once of empty lines; the
   figure is the growth of the process's peak resident memory (VmHWM) over
   what it had after a small warm-up message, once up to the 250 (taken and
   queued) and once after delivery into a Maildir (the whole server's cost).
2. AUTH: --sessions parallel clients from 127.0.0.1 send wrong AUTH PLAIN
   passwords for --seconds, reconnecting whenever the server ends a session;
   the figure is wrong answers per second, then how long the right password
   takes right after.

    python3 bench/bench_mta_hygiene.py [--size 4] [--sessions 20] [--seconds 10]

Run it from another checkout's root to measure that checkout's server (the
server is started with `python3 -m labctl.mailserver` in the current directory).
Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import base64
import signal
import smtplib
import tempfile
import threading
import time
from pathlib import Path

from bench_mta import RECIPIENT, SENDER, count_delivered, start_own_server, wait_delivered

WRONG = base64.b64encode(b"\0alumnoimap\0wrong").decode()
RIGHT = base64.b64encode(b"\0alumnoimap\0alumnoimappass").decode()


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_growth_mib(body: bytes) -> tuple[float, float]:
    """Growth of the server's peak RSS for one message with `body`: when queued, when delivered."""
    with tempfile.TemporaryDirectory(prefix="bench-mta-hygiene-") as tmp:
        process, port, maildir = start_own_server(Path(tmp))
        try:
            client = smtplib.SMTP("127.0.0.1", port, timeout=120)
            client.sendmail(SENDER, [RECIPIENT], b"Subject: warm-up\r\n\r\nx\r\n")
            wait_delivered(lambda: count_delivered(maildir), 1, 30)
            before = memory_kib(process.pid, "VmHWM")
            client.sendmail(SENDER, [RECIPIENT], b"Subject: big\r\n\r\n" + body)
            queued = memory_kib(process.pid, "VmHWM")  # delivery may have begun: an upper bound
            client.quit()
            wait_delivered(lambda: count_delivered(maildir), 2, 120)
            return (queued - before) / 1024, (memory_kib(process.pid, "VmHWM") - before) / 1024
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(10)


def auth_guessing(sessions: int, seconds: float) -> tuple[float, float]:
    """(wrong answers per second over `seconds`, seconds the right password then takes)."""
    with tempfile.TemporaryDirectory(prefix="bench-mta-hygiene-") as tmp:
        process, port, _ = start_own_server(Path(tmp), kind="msa")
        answered = []
        deadline = time.monotonic() + seconds

        def guess() -> None:
            # A guesser reconnects when the server ends the session (20 errors: 421), and does
            # not wait for answers queued past the deadline: the socket times out there.
            while time.monotonic() < deadline:
                try:
                    client = smtplib.SMTP("127.0.0.1", port, timeout=max(0.1, deadline - time.monotonic()) + 1)
                    client.ehlo("bench")
                    while time.monotonic() < deadline and client.docmd("AUTH", f"PLAIN {WRONG}")[0] == 535:
                        answered.append(time.monotonic())
                    client.close()
                except (OSError, smtplib.SMTPException):
                    continue

        try:
            threads = [threading.Thread(target=guess) for _ in range(sessions)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            rate = len([t for t in answered if t <= started + seconds]) / seconds
            client = smtplib.SMTP("127.0.0.1", port, timeout=60)
            client.ehlo("bench")
            begin = time.monotonic()
            code = client.docmd("AUTH", f"PLAIN {RIGHT}")[0]
            took = time.monotonic() - begin
            client.close()
            assert code == 235, code
            return rate, took
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=4, help="message size in MiB")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    size = int(args.size * 1024 * 1024)
    text_line, empty_line = b"x" * 76 + b"\r\n", b"\r\n"
    for label, line in (("78-octet lines", text_line), ("empty lines", empty_line)):
        queued, delivered = peak_growth_mib(line * (size // len(line)))
        print(f"peak RSS growth, one {args.size:g} MiB message of {label:<14}: "
              f"{queued:6.1f} MiB when queued, {delivered:6.1f} MiB once delivered")
    rate, took = auth_guessing(args.sessions, args.seconds)
    print(f"wrong AUTH answers per second, {args.sessions} sessions from one address: {rate:.1f}")
    print(f"right password right after: answered in {took * 1000:.0f} ms")


if __name__ == "__main__":
    main()
