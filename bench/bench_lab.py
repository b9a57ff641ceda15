"""Benchmark: cold `labctl up` of a lab (images present) until every service
answers, `labctl down`, and the running lab's memory (sum of container RSS),
side by side with docker-compose v1 running the rendered compose file.

Both are timed as a user runs them, one command each (interpreter start and
imports included); labctl's in-process time is printed too, to show what the
command adds, and the engine's own floor: the same network and containers made
and started by the SDK with nothing else (no capture first, no firewall), until
the services answer. No tool that starts these containers can be faster.

    python3 bench/bench_lab.py [--lab practica4] [--runs 3]

Prints figures; asserts nothing about speed.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labctl.render.compose import COMPOSE_FILE, render_compose
from labctl.render.plan import LABEL_LAB
from labctl.runtime import project
from labctl.runtime import containers
from labctl.runtime.containers import wait_for_log
from labctl.runtime.engine import client
from labctl.runtime.network import ensure_network
from labctl.runtime.parallel import all_at_once
from labctl.runtime.readiness import wait_ready
from labctl.spec.loader import load_lab


def lab_rss_mb(engine, instance: str) -> float:
    """Sum of the resident memory of the lab's containers (cgroup rss, or usage - cache)."""
    total = 0
    for container in engine.containers.list(filters={"label": f"{LABEL_LAB}={instance}"}):
        memory = container.stats(stream=False)["memory_stats"]
        stats = memory.get("stats", {})
        total += stats.get("rss", stats.get("anon", memory.get("usage", 0) - stats.get("cache", 0)))
    return total / 2**20


def timed(cmd: list[str]) -> float:
    began = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.monotonic() - began


def run_labctl(engine, lab, source: str, instance: str) -> dict[str, float]:
    cmd = [sys.executable, "-m", "labctl.cli"]
    up = timed([*cmd, "up", source, "--instance", instance])
    time.sleep(2)  # let the services settle before reading memory
    rss = lab_rss_mb(engine, instance)
    down = timed([*cmd, "down", "--instance", instance])
    began = time.monotonic()
    project.up(engine, lab, instance)
    in_process_up = time.monotonic() - began
    began = time.monotonic()
    project.down(engine, instance)
    return {"up": up, "down": down, "rss": rss, "in-process up": in_process_up, "in-process down": time.monotonic() - began}


def run_compose(engine, lab, instance: str, workdir: Path) -> dict[str, float]:
    plan = project.prepare(lab, instance, target=workdir)
    compose_file = workdir / COMPOSE_FILE
    compose_file.write_text(render_compose(plan), encoding="utf-8")
    cmd = ["docker-compose", "-f", str(compose_file), "-p", instance]
    began = time.monotonic()
    subprocess.run([*cmd, "up", "-d"], check=True, capture_output=True)
    wait_ready(plan, project.READY_TIMEOUT, alive=lambda service: None)
    # What `labctl up` also waits for: containers that say when they are ready (the
    # client, once it trusts the lab CA); the lab is not usable before either way.
    for planned in plan.containers:
        if planned.ready_log:
            wait_for_log(engine.containers.get(planned.name), planned.ready_log, project.READY_TIMEOUT)
    up = time.monotonic() - began
    time.sleep(2)
    rss = lab_rss_mb(engine, instance)
    return {"up": up, "down": timed([*cmd, "down", "-v"]), "rss": rss}


def run_engine_floor(engine, lab, instance: str, workdir: Path) -> float:
    plan = project.prepare(lab, instance, target=workdir)
    began = time.monotonic()
    ensure_network(engine, plan.network)
    made = all_at_once(lambda c: containers.create(engine, c, plan.network.name), plan.containers)
    all_at_once(containers.start, made)
    wait_ready(plan, project.READY_TIMEOUT, alive=lambda service: None)
    floor = time.monotonic() - began
    project.down(engine, instance)
    return floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="practica4")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    engine = client()
    lab = load_lab(args.lab)
    instance = lab.name
    project.down(engine, instance)
    results: dict[str, list[dict[str, float]]] = {"labctl": [], "docker-compose": []}
    floors = []
    with tempfile.TemporaryDirectory(prefix="bench-compose-") as tmp:
        for _ in range(args.runs):
            results["labctl"].append(run_labctl(engine, lab, args.lab, instance))
            results["docker-compose"].append(run_compose(engine, lab, instance, Path(tmp)))
            floors.append(run_engine_floor(engine, lab, instance, Path(tmp) / "floor"))
        containers = len(project.prepare(lab, instance, target=Path(tmp)).containers)

    print(f"lab {args.lab}: {containers} containers, {args.runs} runs each, median")
    print(f"{'':16}{'up (s)':>10}{'down (s)':>10}{'RSS (MB)':>10}")
    medians = {}
    for tool, runs in results.items():
        medians[tool] = {k: statistics.median(r[k] for r in runs) for k in ("up", "down", "rss")}
        m = medians[tool]
        print(f"{tool:16}{m['up']:>10.2f}{m['down']:>10.2f}{m['rss']:>10.1f}")
    ours, peer = medians["labctl"], medians["docker-compose"]
    print(f"{'labctl/compose':16}{ours['up'] / peer['up']:>10.2f}{ours['down'] / peer['down']:>10.2f}{ours['rss'] / peer['rss']:>10.2f}")
    inside = {k: statistics.median(r[f"in-process {k}"] for r in results["labctl"]) for k in ("up", "down")}
    print(f"{'labctl in-process':16}{inside['up']:>10.2f}{inside['down']:>10.2f}   (the same work without starting the command)")
    floor = statistics.median(floors)
    print(f"{'engine alone':16}{floor:>10.2f}{'':>10}   ({floor / peer['up']:.2f} of compose: the engine starting these containers, nothing else)")


if __name__ == "__main__":
    main()
