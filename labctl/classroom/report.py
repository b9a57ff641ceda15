"""Grading a class: every student's checks, and the reports an instructor uses —
one JSON and one JUnit per student, a gradebook CSV (id,grade,passed,total,email,name) and one
HTML page (students × checks, a colour per status, each failure's detail on click)."""
from __future__ import annotations

import csv
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
from labctl.classroom.lifecycle import student_origin
from labctl.classroom.record import ClassRecord, StudentRecord
from labctl.classroom.roster import name_form
from labctl.render.templating import render
from labctl.spec.loader import load_lab

GRADEBOOK = "gradebook.csv"
PAGE = "index.html"
GRADE_SCALE = 100
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
        return round(GRADE_SCALE * self.report.passed / self.total, 1) if self.total else 0.0


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
    exercise = load_lab(record.lab, record.exercise).exercises[record.exercise]
    return ClassGrade(record, grades, datetime.now(timezone.utc), [(c.id, c.title) for c in exercise.checks])


def write_gradebook(grades: ClassGrade, path: Path) -> None:
    # With a BOM, as Excel writes "CSV UTF-8" and needs to read the names' accents right
    # (without it, "Díaz" opens as "DÃ­az"); Moodle's and LibreOffice's imports skip it.
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        # The e-mail too: a Moodle export without ID numbers gave ids that are only the
        # e-mail's local part, and Moodle's grade import matches a student by e-mail. The
        # name last: the instructor reads who is who; columns before it keep their places.
        writer.writerow(["id", "grade", "passed", "total", "email", "name"])
        for g in grades.students:
            writer.writerow([g.student.id, f"{g.grade:g}", g.report.passed, g.total, g.student.email, g.student.name])


def render_page(grades: ClassGrade) -> str:
    rows = []
    for g in grades.students:
        by_id = {r.id: r for r in g.report.results}
        rows.append({"student": g.student, "grade": g.grade, "passed": g.report.passed, "total": g.total,
                     "error": g.error, "cells": [by_id.get(check_id) for check_id, _ in grades.checks]})
    return render("class/report.html.j2", record=grades.record, checks=grades.checks, rows=rows,
                  graded_at=grades.graded_at.isoformat(timespec="seconds").replace("+00:00", "Z"))


def write_reports(grades: ClassGrade, out: Path) -> list[Path]:
    """Everything in `out`: <id>.json and <id>.xml per student (the id as names take it:
    roster.name_form), the gradebook, the page."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for g in grades.students:
        stem = name_form(g.student.id)  # "12345/6" would be a folder
        json_path, junit_path = out / f"{stem}.json", out / f"{stem}.xml"
        json_path.write_text(g.report.to_json(), encoding="utf-8")
        g.report.write_junit(junit_path)
        written += [json_path, junit_path]
    write_gradebook(grades, out / GRADEBOOK)
    (out / PAGE).write_text(render_page(grades), encoding="utf-8")
    return written + [out / GRADEBOOK, out / PAGE]
