"""Grading a class goes on when a lab cannot be checked at all: that student gets every
check as ERROR with one line saying why, and the other students are graded as usual."""
from __future__ import annotations

from pathlib import Path

from labctl.classroom.record import ClassRecord, StudentRecord
from labctl.classroom.report import grade_class

LAB = str(Path(__file__).resolve().parents[2] / "labs" / "practica4" / "lab.yaml")


def test_an_unreachable_engine_is_one_line_per_student_and_grading_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("LABCTL_STATE_DIR", str(tmp_path))
    record = ClassRecord.new("c1", LAB, "4", "10.99.0.0/16", "roster.csv", "127.0.0.1")
    record.students = [StudentRecord(id=sid, instance=f"c1-{sid}", subnet=f"10.99.{n}.0/24")
                       for n, sid in enumerate(("ana", "beto"))]
    # An engine that is not there (no socket at that path).
    grades = grade_class(record, docker_host=f"unix://{tmp_path}/no-docker.sock")
    assert [g.student.id for g in grades.students] == ["ana", "beto"]
    for g in grades.students:
        assert g.error and "\n" not in g.error and "No such file or directory" in g.error  # the socket it tried
        assert g.report.results and {r.status.value for r in g.report.results} == {"error"}
        assert g.grade == 0.0
