"""Grading a class: every student's checks, and the reports an instructor uses —
one JSON and one JUnit per student, the gradebook CSV and the HTML page (gradebook.py)."""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from docker import DockerClient

from labctl.checks.base import CheckResult, Status
from labctl.checks.report import Report
from labctl.checks.runner import run_checks, why_unchecked
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


def grade_student(engine: DockerClient, record: ClassRecord, student: StudentRecord) -> StudentGrade:
    try:
        report = run_checks(engine, record.lab, student.instance, record.exercise, student=student.id)
        return StudentGrade(student, report, None)
    except Exception as exc:  # noqa: BLE001 - one student's broken lab must never stop the grading of the others
        error = why_unchecked(exc)
    return StudentGrade(student, _unchecked(record, student, error), error)


def _each_within(students: list[StudentRecord], grade: Callable[[StudentRecord], StudentGrade], parallel: int,
                 timeout: float, late: Callable[[StudentRecord], StudentGrade]) -> list[StudentGrade]:
    """grade(s) for every student, `parallel` at a time, in the students' order; a student
    whose grading passes `timeout` gets late(s) and frees its place. Its thread (a daemon:
    nothing can stop a thread) is left to finish on its own, and the answer is ignored."""
    finished: queue.Queue[tuple[int, StudentGrade]] = queue.Queue()
    waiting = list(enumerate(students))
    deadlines: dict[int, float] = {}
    grades: dict[int, StudentGrade] = {}
    while waiting or deadlines:
        while waiting and len(deadlines) < max(1, parallel):
            index, student = waiting.pop(0)
            threading.Thread(target=lambda i=index, s=student: finished.put((i, grade(s))), daemon=True).start()
            deadlines[index] = time.monotonic() + timeout
        try:
            index, graded = finished.get(timeout=max(0.0, min(deadlines.values()) - time.monotonic()))
            if deadlines.pop(index, None) is not None:
                grades[index] = graded
        except queue.Empty:
            now = time.monotonic()
            for index in [i for i, deadline in deadlines.items() if deadline <= now]:
                del deadlines[index]
                grades[index] = late(students[index])
    return [grades[i] for i in range(len(students))]


def grade_class(engine: DockerClient, record: ClassRecord, students: list[StudentRecord] | None = None,
                parallel: int = 4, timeout: float = GRADE_TIMEOUT) -> ClassGrade:
    students = record.students if students is None else students

    def late(student: StudentRecord) -> StudentGrade:
        error = (f"not graded: its checks took over {timeout:g} s (far more in the lab than the exercise needs?); "
                 f"'labctl check --instance {student.instance}' checks it alone")
        return StudentGrade(student, _unchecked(record, student, error), error)

    grades = _each_within(students, lambda s: grade_student(engine, record, s), parallel, timeout, late)
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
