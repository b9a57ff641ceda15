"""gradebook.csv as a gradebook imports it: a header, one row per student, and the
e-mail that Moodle matches students by when the roster had no ID number."""
from __future__ import annotations

import csv
from datetime import datetime, timezone

from labctl.checks.base import CheckResult, Status
from labctl.checks.report import Report
from labctl.classroom.record import ClassRecord, StudentRecord
from labctl.classroom.report import ClassGrade, StudentGrade, write_gradebook
from labctl.classroom.roster import read_roster

# A Moodle participants export without an ID number column: the ids are the e-mails' local parts.
MOODLE_NO_ID = "\ufeffFirst name,Last name,Email address\nAna,Díaz,ana.diaz@alumnos.example\nBeto,Paz,bpaz@alumnos.example\n"


def test_the_gradebook_maps_back_to_the_moodle_export(tmp_path):
    roster = tmp_path / "moodle.csv"
    roster.write_text(MOODLE_NO_ID, encoding="utf-8")
    record = ClassRecord.new("t-book", "practica4", "4", "10.133.0.0/23", str(roster), "127.0.0.1")
    grades = []
    for n, student in enumerate(read_roster(roster)):
        entry = StudentRecord(id=student.id, name=student.name, email=student.email, instance=f"t-book-{student.id}", subnet=f"10.133.{n}.0/24")
        results = [CheckResult("a", "a", Status.PASS, "", ""), CheckResult("b", "b", Status.FAIL if n else Status.PASS, "", "")]
        grades.append(StudentGrade(entry, Report("practica4", "4", student.id, results, 0.1), None))
    path = tmp_path / "gradebook.csv"
    write_gradebook(ClassGrade(record, grades, datetime.now(timezone.utc), [("a", "a"), ("b", "b")]), path)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfid,grade,passed,total,email,name\r\n")  # Excel reads the accents
    with path.open(encoding="utf-8-sig", newline="") as rows:
        book = list(csv.DictReader(rows))
    assert [(r["id"], r["grade"], r["passed"], r["total"], r["email"], r["name"]) for r in book] == [
        ("ana.diaz", "100", "2", "2", "ana.diaz@alumnos.example", "Ana Díaz"), ("bpaz", "50", "1", "2", "bpaz@alumnos.example", "Beto Paz")]


def test_reports_of_a_legajo_with_a_slash_are_files_named_as_labs_are(tmp_path, monkeypatch):
    """"12345/6" as a file name would be a folder "12345" and a file "6.json": the report files
    take the lab's name form, the gradebook and the reports keep the legajo; a reset removes them."""
    import json

    from labctl.classroom.lifecycle import clear_reports
    from labctl.classroom.report import write_reports

    monkeypatch.setenv("LABCTL_STATE_DIR", str(tmp_path / "state"))
    record = ClassRecord.new("t-book", "practica4", "4", "10.133.0.0/23", "alumnos.csv", "127.0.0.1")
    entry = StudentRecord(id="12345/6", name="Díaz, Ana", instance="t-book-12345-6", subnet="10.133.0.0/24")
    record.students.append(entry)
    results = [CheckResult("a", "a", Status.PASS, "", ""), CheckResult("b", "b", Status.FAIL, "", "")]
    grades = ClassGrade(record, [StudentGrade(entry, Report("practica4", "4", entry.id, results, 0.1), None)],
                        datetime.now(timezone.utc), [("a", "a"), ("b", "b")])
    out = tmp_path / "out"
    record.report_dirs.append(str(out))
    write_reports(grades, out)
    assert sorted(p.name for p in out.iterdir()) == ["12345-6.json", "12345-6.xml", "gradebook.csv", "index.html"]
    assert json.loads((out / "12345-6.json").read_text(encoding="utf-8"))["student"] == "12345/6"
    with (out / "gradebook.csv").open(encoding="utf-8-sig", newline="") as rows:
        assert [row["id"] for row in csv.DictReader(rows)] == ["12345/6"]
    assert record.student("12345-6") is record.student("12345/6") is entry  # `class reset 12345-6` finds her too
    clear_reports(record, entry)
    assert sorted(p.name for p in out.iterdir()) == ["gradebook.csv", "index.html"]
