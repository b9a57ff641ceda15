"""Instructors: two students' labs side by side on one host, graded at once."""
from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from capturewait import wait_for_stream
from exercise4 import download_over_pop, send_to_pop
from labctl.checks import CheckContext
from labctl.cli import app
from labctl.runtime import project
from labctl.runtime.containers import find_containers
from labctl.spec.loader import load_lab

STUDENTS = {"ana": "172.29.40", "beto": "172.29.41"}
POP = "alumnopop@redes.unlp.edu.ar"


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
    from labctl.capture import capture_files, lab_capture_files
    from labctl.paths import captures_dir

    before = {f.name: f.stat().st_size for f in lab_capture_files("beto")}
    project.down(engine, "beto", keep_data=True)
    result = CliRunner().invoke(app, ["up", "practica4", "--exercise", "4", "--instance", "beto", "--subnet", f"{STUDENTS['beto']}.0/24"])
    assert result.exit_code == 0, result.output
    archived = sorted((captures_dir("beto") / "previous").iterdir())[-1]
    assert {f.name for f in capture_files(archived)} == set(before)  # the ring's counters (.stats) go along
    assert all(f.stat().st_size < 100_000 for f in lab_capture_files("beto"))


# Mail anyone can send to port 25 without authentication, each once crashing `check`.
HOSTILE = r'''
import smtplib, sys
nested = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(1000))
parts = "Content-Type: multipart/mixed; boundary=zz\r\n\r\n" + "--zz\r\nContent-Type: image/png\r\n\r\nx\r\n" * 5000 + "--zz--\r\n"
comments = "(" * 5000 + "x" + ")" * 5000
huge = "Content-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n" + ("/9j/4AAQ" * 9 + "\r\n") * 130000
messages = {
    "message-id": "Message-ID: <<>>@@\r\nSubject: id roto\r\n\r\nhola\r\n",
    "nested": "Subject: anidado\r\nMIME-Version: 1.0\r\n" + nested,
    "parts": "Subject: partes\r\nMIME-Version: 1.0\r\n" + parts,
    "comments": "From: " + comments + " <x@elsewhere.example>\r\nSubject: comentarios\r\n\r\nhola\r\n",
    "huge": "Subject: enorme\r\nMIME-Version: 1.0\r\n" + huge,
}
with smtplib.SMTP(sys.argv[1], 25, timeout=120) as smtp:
    for name, text in messages.items():
        smtp.sendmail("x@elsewhere.example", ["alumnopop@redes.unlp.edu.ar"], text.encode())
        print(name, "sent")
'''


def test_hostile_mail_never_stops_a_check_or_the_grading(class_labs, engine, tmp_path):
    net = STUDENTS["beto"]
    client = find_containers(engine, "beto")["client"]
    code, output = client.exec_run(["python3", "-c", HOSTILE, f"{net}.90"])
    assert code == 0, output.decode(errors="replace")[-2000:]
    lab = load_lab("practica4", "4", f"{net}.0/24")
    deadline = time.monotonic() + 30
    while len(CheckContext(engine, lab, "beto").deliveries(POP)) < 5:
        assert time.monotonic() < deadline, "the hostile messages were not all delivered"
        time.sleep(0.5)
    context = CheckContext(engine, lab, "beto")
    unread = sorted(str(u).split(": ", 1)[1] for u in context.unread_messages(POP))
    assert unread == ["more than 100 nested multipart containers", "more than 200 MIME parts"]
    assert {m.summary.subject for m in context.messages(POP)} == {"id roto", "comentarios", "enorme"}
    result = CliRunner().invoke(app, ["check", "--instance", "beto", "--json"])
    assert result.exit_code in (0, 1), result.output
    checks = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["mail-to-pop"]["status"] == "pass", checks
    rows = _grade(tmp_path)
    assert rows["ana"]["error"] is None and rows["beto"]["error"] is None
    assert rows["beto"]["exercise"] == "4" and rows["beto"]["passed"] >= 1
