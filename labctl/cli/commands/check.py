"""labctl check."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from labctl.checks.runner import LabNotUp, run_checks
from labctl.cli.lab_options import DEFAULT_LAB, InstanceOpt
from labctl.cli.output import console, user_errors
from labctl.runtime.engine import LabError, client
from labctl.runtime.project import Origin, instances
from labctl.spec.loader import load_lab

# Labs named when the one asked for is not up (a class's host has hundreds).
SHOWN_INSTANCES = 5


def labs_up(names: list[str]) -> str:
    if not names:
        return ""
    more = f" and {len(names) - SHOWN_INSTANCES} more" if len(names) > SHOWN_INSTANCES else ""
    return f" (up here: {', '.join(names[:SHOWN_INSTANCES])}{more}; say which with --instance)"


EXAMPLES = (
    'labctl check  # the exercise the lab was brought up with',
    'labctl check --exercise 3 --file foto.jpg  # 3.c: the attachment, decoded by hand',
    'labctl check --json --junit informe.xml',
)


def command(
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
            raise LabError(f"{exc}{labs_up(instances(client()))}") from None
        if junit:
            report.write_junit(junit)
        if as_json:
            print(report.to_json())
        else:
            report.print(console)
        raise typer.Exit(0 if report.failed == 0 else 1)
