"""Time of `labctl check` per exercise on a running lab, after a simulated student did the
work. Target: at most 1 s per exercise. Run: python3 bench/bench_checks.py"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LABCTL_STATE_DIR", tempfile.mkdtemp(prefix="labctl-bench-state-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "checks"))

from typer.testing import CliRunner  # noqa: E402

from checklab import exercise_lab  # noqa: E402
from labctl.cli import app  # noqa: E402
from labctl.runtime.engine import client  # noqa: E402
from student import send  # noqa: E402

POP, IMAP, UNO, DOS = "alumnopop@redes.unlp.edu.ar", "alumnoimap@redes.unlp.edu.ar", "uno@otro.unlp.edu.ar", "dos@otro.unlp.edu.ar"
LOGIN = ("alumnopop", "alumnopoppass")
RUNS = 5


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


def main() -> None:
    engine = client()
    print(f"{'exercise':>8} {'checks':>6} {'median s':>9} {'max s':>7}")
    for exercise in ("3", "4", "5", "6", "7", "8", "9", "11"):
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


if __name__ == "__main__":
    main()
