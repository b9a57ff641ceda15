"""labctl exercises / labctl check: the exercises of a lab and their automated checks."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from labctl.checks.runner import LabNotUp, run_checks, why_unchecked
from labctl.cli.lab_cmds import DEFAULT_LAB, InstanceOpt, LabArg
from labctl.cli.output import cells, console, table, user_errors
from labctl.runtime.engine import LabError, client
from labctl.runtime.project import Origin, instances
from labctl.spec.loader import load_lab


def exercises(lab: str = LabArg) -> None:
    """The lab's exercises, each with its checks (bring one up with 'labctl up --exercise N')."""
    with user_errors():
        spec = load_lab(lab)
        listing = table(f"{spec.name}: exercises", "N", "title", "variant", "checks")
        for number, exercise in spec.exercises.items():
            if exercise.lab is not None:
                # Its own network: the checks are that lab's exercise of the same number.
                variant, checks = f"own network ({exercise.lab})", load_lab(lab, number).exercises[number].checks
            else:
                variant, checks = ", ".join(sorted(exercise.variant)) or "reference network", exercise.checks
            listing.add_row(*cells(number, exercise.title, variant, ", ".join(c.id for c in checks)))
        console.print(listing)


# Labs named when the one asked for is not up (a class's host has hundreds).
SHOWN_INSTANCES = 5


def _labs_up(names: list[str]) -> str:
    if not names:
        return ""
    more = f" and {len(names) - SHOWN_INSTANCES} more" if len(names) > SHOWN_INSTANCES else ""
    return f" (up here: {', '.join(names[:SHOWN_INSTANCES])}{more}; say which with --instance)"


def check(
    exercise: Optional[str] = typer.Option(None, "--exercise", "-e", help="Exercise to check (default: the one the lab was brought up with)."),
    lab: Optional[str] = typer.Option(None, "--lab", help="Lab name or path to a lab.yaml (default: the one the instance was brought up from)."),
    instance: Optional[str] = InstanceOpt,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Also write a JUnit XML report here."),
    file: Optional[Path] = typer.Option(None, "--file", help="The file the exercise asks you to hand in."),
    student: Optional[str] = typer.Option(None, "--student", help="Name to put in the report."),
) -> None:
    """Run the exercise's checks against the running lab; exit 0 only when all pass."""
    with user_errors():
        name = instance or (load_lab(lab).name if lab else DEFAULT_LAB)
        if lab is None:
            lab = Origin.load(name).lab if Origin.path(name).is_file() else DEFAULT_LAB
        try:
            report = run_checks(client(), lab, name, exercise, file, student)
        except LabNotUp as exc:
            # A student who brought their lab up with --instance and ran a bare `labctl check`.
            raise LabError(f"{exc}{_labs_up(instances(client()))}") from None
        if junit:
            report.write_junit(junit)
        if as_json:
            print(report.to_json())
        else:
            report.print(console)
        raise typer.Exit(0 if report.failed == 0 else 1)


def grade(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for one JSON and one JUnit report per student."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary."),
) -> None:
    """Check every lab instance on this host (one per student) and summarise the class."""
    with user_errors():
        engine = client()
        rows = []
        for name in instances(engine):
            try:
                origin = Origin.load(name)
                report = run_checks(engine, origin.lab, name, origin.exercise, student=name)
            except Exception as exc:  # noqa: BLE001 - one student's lab must never stop the grading of the others
                rows.append({"student": name, "exercise": None, "passed": 0, "failed": 0, "error": why_unchecked(exc)})
                continue
            rows.append({"student": name, "exercise": report.exercise, "passed": report.passed, "failed": report.failed, "error": None})
            if out:
                out.mkdir(parents=True, exist_ok=True)
                (out / f"{name}.json").write_text(report.to_json(), encoding="utf-8")
                report.write_junit(out / f"{name}.xml")
        if as_json:
            print(json.dumps({"students": rows}, indent=2))
            return
        summary = table("class", "student", "exercise", "passed", "failed", "note")
        for r in rows:
            summary.add_row(*cells(r["student"], r["exercise"] or "-", r["passed"], r["failed"], r["error"] or ""))
        console.print(summary)


# The root (labctl.cli) lists these commands and imports this module to run one.
app = typer.Typer()
app.command()(exercises)
app.command()(check)
app.command()(grade)
