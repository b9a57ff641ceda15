"""Each lab's checks in a process of its own, ended at its deadline.

A thread cannot be stopped: a lab past its deadline kept its grading thread, and the memory
that thread held (a full capture ring read whole, about 1.6 GB), until its checks ended on
their own; a class of such labs held it all at once. A process is killed, and its memory,
threads and tools (tshark) go with it. The children are forked from a forkserver with the
checks already imported (a fresh interpreter per lab would cost each about half a second),
never from the caller, whose threads may hold locks a fork would copy held.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

import docker

from labctl.checks.report import Report

# The checks of a lab, and the forkserver's imports for them.
CHILD_IMPORTS = ["labctl.classroom.grading", "labctl.checks.runner"]


@dataclass(frozen=True)
class LabToCheck:
    lab: str
    instance: str
    exercise: str
    student: str
    docker_host: str | None  # None: the engine of the environment (DOCKER_HOST or the local socket)


# (report, None) or (None, why the lab could not be checked).
Outcome = tuple[Report | None, str | None]


def _check_in_child(target: LabToCheck, answer: Connection) -> None:
    # Its own process group: killed at the deadline with whatever it started.
    os.setpgrp()
    from labctl.checks.runner import run_checks, why_unchecked
    from labctl.runtime.engine import client

    try:
        engine = docker.DockerClient(base_url=target.docker_host, timeout=120) if target.docker_host else client()
        outcome: Outcome = (run_checks(engine, target.lab, target.instance, target.exercise, student=target.student), None)
    except Exception as exc:  # noqa: BLE001 - one student's broken lab is that student's line, never the class's end
        outcome = (None, why_unchecked(exc))
    answer.send(outcome)


def _context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(CHILD_IMPORTS)
    return context


def _end(child: multiprocessing.process.BaseProcess) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended meanwhile, or had not made its group yet
    child.kill()
    child.join()


def check_each(targets: list[LabToCheck], parallel: int, timeout: float) -> list[Outcome | None]:
    """Every target's outcome, `parallel` at a time, in the targets' order; None for one that
    passed `timeout` (its process is killed then)."""
    context = _context()
    waiting = list(enumerate(targets))
    running: dict[Connection, tuple[int, multiprocessing.process.BaseProcess, float]] = {}
    outcomes: list[Outcome | None] = [None] * len(targets)
    try:
        while waiting or running:
            while waiting and len(running) < max(1, parallel):
                index, target = waiting.pop(0)
                receive, send = context.Pipe(duplex=False)
                child = context.Process(target=_check_in_child, args=(target, send), daemon=True)
                child.start()
                send.close()  # the child's end: an exit without an answer reads as EOF
                running[receive] = (index, child, time.monotonic() + timeout)
            nearest = min(deadline for _, _, deadline in running.values())
            for receive in wait(list(running), timeout=max(0.0, nearest - time.monotonic())):
                index, child, _ = running.pop(receive)
                try:
                    outcomes[index] = receive.recv()
                except EOFError:  # killed (out of memory?) before it answered
                    child.join()
                    outcomes[index] = (None, f"its checks ended without an answer (exit status {child.exitcode})")
                receive.close()
                _end(child)
            now = time.monotonic()
            for receive, (index, child, deadline) in list(running.items()):
                if deadline <= now:
                    del running[receive]
                    receive.close()
                    _end(child)
    finally:
        for receive, (_, child, _) in running.items():
            receive.close()
            _end(child)
    return outcomes
