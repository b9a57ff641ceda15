"""labctl class grade."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from labctl.checks.base import Status
from labctl.classroom import record as records
from labctl.classroom.report import GRADE_TIMEOUT, grade_class, write_reports
from labctl.cli.class_options import NameOpt, ParallelOpt, chosen_class
from labctl.cli.output import cells, console, table as new_table, user_errors
from labctl.cli.roster_notes import roster_changes
from labctl.runtime.engine import client


EXAMPLES = (
    'labctl class grade',
    'labctl class grade --out informes --timeout 300',
)


def command(
    name: Optional[str] = NameOpt,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the reports (default: the class's reports folder)."),
    parallel: int = ParallelOpt,
    timeout: float = typer.Option(GRADE_TIMEOUT, "--timeout", min=1, help="Seconds one lab's checks may take; past them it is reported as not graded."),
) -> None:
    """Check every student's lab: JSON + JUnit per student, gradebook.csv and index.html."""
    with user_errors():
        record = chosen_class(name)
        client()  # no engine: one line now, not one per student
        folder = (out or records.reports_dir(record.name)).resolve()
        if out is not None and str(folder) not in record.report_dirs:
            record.report_dirs.append(str(folder))
            records.save(record)
        grades = grade_class(record, parallel=parallel, timeout=timeout)
        write_reports(grades, folder)
        table = new_table(f"class {record.name} — exercise {record.exercise}", "student", "grade", "passed", "failed", "errors", "note")
        for g in grades.students:
            errors = sum(r.status is Status.ERROR for r in g.report.results)
            table.add_row(*cells(g.student.id, f"{g.grade:g}", g.report.passed, g.report.failed - errors, errors, g.error or ""))
        console.print(table)
        console.print(f"reports in {folder} (gradebook.csv, index.html, <id>.json, <id>.xml)", markup=False, highlight=False, soft_wrap=True)
        if changes := roster_changes(record):
            console.print(f"[yellow]{escape(changes)}[/]", highlight=False, soft_wrap=True)
