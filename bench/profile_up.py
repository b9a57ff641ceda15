"""Where the time of `up`, `reset` and `down` goes: every engine API call (method,
path, seconds) and labctl's own steps (render, network, create, start, each
service's readiness), for one lab or a small class brought up the class way.

    python3 bench/profile_up.py [--labs 1] [--parallel 4] [--down-parallel N] [--exercise 4] [--access]

Prints per-step totals and wall spans; asserts nothing.
"""
from __future__ import annotations

import argparse
import functools
import os
import re
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from labctl.render.plan import LABEL_LAB, LABEL_SERVICE
from labctl.runtime import containers, firewall, project, readiness
from labctl.runtime.engine import client
from labctl.spec.loader import lab_file


@dataclass
class Span:
    what: str
    began: float
    ended: float


class Tracer:
    """Spans of labctl's steps and of every HTTP request to the engine."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.lock = threading.Lock()

    def add(self, what: str, began: float) -> None:
        with self.lock:
            self.spans.append(Span(what, began, time.monotonic()))

    def wrap(self, owner, name: str, label: str | None = None, key=None) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def traced(*args, **kwargs):
            began = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                self.add(f"{label or name}{key(*args) if key else ''}", began)

        setattr(owner, name, traced)

    def engine(self, api) -> None:
        """Every request the docker SDK sends (its APIClient is a requests.Session)."""
        original = api.send

        def send(request, **kwargs):
            began = time.monotonic()
            try:
                return original(request, **kwargs)
            finally:
                path = re.sub(r"^/v[\d.]+", "", request.path_url.split("?")[0])
                path = re.sub(r"/(containers|networks|volumes|images)/[^/]+", r"/\1/{id}", path)
                self.add(f"API {request.method} {path}", began)

        api.send = send

    def report(self, title: str, since: float) -> None:
        spans = [s for s in self.spans if s.began >= since]
        if not spans:
            return
        rows = defaultdict(list)
        for s in spans:
            rows[s.what].append(s)
        wall = max(s.ended for s in spans) - since
        print(f"\n{title}: {wall:.2f} s wall")
        print(f"  {'step':52}{'n':>5}{'sum s':>9}{'mean ms':>9}{'max ms':>9}{'span s':>8}")
        for what, group in sorted(rows.items(), key=lambda kv: -sum(s.ended - s.began for s in kv[1])):
            total = sum(s.ended - s.began for s in group)
            span = max(s.ended for s in group) - min(s.began for s in group)
            print(f"  {what:52}{len(group):>5}{total:>9.2f}{1000 * total / len(group):>9.0f}"
                  f"{1000 * max(s.ended - s.began for s in group):>9.0f}{span:>8.2f}")


TICK = os.sysconf("SC_CLK_TCK")
CPUACCT = "/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage"  # cgroup v1, as this host runs


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (not idle or waiting on I/O)."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICK


def process_seconds(name: str) -> float:
    """CPU seconds of the named daemon and of the children it has reaped."""
    total = 0
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and open(f"/proc/{pid}/comm").read().strip() == name:
                total += sum(int(x) for x in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[11:15])
        except OSError:
            continue
    return total / TICK


def cpu_snapshot() -> dict[str, float]:
    own = os.times()
    return {"machine busy": busy_seconds(), "dockerd": process_seconds("dockerd"),
            "containerd": process_seconds("containerd"), "labctl (this process)": own.user + own.system}


def container_seconds(engine, prefix: str) -> dict[str, float]:
    """CPU seconds each service's containers have used since they started, summed over labs."""
    per_service: dict[str, float] = defaultdict(float)
    for c in engine.containers.list(filters={"label": LABEL_LAB}):
        if c.labels[LABEL_LAB].startswith(prefix):
            try:
                per_service[f"containers: {c.labels[LABEL_SERVICE]}"] += int(open(CPUACCT.format(id=c.id)).read()) / 1e9
            except OSError:
                continue
    return per_service


def cpu_report(before: dict[str, float], after: dict[str, float], services: dict[str, float]) -> None:
    print("  CPU seconds used")
    for what in before:
        print(f"    {what:50}{after[what] - before[what]:>8.2f}")
    for what, seconds in sorted(services.items()):
        print(f"    {what:50}{seconds:>8.2f}")


def instrument(tracer: Tracer, engine) -> None:
    tracer.engine(engine.api)
    tracer.wrap(project, "prepare", "step render configs + plan")
    tracer.wrap(project, "running", "step read running state")
    tracer.wrap(project, "_converge", "step converge (volumes..ready)")
    tracer.wrap(project, "_down", "step down")
    tracer.wrap(project, "ensure_network", "step network")
    tracer.wrap(project.firewall, "isolate", "step firewall isolate")
    tracer.wrap(firewall, "release", "step firewall release")
    tracer.wrap(containers, "check_images", "step check images")
    tracer.wrap(containers, "create", "step create", key=lambda engine, plan, net: f" {plan.service}")
    tracer.wrap(containers, "start", "step start", key=lambda c: f" {c.labels.get('labctl.service')}")
    tracer.wrap(containers, "remove", "step remove")
    tracer.wrap(containers, "wait_for_log", "step wait log", key=lambda c, *_: f" {c.labels.get('labctl.service')}")
    tracer.wrap(project, "wait_ready", "step wait_ready (all probes)")
    tracer.wrap(readiness, "_wait_one", "step ready", key=lambda plan, c, *_: f" {c.service}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--exercise", default="4")
    parser.add_argument("--down-parallel", type=int, help="labs taken down at a time (default: --parallel)")
    parser.add_argument("--access", action="store_true", help="with the class's SSH forwarder (always for --labs > 1)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="profile-up-") as tmp:
        os.environ["LABCTL_STATE_DIR"] = tmp
        # Imported once the state folder is set: the class record lives there.
        from labctl.classroom import lifecycle, record as records
        from labctl.classroom.roster import Student

        engine = client()
        tracer = Tracer()
        instrument(tracer, engine)
        name = "prof"
        record = records.ClassRecord.new(name, str(lab_file("practica4").resolve()), args.exercise, "10.143.0.0/16", "-", "127.0.0.1")
        record = lifecycle.enrol(engine, record, [Student(f"p{i:03d}", "", "", i) for i in range(args.labs)], 4200)
        if args.labs == 1 and not args.access:
            for student in record.students:
                student.ssh_port = None
        began, cpu = time.monotonic(), cpu_snapshot()
        outcomes = lifecycle.bring_up(engine, record, record.students, args.parallel)
        tracer.report(f"up of {args.labs} lab(s), {args.parallel} at a time", began)
        cpu_report(cpu, cpu_snapshot(), container_seconds(engine, name))
        failed = [o for o in outcomes if o.error]
        if failed:
            print("failed:", failed[:3])
        began = time.monotonic()
        lifecycle.reset(engine, record, record.students[:1])
        tracer.report("reset of one", began)
        began, cpu = time.monotonic(), cpu_snapshot()
        down_parallel = args.down_parallel or args.parallel
        lifecycle.take_down(engine, record, purge=True, parallel=down_parallel)
        tracer.report(f"down of {args.labs} lab(s), {down_parallel} at a time", began)
        cpu_report(cpu, cpu_snapshot(), {})


if __name__ == "__main__":
    main()
