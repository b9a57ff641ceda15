"""Instructors: two students' labs side by side on one host, graded at once."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from capturewait import wait_for_stream
from exercise4 import download_over_pop, send_to_pop
from labctl.cli import app
from labctl.runtime import project

STUDENTS = {"ana": "172.29.40", "beto": "172.29.41"}


@pytest.fixture(scope="module")
def class_labs(engine):
    runner = CliRunner()
    for student, net in STUDENTS.items():
        project.down(engine, student)
        result = runner.invoke(app, ["up", "practica4", "--exercise", "4", "--instance", student, "--subnet", f"{net}.0/24"])
        assert result.exit_code == 0, result.output
    yield
    for student in STUDENTS:
        project.down(engine, student)


def _do_exercise_4(net: str) -> None:
    """What ana does: a mail to alumnopop, then its download over POP3."""
    send_to_pop(f"{net}.90")
    download_over_pop(f"{net}.90")


def _grade(tmp_path) -> dict[str, dict]:
    result = CliRunner().invoke(app, ["grade", "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    return {row["student"]: row for row in json.loads(result.output)["students"]}


def test_grade_tells_who_did_the_exercise(class_labs, tmp_path):
    before = _grade(tmp_path)
    assert before["ana"]["failed"] == 2 and before["beto"]["failed"] == 2
    _do_exercise_4(STUDENTS["ana"])
    wait_for_stream("ana", b"RETR", b"QUIT")
    after = _grade(tmp_path)
    assert (after["ana"]["passed"], after["ana"]["failed"]) == (2, 0), after["ana"]
    assert (after["beto"]["passed"], after["beto"]["failed"]) == (0, 2), after["beto"]
    report = json.loads((tmp_path / "ana.json").read_text())
    assert report["student"] == "ana" and report["exercise"] == "4"
    assert (tmp_path / "beto.xml").read_text().count("<failure") == 2


def test_reset_puts_a_student_back_to_the_start(class_labs, tmp_path):
    _do_exercise_4(STUDENTS["beto"])
    wait_for_stream("beto", b"RETR", b"QUIT")
    assert _grade(tmp_path)["beto"]["failed"] == 0
    result = CliRunner().invoke(app, ["reset", "--instance", "beto"])
    assert result.exit_code == 0, result.output
    assert _grade(tmp_path)["beto"]["passed"] == 0


def test_a_new_capture_ring_archives_the_old_files(class_labs, engine):
    """down then up (not reset, which clears the evidence) keeps the old ring aside."""
    from labctl.capture import lab_capture_files
    from labctl.paths import captures_dir

    before = {f.name: f.stat().st_size for f in lab_capture_files("beto")}
    project.down(engine, "beto", keep_data=True)
    result = CliRunner().invoke(app, ["up", "practica4", "--exercise", "4", "--instance", "beto", "--subnet", f"{STUDENTS['beto']}.0/24"])
    assert result.exit_code == 0, result.output
    archived = sorted((captures_dir("beto") / "previous").iterdir())[-1]
    assert {f.name for f in archived.iterdir()} == set(before)
    assert all(f.stat().st_size < 100_000 for f in lab_capture_files("beto"))
