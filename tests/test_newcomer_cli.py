"""What a newcomer meets first, without an engine: errors shown as written in one line,
tables that never cut a value, and an instructor's roster names as they are."""
from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from labctl.checks.base import CheckResult, Status
from labctl.checks.report import Report
from labctl.classroom import record as records
from labctl.classroom.record import ClassRecord, StudentRecord
from labctl.cli import app, output
from labctl.spec.loader import lab_file, load_lab

runner = CliRunner()


@pytest.fixture
def narrow_terminal(monkeypatch):
    """An 80-column terminal, whatever the one running the tests is."""
    # The width field, not the property: undoing it then gives back "as the terminal is"
    # (restoring the property would pin the width a later test's COLUMNS must set).
    monkeypatch.setattr(output.console, "_width", 80)
    monkeypatch.setattr(output.err_console, "_width", 80)


def _lab(tmp_path, **top):
    data = yaml.safe_load(lab_file("practica4").read_text(encoding="utf-8"))
    data.update(top)
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_an_error_with_brackets_is_shown_as_written(tmp_path, narrow_terminal):
    """The expected pattern of a lab name is '[a-z0-9]...': rich markup ate it ('^{0,30}$')."""
    path = _lab(tmp_path, name="Práctica 4")
    result = runner.invoke(app, ["exercises", str(path)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}: name: String should match pattern '^[a-z0-9][a-z0-9-]{{0,30}}$' (got 'Práctica 4')\n"


def test_an_error_across_sections_names_its_field_first(tmp_path):
    """Not '(top level): services.mail.ip: ...': the field is the first thing said."""
    data = yaml.safe_load(lab_file("practica4").read_text(encoding="utf-8"))
    data["services"]["mail"]["ip"] = "172.28.1.90"
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["render", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}: services.mail.ip: 172.28.1.90 is not inside 172.28.0.0/24\n"
    assert not (tmp_path / "out").exists()


def test_paths_with_brackets_are_printed_as_written(tmp_path, monkeypatch):
    """A folder named like rich markup ('[red]', 'práctica [2024]') is a path, not a style."""
    monkeypatch.setenv("LABCTL_STATE_DIR", str(tmp_path / "estado [2024]"))
    out = tmp_path / "salida [red]x"
    result = runner.invoke(app, ["render", "--out", str(out), "--compose"])
    assert result.exit_code == 0, result.output
    assert f"rendered practica4 into {out}\n" in result.stdout
    assert f"wrote {out / 'docker-compose.yml'}\n" in result.stdout


def test_the_exercise_list_cuts_no_check_id(narrow_terminal):
    result = runner.invoke(app, ["exercises"])
    assert result.exit_code == 0
    assert "…" not in result.output
    squeezed = "".join(result.output.split())
    for number, exercise in load_lab("practica4").exercises.items():
        if exercise.lab is None:
            for check in exercise.checks:
                assert check.id in result.output or check.id in squeezed, (number, check.id)


def test_class_access_shows_roster_names_as_written(tmp_path, narrow_terminal):
    """Names come from a spreadsheet: '[TA]' was dropped as markup and '[/]' crashed the command."""
    record = ClassRecord.new("t-odd", str(lab_file("practica4").resolve()), "4", "10.132.0.0/23", str(tmp_path / "r.csv"), "127.0.0.1")
    names = {"ana": "Ana Díaz [TA]", "beto": "Beto [/] Paz"}
    for n, (student_id, name) in enumerate(names.items()):
        record.students.append(StudentRecord(id=student_id, name=name, instance=f"t-odd-{student_id}",
                                             subnet=f"10.132.{n}.0/24", ssh_port=22900 + n, ssh_password=f"pw{n}pw{n}pw{n}pw"))
    records.save(record)
    try:
        result = runner.invoke(app, ["class", "access", "--name", "t-odd", "--host", "lab.example", "--out", str(tmp_path / "sheets")])
    finally:
        records.remove(record.name)
    assert result.exit_code == 0, result.output
    table = result.output.split("──")[0]
    for n, name in enumerate(names.values()):
        assert name in table and f"pw{n}pw{n}pw{n}pw" in table
        assert f"({name})" in (tmp_path / "sheets" / f"{list(names)[n]}.txt").read_text(encoding="utf-8")


def test_check_json_carries_the_hint_the_text_shows():
    report = Report("practica4", "4", None, [
        CheckResult("mail-to-pop", "alumnopop recibió un correo", Status.FAIL, "no message", "Envíe un correo a alumnopop."),
        CheckResult("pop3-dialogue", "diálogo POP3", Status.PASS, "ok", "Capture la descarga."),
    ], 0.1)
    checks = json.loads(report.to_json())["checks"]
    assert [c["hint"] for c in checks] == ["Envíe un correo a alumnopop.", "Capture la descarga."]


@pytest.mark.parametrize("command", [["up", "--instance", "never-started"], ["start", "mail", "--instance", "never-started"]])
@pytest.mark.parametrize("timeout", ["0", "-5"])
def test_a_timeout_that_cannot_be_waited_is_refused_before_anything(tmp_path, command, timeout):
    """'did not say listening on within -5 s' was what `up --timeout -5` answered, after making the lab."""
    state = tmp_path / "state"
    result = CliRunner(env={"LABCTL_STATE_DIR": str(state)}).invoke(app, [*command, "--timeout", timeout])
    assert result.exit_code == 2 and "--timeout" in result.output and "greater than or equal to 1" in result.output, result.output
    assert not state.exists()


def test_check_report_keeps_wrapped_details_under_their_check():
    """In an 80-column terminal a long detail or hint wrapped to column 0, among the checks' titles."""
    from io import StringIO

    from rich.console import Console

    report = Report("practica4", "3", None, [
        CheckResult("reply", "la otra cuenta respondió", Status.FAIL, "no message between alumnopop and alumnoimap answers one the other had sent " * 2,
                    "Desde la cuenta que recibió el correo use «Responder»: la respuesta va a la otra cuenta " * 2),
    ], 0.1)
    out = StringIO()
    report.print(Console(file=out, width=80, color_system=None))
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("✘ fail  la otra cuenta respondió")
    body = lines[2:-1]
    assert len(body) >= 4 and all(line.startswith(" " * 8) for line in body), lines
    assert any(line.startswith(" " * 8 + "pista: ") for line in body)


@pytest.mark.parametrize(("fqdn", "expected"), [("localhost", "192.0.2.10"), ("vm", "192.0.2.10"), ("lab.fi.example.edu", "lab.fi.example.edu")])
def test_class_access_sends_students_to_a_host_they_can_reach(tmp_path, monkeypatch, fqdn, expected):
    """A sheet saying 'ssh alumno@localhost' sends each student to their own machine."""
    import socket

    monkeypatch.setattr(socket, "getfqdn", lambda *_: fqdn)
    record = ClassRecord.new("t-host", str(lab_file("practica4").resolve()), "4", "10.134.0.0/24", str(tmp_path / "r.csv"), "192.0.2.10")
    record.students.append(StudentRecord(id="ana", instance="t-host-ana", subnet="10.134.0.0/24", ssh_port=22950, ssh_password="pwpwpwpwpw"))
    records.save(record)
    try:
        result = runner.invoke(app, ["class", "access", "--name", "t-host", "--out", str(tmp_path / "sheets")])
    finally:
        records.remove(record.name)
    assert result.exit_code == 0, result.output
    assert f"ssh -p 22950 alumno@{expected}\n" in (tmp_path / "sheets" / "ana.txt").read_text(encoding="utf-8")


def test_render_prints_paths_whole(tmp_path, narrow_terminal):
    """A path longer than the terminal was broken over two lines: no use to copy."""
    out = tmp_path / ("a-folder-with-a-long-name-" * 3) / "render"
    result = runner.invoke(app, ["render", "--instance", "newcomer-render", "--out", str(out), "--compose"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"rendered practica4 into {out}", f"wrote {out / 'docker-compose.yml'}"]


def test_exercise_numbers_written_as_yaml_numbers(tmp_path):
    """`3:` rather than `"3":` (what a lab author writes): the exercises are the same."""
    data = yaml.safe_load(lab_file("practica4").read_text(encoding="utf-8"))
    data["exercises"] = {int(number): exercise for number, exercise in data["exercises"].items()}
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert list(load_lab(path).exercises) == list(load_lab("practica4").exercises)
    assert load_lab(path, "7") == load_lab("practica4", "7")


@pytest.mark.parametrize(("text", "got"), [("", "an empty file"), ("# only a comment\n", "an empty file"), ("- a\n", "a list")])
def test_a_lab_file_that_is_no_mapping(tmp_path, text, got):
    path = tmp_path / "lab.yaml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["exercises", str(path)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}: expected a mapping at the top level (name:, title:, network:, ...), got {got}\n"


def test_a_roster_file_name_docker_cannot_use_asks_for_a_name(tmp_path):
    """The class is named after the roster's file: 'alumnos 2024.csv' was reported as a bad --name, never given."""
    roster = tmp_path / "alumnos 2024.csv"
    roster.write_text("id\nana\n", encoding="utf-8")
    result = runner.invoke(app, ["class", "up", str(roster), "--exercise", "4"])
    assert result.exit_code == 2
    assert result.stderr == (f"error: {roster}: the class is named after this file, 'alumnos 2024', which Docker cannot use as a name; "
                             "give --name NAME (1 to 32 letters, digits, '_', '.' or '-', starting with a letter or digit)\n")
    assert "alumnos 2024" not in records.all_names()


@pytest.mark.parametrize(("bind", "expected"), [("abc", "--ssh-bind 'abc': expected an IPv4 address of this host"),
                                                ("192.0.2.77", "--ssh-bind 192.0.2.77: not an address of this host")])
def test_class_ssh_bind_is_checked_before_anything(tmp_path, bind, expected):
    """--ssh-bind abc was a pydantic traceback from every student's lab, after the class was recorded."""
    roster = tmp_path / "t-bind.csv"
    roster.write_text("id\nana\n", encoding="utf-8")
    result = runner.invoke(app, ["class", "up", str(roster), "--exercise", "4", "--ssh-bind", bind])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.startswith(f"error: {expected}") and result.stderr.count("\n") == 1
    assert "t-bind" not in records.all_names()


def test_a_student_id_that_cannot_make_the_students_domain_starts_nothing(tmp_path):
    """Exercise 10's domain is '{id}.com.ar': 'ana_diaz' passed the roster, then that
    student's lab failed on 'ns1.ana_diaz.com.ar' after the class was recorded and the others started."""
    roster = tmp_path / "t-dom.csv"
    roster.write_text("id\nana\nana_diaz\n", encoding="utf-8")
    result = runner.invoke(app, ["class", "up", str(roster), "--exercise", "10"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {roster}: line 3: field 'id': 'ana_diaz' cannot make this lab's domain 'ana_diaz.com.ar': "
                                    "services.ns1.hostname: expected a host name") and result.stderr.count("\n") == 1
    assert "t-dom" not in records.all_names()
    # The same roster is fine for an exercise whose values do not come from the id.
    from labctl.classroom.lifecycle import student_id_rule
    from labctl.classroom.roster import read_roster

    assert [s.id for s in read_roster(roster, student_id_rule("t-dom", str(lab_file("practica4")), "4"))] == ["ana", "ana_diaz"]


@pytest.mark.parametrize("command", [["status"], ["grade"], ["down"], ["reset", "--all"], ["access"]])
def test_a_class_command_before_any_class_says_how_to_start_one(tmp_path, monkeypatch, command):
    """Not 'say which class with --name': with no class recorded, no name would do."""
    monkeypatch.setenv("LABCTL_STATE_DIR", str(tmp_path))
    result = runner.invoke(app, ["class", *command])
    assert result.exit_code == 1
    assert result.stderr == "error: no class is recorded here; start one with 'labctl class up ROSTER.csv --exercise N'\n"


def test_render_into_a_file_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    """Not 'error: …: File exists' (mkdir's words) after the lab CA was already made."""
    monkeypatch.setenv("LABCTL_STATE_DIR", str(tmp_path / "state"))
    target = tmp_path / "configs"
    target.write_text("mine\n", encoding="utf-8")
    result = runner.invoke(app, ["render", "--out", str(target)])
    assert result.exit_code == 2
    assert result.stderr == f"error: --out {target}: is a file; expected a folder to write the configuration into\n"
    assert target.read_text(encoding="utf-8") == "mine\n" and not (tmp_path / "state").exists()
