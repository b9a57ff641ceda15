"""Run an exercise's checks against one running lab instance."""
from __future__ import annotations

import time
from pathlib import Path

from docker import DockerClient

from labctl.checks.base import REGISTRY, build_checks
from labctl.checks.context import CheckContext
from labctl.checks.report import Report
from labctl.runtime import project
from labctl.runtime.engine import LabError
from labctl.spec.loader import LabSpecError, load_lab


class LabNotUp(LabError):
    """The instance has no containers on the engine."""


def run_checks(engine: DockerClient, lab: str, instance: str, exercise: str | None = None,
               handin: Path | None = None, student: str | None = None) -> Report:
    began = time.monotonic()
    if handin is not None and handin.is_dir():
        raise LabSpecError(f"--file {handin}: is a folder; expected the file the exercise asks you to hand in")
    if handin is not None and not handin.is_file():
        raise LabSpecError(f"--file {handin}: no such file")
    now = project.running(engine, instance)
    if not now.containers:
        raise LabNotUp(f"lab {instance} is not up: run 'labctl up --exercise N' first")
    current, subnet = now.exercise, now.subnet
    exercise = exercise or current
    if exercise is None:
        raise LabSpecError(f"lab {instance} runs the reference network: say which exercise with --exercise N")
    # Addresses come from the variant that runs, where it runs; the checks from the
    # exercise asked; parameters (a student's own passwords) from what it was brought up with.
    params = project.Origin.load(instance).params if project.Origin.path(instance).is_file() else None
    spec = load_lab(lab, current, subnet, params)
    if exercise != current and load_lab(lab, exercise, subnet, params) != spec:
        # Its checks would look for servers and domains this network does not have (and
        # exercise 10's are in its own lab: none would run, and none failing is no pass).
        running = f"exercise {current}'s network" if current else "the reference network"
        where = "" if instance == spec.name else f" --instance {instance}"
        moved = "" if subnet is None or subnet == str(load_lab(lab).network.subnet) else f" --subnet {subnet}"
        raise LabSpecError(f"lab {instance} runs {running}; exercise {exercise} needs its own: "
                           f"'labctl down{where}', then 'labctl up --exercise {exercise}{where}{moved}'")
    checks = build_checks(spec, exercise)
    if handin is not None and not any(check.reads_handin for check in checks):
        # Ignored, the student would take the report's silence for the file's approval.
        takers = [n for n, e in spec.exercises.items() if any(REGISTRY[c.kind].reads_handin for c in e.checks if c.kind in REGISTRY)]
        raise LabSpecError(f"--file {handin}: exercise {exercise} asks for no file; --file is for exercise {' and '.join(takers) or 'none'}")
    ctx = CheckContext(engine, spec, instance, handin=handin)
    waiting = [check.prefetch(ctx) for check in checks]
    # The checks that wait on a background measurement go last (the others run meanwhile);
    # the report keeps the exercise's order.
    order = sorted(range(len(checks)), key=lambda i: waiting[i])
    results = {i: checks[i].execute(ctx) for i in order}
    return Report(spec.name, exercise, student, [results[i] for i in range(len(checks))], time.monotonic() - began)


def why_unchecked(exc: Exception) -> str:
    """One line for a lab that could not be checked at all: a user error says itself,
    anything else (engine, network) names its kind, capped so one lab cannot flood a report."""
    if isinstance(exc, (LabError, LabSpecError)):
        return str(exc)
    return f"could not check this lab ({exc.__class__.__name__}: {str(exc)[:200]})"
