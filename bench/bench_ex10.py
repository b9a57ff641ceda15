"""Exercise 10 (its own network of 15 containers, 7 of them BIND): cold
`labctl up --exercise 10` until every service answers (target <= 10 s, images
present), `labctl check --exercise 10` on a fresh and on a solved lab (target
<= 2 s), `labctl apply`, and the running lab's memory (target <= 400 MB).

    python3 bench/bench_ex10.py [--runs 3]

Prints figures; asserts nothing about speed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LABCTL_STATE_DIR", tempfile.mkdtemp(prefix="labctl-bench-state-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "checks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lab import lab_rss_mb  # noqa: E402
from ex10student import INSTANCE, Student, ex10_lab  # noqa: E402
from labctl.checks.runner import run_checks  # noqa: E402
from labctl.runtime import project  # noqa: E402
from labctl.runtime.engine import client  # noqa: E402

RIGHT_OPTIONS = "recursion no;\n"


def timed(fn) -> float:
    began = time.monotonic()
    fn()
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    engine = client()
    figures: dict[str, list[float]] = {"up": [], "check fresh": [], "apply": [], "check solved": [], "memory MB": [], "down": []}
    for _ in range(args.runs):
        project.down(engine, INSTANCE, purge=True)
        runs = ex10_lab(engine)
        began = time.monotonic()
        ex = next(runs)  # up, until every service answers
        figures["up"].append(time.monotonic() - began)
        origin = project.Origin.load(INSTANCE).lab
        figures["check fresh"].append(run_checks(engine, origin, INSTANCE, "10").seconds)
        student = Student(ex)
        for server in ("ns1", "ns2"):
            student.write(f"{server}/named.conf.options", RIGHT_OPTIONS)
        student.write(f"ns1/db.{student.domain}", student.zone(2024040101))
        student.write("ns1/named.conf.local", student.primary_zone_conf())
        student.write("ns2/named.conf.local", student.secondary_zone_conf())
        figures["apply"].append(timed(student.applied))
        student.register("ns1", "ns2")
        time.sleep(1)  # the secondary's transfer
        report = run_checks(engine, origin, INSTANCE, "10")
        figures["check solved"].append(report.seconds)
        time.sleep(1)
        figures["memory MB"].append(lab_rss_mb(engine, INSTANCE))
        containers = len(project.status(engine, INSTANCE))
        figures["down"].append(timed(lambda: next(runs, None)))
        solved = sorted(r.id for r in report.results if r.status.value == "pass")
    print(f"exercise 10: {containers} containers, {args.runs} runs, median (min-max)")
    for name, values in figures.items():
        print(f"  {name:13} {statistics.median(values):7.2f}  ({min(values):.2f}-{max(values):.2f})")
    print(f"  passing on the solved lab: {', '.join(solved)}")


if __name__ == "__main__":
    main()
