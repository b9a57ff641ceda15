"""labctl grade."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from labctl.checks.runner import run_checks, why_unchecked
from labctl.cli.output import cells, console, table, user_errors
from labctl.runtime.engine import client
from labctl.runtime.project import Origin, instances


EXAMPLES = (
    'labctl grade --out informes',
)


def command(
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
