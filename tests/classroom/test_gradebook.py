"""gradebook.csv as a gradebook imports it: a header, one row per student, and the
e-mail that Moodle matches students by when the roster had no ID number."""
from __future__ import annotations

import csv
from datetime import datetime, timezone

from labctl.checks.base import CheckResult, Status
from labctl.checks.report import Report
from labctl.classroom.record import ClassRecord, StudentRecord
from labctl.classroom.report import ClassGrade, StudentGrade, write_reports
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
    write_reports(ClassGrade(record, grades, datetime.now(timezone.utc), [("a", "a"), ("b", "b")]), tmp_path)
    path = tmp_path / "gradebook.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbfid,grade,passed,total,email,name,graded,note\r\n")  # Excel reads the accents
    with path.open(encoding="utf-8-sig", newline="") as rows:
        book = list(csv.DictReader(rows))
    assert [(r["id"], r["grade"], r["passed"], r["total"], r["email"], r["name"]) for r in book] == [
        ("ana.diaz", "100", "2", "2", "ana.diaz@alumnos.example", "Ana Díaz"), ("bpaz", "50", "1", "2", "bpaz@alumnos.example", "Beto Paz")]


def test_names_a_spreadsheet_would_run_are_shown_as_written(tmp_path):
    """A student's Moodle name is their own text: '=HYPERLINK(...)' is written as text (OWASP's
    leading "'"), the page shows it escaped; Moodle's '-' for no last name starts the class.
    The ids and e-mails Moodle's import matches by are kept as they are."""
    roster = tmp_path / "moodle.csv"
    roster.write_text("\ufeffFirst name,Last name,Email address\n"
                      '"=HYPERLINK(""http://x.example"",""ver"")",Paz,bpaz@alumnos.example\n'
                      "Ana,-,ana@alumnos.example\n@Carla,+Sosa,csosa@alumnos.example\n", encoding="utf-8")
    students = read_roster(roster)
    assert [s.name for s in students] == ['=HYPERLINK("http://x.example","ver") Paz', "Ana -", "@Carla +Sosa"]
    record = ClassRecord.new("t-book", "practica4", "4", "10.133.0.0/23", str(roster), "127.0.0.1")
    grades = []
    for n, student in enumerate(students):
        entry = StudentRecord(id=student.id, name=student.name, email=student.email, instance=f"t-book-{student.id}", subnet=f"10.133.{n}.0/24")
        grades.append(StudentGrade(entry, Report("practica4", "4", student.id, [CheckResult("a", "a", Status.PASS, "", "")], 0.1), None))
    write_reports(ClassGrade(record, grades, datetime.now(timezone.utc), [("a", "a")]), tmp_path)
    with (tmp_path / "gradebook.csv").open(encoding="utf-8-sig", newline="") as rows:
        book = list(csv.DictReader(rows))
    assert [(r["id"], r["email"], r["name"]) for r in book] == [
        ("bpaz", "bpaz@alumnos.example", '\'=HYPERLINK("http://x.example","ver") Paz'),
        ("ana", "ana@alumnos.example", "Ana -"), ("csosa", "csosa@alumnos.example", "'@Carla +Sosa")]
    assert "<td>=HYPERLINK(&#34;http://x.example&#34;,&#34;ver&#34;) Paz</td>" in (tmp_path / "index.html").read_text(encoding="utf-8")


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


def test_a_reset_students_row_keeps_no_grade_and_says_what_it_had_been(tmp_path):
    """After `class reset`, the gradebook and page already on disk must not show the grade of
    work that is gone: the row has no grade (an import leaves the cell alone), says when it was
    reset and what it had; every other row stays as graded. A second reset keeps what it had."""
    from labctl.classroom.gradebook import mark_reset

    record = ClassRecord.new("t-book", "practica4", "4", "10.133.0.0/23", "alumnos.csv", "127.0.0.1")
    checks = [("a", "check a"), ("b", "check b")]
    grades = []
    for n, sid in enumerate(["ana", "beto"]):
        entry = StudentRecord(id=sid, name=sid.title(), instance=f"t-book-{sid}", subnet=f"10.133.{n}.0/24")
        record.students.append(entry)
        results = [CheckResult("a", "check a", Status.PASS, "", ""), CheckResult("b", "check b", Status.FAIL if n else Status.PASS, "falta b", "")]
        grades.append(StudentGrade(entry, Report("practica4", "4", sid, results, 0.1), None))
    graded_at = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)
    write_reports(ClassGrade(record, grades, graded_at, checks), tmp_path)

    def book() -> dict[str, dict]:
        with (tmp_path / "gradebook.csv").open(encoding="utf-8-sig", newline="") as rows:
            return {r["id"]: r for r in csv.DictReader(rows)}

    assert (book()["ana"]["grade"], book()["ana"]["graded"], book()["ana"]["note"]) == ("100", "2026-11-29T10:00:00Z", "")
    ana = record.student("ana")
    ana.reset_at = "2026-11-29T10:05:00Z"
    (tmp_path / "ana.json").unlink()  # as clear_reports does
    mark_reset(record, ana, checks, tmp_path)
    after = book()
    assert [after["ana"][k] for k in ("grade", "passed", "total", "graded")] == ["", "", "", ""]
    assert after["ana"]["note"] == "reset at 2026-11-29T10:05:00Z, not graded since; was 100 (2/2) graded 2026-11-29T10:00:00Z"
    assert [after["beto"][k] for k in ("grade", "passed", "total", "graded")] == ["50", "1", "2", "2026-11-29T10:00:00Z"]
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    ana_row = page[page.index('data-student="ana"'):page.index('data-student="beto"')]
    assert "not-graded" in ana_row and "✔" not in ana_row and "reset at 2026-11-29T10:05:00Z" in ana_row
    assert "falta b" in page[page.index('data-student="beto"'):]  # beto's failure detail, read back from beto.json
    ana.reset_at = "2026-11-29T10:09:00Z"
    mark_reset(record, ana, checks, tmp_path)
    assert book()["ana"]["note"] == "reset at 2026-11-29T10:09:00Z, not graded since; was 100 (2/2) graded 2026-11-29T10:00:00Z"
    # Graded again: the new grade, and the note still tells the instructor of the reset.
    write_reports(ClassGrade(record, grades, graded_at, checks), tmp_path)
    assert (book()["ana"]["grade"], book()["ana"]["note"]) == ("100", "reset at 2026-11-29T10:09:00Z")
