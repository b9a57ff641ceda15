"""The files an instructor reads in a reports folder: gradebook.csv (id,grade,passed,total,
email,name,graded,note) and index.html (students × checks), written from one grading, and
rewritten when a student's lab is reset: the row then says so and shows no grade, since the
work that grade was for is gone."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from labctl.checks.base import CheckResult, Status
from labctl.checks.report import Report
from labctl.classroom.record import ClassRecord, StudentRecord
from labctl.classroom.roster import name_form
from labctl.render.templating import render

GRADEBOOK = "gradebook.csv"
PAGE = "index.html"
GRADE_SCALE = 100
# The e-mail too: a Moodle export without ID numbers gave ids that are only the e-mail's
# local part, and Moodle's grade import matches a student by e-mail. The name after it: the
# instructor reads who is who; columns before it keep their places. Then when the row was
# graded, and a note (a reset since).
COLUMNS = ["id", "grade", "passed", "total", "email", "name", "graded", "note"]
# What makes a spreadsheet run a cell as a formula (OWASP's CSV injection list). A name is the
# student's own text (their Moodle profile): "=HYPERLINK(...)" must be shown, never run, and
# Moodle's "-" for no last name must not keep the whole class from coming up.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Row:
    """One student's line: their checks' results, or none when reset since the last grading."""
    student: StudentRecord
    report: Report | None
    graded_at: str
    note: str

    @property
    def total(self) -> int:
        return len(self.report.results) if self.report else 0

    @property
    def passed(self) -> int:
        return self.report.passed if self.report else 0

    @property
    def grade(self) -> float:
        return round(GRADE_SCALE * self.passed / self.total, 1) if self.total else 0.0


def reset_note(student: StudentRecord) -> str:
    return f"reset at {student.reset_at}" if student.reset_at else ""


def report_path(folder: Path, student: StudentRecord) -> Path:
    return folder / f"{name_form(student.id)}.json"  # "12345/6" would be a folder


def as_text(value: object) -> object:
    """A cell a spreadsheet shows as written: a leading "'" (OWASP) before a formula's start.
    Ids and e-mails, which Moodle's import matches by, never start so (the roster refuses them)."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_START) else value


def write_gradebook(rows: list[Row], path: Path) -> None:
    # With a BOM, as Excel writes "CSV UTF-8" and needs to read the names' accents right
    # (without it, "Díaz" opens as "DÃ­az"); Moodle's and LibreOffice's imports skip it.
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for r in rows:
            # Not graded since a reset: no grade at all (an import leaves the grade book's cell
            # alone), never a 0 the student did not earn nor the grade of work that is gone.
            figures = [f"{r.grade:g}", r.passed, r.total] if r.report else ["", "", ""]
            writer.writerow([as_text(v) for v in (r.student.id, *figures, r.student.email, r.student.name, r.graded_at, r.note)])


def render_page(record: ClassRecord, rows: list[Row], checks: list[tuple[str, str]]) -> str:
    graded = [r.graded_at for r in rows if r.graded_at]
    lines = []
    for r in rows:
        by_id = {c.id: c for c in r.report.results} if r.report else {}
        lines.append({"student": r.student, "graded": r.report is not None, "grade": r.grade, "passed": r.passed,
                      "total": r.total, "note": r.note, "cells": [by_id.get(check_id) for check_id, _ in checks]})
    return render("class/report.html.j2", record=record, checks=checks, rows=lines, graded_at=max(graded, default=""))


def write_files(record: ClassRecord, rows: list[Row], checks: list[tuple[str, str]], out: Path) -> None:
    write_gradebook(rows, out / GRADEBOOK)
    (out / PAGE).write_text(render_page(record, rows, checks), encoding="utf-8")


def _read_report(path: Path) -> Report | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        results = [CheckResult(c["id"], c["title"], Status(c["status"]), c["detail"], c["hint"]) for c in data["checks"]]
        return Report(data["lab"], data["exercise"], data["student"], results, 0.0)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def mark_reset(record: ClassRecord, student: StudentRecord, checks: list[tuple[str, str]], out: Path) -> None:
    """The folder's gradebook and page after `student`'s reset: their row keeps no grade and
    says when it was reset and what it had been; every other row stays as it was graded."""
    book = out / GRADEBOOK
    if not book.is_file():
        return
    with book.open(encoding="utf-8-sig", newline="") as rows_in:
        was = {row.get("id"): row for row in csv.DictReader(rows_in)}
    rows = []
    for s in record.students:
        row = was.get(s.id)
        if row is None:
            continue  # not in that grading (enrolled since)
        if s.id == student.id:
            if row.get("grade"):
                before = f"was {row['grade']} ({row['passed']}/{row['total']}) graded {row.get('graded') or 'before'}"
            else:  # reset again before any grading: what it had been is still the last grade
                before = row.get("note", "").partition("; ")[2]
            note = f"{reset_note(student)}, not graded since" + (f"; {before}" if before else "")
            rows.append(Row(s, None, "", note))
        else:
            rows.append(Row(s, _read_report(report_path(out, s)), row.get("graded", ""), row.get("note", "")))
    write_files(record, rows, checks, out)
