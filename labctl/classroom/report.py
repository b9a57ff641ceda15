"""Grading a class: every student's checks, and the reports an instructor uses —
one JSON and one JUnit per student, the gradebook CSV and the HTML page (gradebook.py)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from labctl.checks.base import CheckResult, Status
from labctl.checks.report import Report
from labctl.classroom.grading import LabToCheck, check_each
from labctl.classroom.gradebook import GRADEBOOK, PAGE, Row, report_path, reset_note, timestamp, write_files
from labctl.classroom.lifecycle import exercise_checks, student_origin
from labctl.classroom.record import ClassRecord, StudentRecord

# What one lab's checks may take. A fresh or finished lab takes under a second; a student
# can make theirs take far longer (a 200 MB capture ring of tiny packets took about 35 s
# to read), and one lab must never hold the whole class's grading.
GRADE_TIMEOUT = 120.0


@dataclass
class StudentGrade:
    student: StudentRecord
    report: Report
    error: str | None  # the lab could not be checked (down, engine error)

    @property
    def total(self) -> int:
        return len(self.report.results)

    @property
    def grade(self) -> float:
        return Row(self.student, self.report, "", "").grade


@dataclass
class ClassGrade:
    record: ClassRecord
    students: list[StudentGrade]
    graded_at: datetime
    checks: list[tuple[str, str]]  # (id, title) in the exercise's order


def _unchecked(record: ClassRecord, student: StudentRecord, error: str) -> Report:
    """A lab that could not be checked fails every check, each saying why."""
    lab = student_origin(record, student).spec()
    results = [CheckResult(c.id, c.title, Status.ERROR, error, c.hint) for c in lab.exercises[record.exercise].checks]
    return Report(lab.name, record.exercise, student.id, results, 0.0)


def grade_class(record: ClassRecord, students: list[StudentRecord] | None = None, parallel: int = 4,
                timeout: float = GRADE_TIMEOUT, docker_host: str | None = None) -> ClassGrade:
    """Every student's checks, each lab in a process of its own (grading.py), `parallel` at a
    time; a lab past `timeout` is killed and reported as not graded."""
    students = record.students if students is None else students
    targets = [LabToCheck(record.lab, s.instance, record.exercise, s.id, docker_host) for s in students]
    grades = []
    for student, outcome in zip(students, check_each(targets, parallel, timeout)):
        if outcome is None:
            error = (f"not graded: its checks took over {timeout:g} s (far more in the lab than the exercise needs?); "
                     f"'labctl check --instance {student.instance}' checks it alone")
        else:
            report, error = outcome
            if report is not None:
                grades.append(StudentGrade(student, report, None))
                continue
        grades.append(StudentGrade(student, _unchecked(record, student, error), error))
    return ClassGrade(record, grades, datetime.now(timezone.utc), exercise_checks(record))


def write_reports(grades: ClassGrade, out: Path) -> list[Path]:
    """Everything in `out`: <id>.json and <id>.xml per student (the id as names take it:
    roster.name_form), the gradebook, the page."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for g in grades.students:
        json_path = report_path(out, g.student)
        junit_path = json_path.with_suffix(".xml")
        json_path.write_text(g.report.to_json(), encoding="utf-8")
        g.report.write_junit(junit_path)
        written += [json_path, junit_path]
    graded_at = timestamp(grades.graded_at)
    rows = [Row(g.student, g.report, graded_at, reset_note(g.student)) for g in grades.students]
    write_files(grades.record, rows, grades.checks, out)
    return written + [out / GRADEBOOK, out / PAGE]
