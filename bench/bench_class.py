"""Benchmark: a class of N labs (exercise 4) the class way (`labctl class up/grade/
reset/down`) side by side with an instructor's hand loop (`labctl up --instance …
--subnet …`, `check`, `reset`, `down`, 4 commands at a time), in the same run:
time to bring N labs up, grade them, reset one, take them down, and memory per lab.

    python3 bench/bench_class.py [--students 10] [--parallel 4] [--exercise 4] [--only class|hand]

Every command is the CLI as a user runs it (a new process each). Prints figures;
asserts nothing about speed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_lab import lab_rss_mb

from labctl.runtime.engine import client

HAND_NET = "10.141.{n}.0/24"
CLASS_POOL = "10.142.0.0/16"
# Names of this run's labs: a network the engine once refused to remove (see
# runtime.project.up) stays until dockerd restarts and must not stop the next run.
RUN = f"{os.getpid() % 10000}"
CLASS = f"bench{RUN}"


# What went wrong in a step that still ran to its end (printed after the figures).
NOTES: list[str] = []


def labctl(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "labctl.cli", *args], capture_output=True, text=True)
    if done.returncode not in (0, 1) or (done.returncode == 1 and args[0] != "check"):
        failure = f"labctl {' '.join(args)} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-400:]}"
        if "down" not in args:
            raise SystemExit(failure)
        # A down that the engine refused for one network (runtime.project) still took
        # everything else down: the figure stands, the note says what was left.
        NOTES.append(failure)


def timed(work) -> float:
    began = time.monotonic()
    work()
    return time.monotonic() - began


def in_parallel(parallel: int, fn, items) -> None:
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(fn, items))


def memory_per_lab(instances: list[str]) -> float:
    engine = client()
    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(lambda i: lab_rss_mb(engine, i), instances)) / len(instances)


def hand_loop(n: int, parallel: int, exercise: str) -> dict[str, float]:
    names = [f"hand{RUN}-{i:03d}" for i in range(n)]
    up = lambda i: labctl("up", "practica4", "--exercise", exercise, "--instance", names[i], "--subnet", HAND_NET.format(n=i))
    figures = {"up": timed(lambda: in_parallel(parallel, up, range(n)))}
    time.sleep(2)  # let the services settle before reading memory
    figures["MiB per lab"] = memory_per_lab(names)
    figures["grade"] = timed(lambda: in_parallel(parallel, lambda name: labctl("check", "--instance", name, "--json"), names))
    figures["reset one"] = timed(lambda: labctl("reset", "--instance", names[0]))
    figures["down"] = timed(lambda: in_parallel(parallel, lambda name: labctl("down", "--instance", name, "--purge"), names))
    return figures


def class_mode(n: int, parallel: int, exercise: str, workdir: Path) -> dict[str, float]:
    roster = workdir / "bench.csv"
    roster.write_text("id\n" + "".join(f"s{i:03d}\n" for i in range(n)), encoding="utf-8")
    figures = {"up": timed(lambda: labctl("class", "up", str(roster), "--exercise", exercise, "--pool", CLASS_POOL,
                                          "--name", CLASS, "--parallel", str(parallel)))}
    time.sleep(2)
    figures["MiB per lab"] = memory_per_lab([f"{CLASS}-s{i:03d}" for i in range(n)])
    figures["grade"] = timed(lambda: labctl("class", "grade", "--name", CLASS, "--parallel", str(parallel)))
    figures["reset one"] = timed(lambda: labctl("class", "reset", "s000", "--name", CLASS))
    figures["down"] = timed(lambda: labctl("class", "down", "--name", CLASS, "--purge", "--parallel", str(parallel)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--exercise", default="4")
    parser.add_argument("--only", choices=["class", "hand"], help="one side only (while tuning; the comparison wants both)")
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        # The bench's labs and class record live apart from the user's own.
        os.environ["LABCTL_STATE_DIR"] = tmp
        if args.only in (None, "hand"):
            figures["hand loop"] = hand_loop(args.students, args.parallel, args.exercise)
        if args.only in (None, "class"):
            figures["class"] = class_mode(args.students, args.parallel, args.exercise, Path(tmp))
    print(f"{args.students} labs of exercise {args.exercise}, {args.parallel} at a time, {os.cpu_count()} cores")
    print(f"{'':14}" + "".join(f"{side:>12}" for side in figures))
    for key in next(iter(figures.values())):
        unit = "" if key == "MiB per lab" else " s"
        print(f"{key:14}" + "".join(f"{side[key]:>10.1f}{unit:2}" for side in figures.values()))
    print(f"{'per lab up':14}" + "".join(f"{side['up'] / args.students:>10.2f} s" for side in figures.values()))
    for note in NOTES:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
