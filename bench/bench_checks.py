"""Time of `labctl check` per exercise on a running lab, after a simulated student did the
work (target: at most 1 s per exercise); then time and peak memory of one `labctl check`
of exercise 4 when alumnopop's mailbox holds a lot of mail (--mail-mb, default 300).

    python3 bench/bench_checks.py [--exercises 3 4 ...] [--mail-mb 300]

Prints figures; asserts nothing about speed.
"""
from __future__ import annotations

import argparse
import email.message
import os
import resource
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LABCTL_STATE_DIR", tempfile.mkdtemp(prefix="labctl-bench-state-"))
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "checks"))

from typer.testing import CliRunner  # noqa: E402

from checklab import exercise_lab  # noqa: E402
from labctl.checks import CheckContext  # noqa: E402
from labctl.cli import app  # noqa: E402
from labctl.runtime.engine import client  # noqa: E402
from student import send  # noqa: E402

POP, IMAP, UNO, DOS = "alumnopop@redes.unlp.edu.ar", "alumnoimap@redes.unlp.edu.ar", "uno@otro.unlp.edu.ar", "dos@otro.unlp.edu.ar"
LOGIN = ("alumnopop", "alumnopoppass")
RUNS = 5
BIG_MESSAGE_BYTES = 7_000_000  # 9.5 MB base64-encoded: under the lab's SIZE 10240000


def work(lab) -> None:
    """Enough of the exercise's work that its checks have something to read."""
    mail = lab.ip("mail")
    lab.python(send(mail, POP, IMAP, "trabajo", count=2))
    if lab.exercise == "7":
        lab.python(send(mail, POP, UNO, "a los dos", port=587, login=LOGIN, recipients=[UNO, DOS]))
    if lab.exercise == "8":
        lab.python(send(mail, POP, IMAP, "por el 2525", port=2525, login=LOGIN))
    if lab.exercise == "9":
        lab.python(send(mail, POP, UNO, "por MX", port=587, login=LOGIN))
    lab.student("dig", f"@{lab.ip('dns-redes')}", "TXT", "saludo.redes.unlp.edu.ar")
    time.sleep(3)  # delivery, relay and the capture's buffer


def per_exercise(engine, exercises: list[str]) -> None:
    print(f"{'exercise':>8} {'checks':>6} {'median s':>9} {'max s':>7}")
    for exercise in exercises:
        fixture = exercise_lab(engine, exercise)
        lab = next(fixture)
        try:
            work(lab)
            times = []
            for _ in range(RUNS):
                began = time.perf_counter()
                result = CliRunner().invoke(app, ["check", "--instance", lab.instance, "--json"])
                times.append(time.perf_counter() - began)
                assert result.exit_code in (0, 1), result.output
            checks = result.stdout.count('"status"')
            print(f"{exercise:>8} {checks:>6} {statistics.median(times):>9.3f} {max(times):>7.3f}", flush=True)
        finally:
            fixture.close()


def fill_mailbox(lab, megabytes: int) -> int:
    """Big photos to alumnopop over one SMTP connection from the host; returns bytes sent."""
    photo = b"\xff\xd8\xff\xe0" + os.urandom(BIG_MESSAGE_BYTES)
    sent = 0
    with smtplib.SMTP(lab.ip("mail"), 25, timeout=120) as smtp:
        n = 0
        while sent < megabytes * 1_000_000:
            msg = email.message.EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = IMAP, POP, f"foto {n}"
            msg.set_content("una foto grande")
            msg.add_attachment(photo, maintype="image", subtype="jpeg", filename=f"foto{n}.jpg")
            raw = msg.as_bytes()
            smtp.sendmail(IMAP, [POP], raw)
            sent += len(raw)
            n += 1
    deadline = time.monotonic() + 600
    while len(CheckContext(lab.engine, lab.lab, lab.instance).deliveries(POP)) < n:
        assert time.monotonic() < deadline, "the big messages were not all delivered"
        time.sleep(1)
    return sent


def big_mailbox(engine, megabytes: int) -> None:
    fixture = exercise_lab(engine, "4")
    lab = next(fixture)
    try:
        began = time.perf_counter()
        sent = fill_mailbox(lab, megabytes)
        print(f"\n{sent / 1e6:.0f} MB of mail to alumnopop sent and delivered in {time.perf_counter() - began:.1f} s")
        command = [sys.executable, "-m", "labctl.cli", "check", "--instance", lab.instance, "--json"]
        times = []
        for _ in range(3):
            began = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            times.append(time.perf_counter() - began)
            assert done.returncode in (0, 1), done.stderr
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"labctl check (exercise 4, own process): median {statistics.median(times):.2f} s, "
              f"max {max(times):.2f} s, peak RSS {peak_mb:.0f} MB")
    finally:
        fixture.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exercises", nargs="*", default=["3", "4", "5", "6", "7", "8", "9", "11"])
    parser.add_argument("--mail-mb", type=int, default=300, help="mail in alumnopop's mailbox (0: skip)")
    args = parser.parse_args()
    engine = client()
    per_exercise(engine, args.exercises)
    if args.mail_mb:
        big_mailbox(engine, args.mail_mb)


if __name__ == "__main__":
    main()
