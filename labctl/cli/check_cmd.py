"""labctl exercises / labctl check: the exercises of a lab and their automated checks."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from labctl.checks import CheckContext, build_checks
from labctl.checks.report import Report
from labctl.cli.lab_cmds import DEFAULT_LAB, InstanceOpt, LabArg
from labctl.cli.output import console, user_errors
from labctl.render.plan import LABEL_EXERCISE
from labctl.runtime import containers as ctr
from labctl.runtime.engine import LabError, client
from labctl.runtime.network import find_networks
from labctl.spec.loader import LabSpecError, load_lab


def exercises(lab: str = LabArg) -> None:
    """The lab's exercises, each with its checks (bring one up with 'labctl up --exercise N')."""
    with user_errors():
        spec = load_lab(lab)
        table = Table(title=f"{spec.name}: exercises")
        for column in ("N", "title", "variant", "checks"):
            table.add_column(column)
        for number, exercise in spec.exercises.items():
            variant = ", ".join(sorted(exercise.variant)) or "reference network"
            table.add_row(number, exercise.title, variant, ", ".join(c.id for c in exercise.checks))
        console.print(table)


def _running(instance: str) -> tuple[str | None, str | None]:
    """The exercise the running lab was brought up with, and the subnet it runs on."""
    engine = client()
    found = ctr.find_containers(engine, instance)
    if not found:
        raise LabError(f"lab {instance} is not up: run 'labctl up --exercise N' first")
    exercise = next(iter(found.values())).labels.get(LABEL_EXERCISE)
    subnet = next((cfg["Subnet"] for net in find_networks(engine, instance)
                   for cfg in net.attrs["IPAM"]["Config"] or [] if "Subnet" in cfg), None)
    return exercise, subnet


def check(
    exercise: Optional[str] = typer.Option(None, "--exercise", "-e", help="Exercise to check (default: the one the lab was brought up with)."),
    lab: str = typer.Option(DEFAULT_LAB, "--lab", help="Lab name (labs/<name>) or path to a lab.yaml."),
    instance: Optional[str] = InstanceOpt,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Also write a JUnit XML report here."),
    file: Optional[Path] = typer.Option(None, "--file", help="The file the exercise asks you to hand in."),
    student: Optional[str] = typer.Option(None, "--student", help="Name to put in the report."),
) -> None:
    """Run the exercise's checks against the running lab; exit 0 only when all pass."""
    with user_errors():
        began = time.monotonic()
        if file is not None and not file.is_file():
            raise LabSpecError(f"--file {file}: no such file")
        name = instance or load_lab(lab).name
        running, subnet = _running(name)
        exercise = exercise or running
        if exercise is None:
            raise LabSpecError(f"lab {name} runs the reference network: say which exercise with --exercise N")
        # Addresses come from the variant that runs, where it runs; the checks from the exercise asked.
        spec = load_lab(lab, running, subnet)
        checks = build_checks(spec, exercise)
        ctx = CheckContext(client(), spec, name, handin=file)
        results = [c.execute(ctx) for c in checks]
        report = Report(spec.name, exercise, student, results, time.monotonic() - began)
        if junit:
            report.write_junit(junit)
        if as_json:
            print(report.to_json())
        else:
            report.print(console)
        raise typer.Exit(0 if report.failed == 0 else 1)


def register(app: typer.Typer) -> None:
    app.command()(exercises)
    app.command()(check)
