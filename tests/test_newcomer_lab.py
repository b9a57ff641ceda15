"""A newcomer on a real lab: a report file in a folder that does not exist is one line
(the checks' result still shown), `check --json` carries the hints, and `status` in an
80-column terminal shows every container and image name whole."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from labctl.cli import app, output
from labctl.spec.loader import load_lab

INSTANCE = "newcomer"
NET = "172.31.238"
runner = CliRunner()


@pytest.fixture(scope="module")
def lab(engine):
    """practica4 on its own subnet, brought up as a user does (so start and reset find its origin)."""
    runner.invoke(app, ["down", "--instance", INSTANCE])  # a previous run killed half-way
    result = runner.invoke(app, ["up", "--instance", INSTANCE, "--subnet", f"{NET}.0/24"])
    assert result.exit_code == 0, result.output
    yield load_lab("practica4", None, f"{NET}.0/24")
    assert runner.invoke(app, ["down", "--instance", INSTANCE, "--purge"]).exit_code == 0


@pytest.fixture
def narrow_terminal(monkeypatch):
    # The width field, not the property: undoing it then gives back "as the terminal is"
    # (restoring the property would pin the width a later test's COLUMNS must set).
    monkeypatch.setattr(output.console, "_width", 80)
    monkeypatch.setattr(output.err_console, "_width", 80)


def test_junit_into_a_missing_folder_is_one_line(lab, tmp_path):
    target = tmp_path / "no-such-folder" / "informe.xml"
    result = runner.invoke(app, ["check", "--instance", INSTANCE, "--exercise", "4", "--junit", str(target)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert result.stderr == f"error: {target}: No such file or directory\n"


def test_check_json_has_each_checks_hint(lab):
    result = runner.invoke(app, ["check", "--instance", INSTANCE, "--exercise", "4", "--json"])
    assert result.exit_code == 1  # a fresh lab: nothing done yet
    checks = json.loads(result.stdout)["checks"]
    hints = {c.id: c.hint for c in lab.exercises["4"].checks}
    assert [c["status"] for c in checks] == ["fail", "fail"]
    assert {c["id"]: c["hint"] for c in checks} == hints and all(hints.values())


def column(table: str, index: int) -> str:
    """A column of a rich table, its cells' lines joined: a value folded over lines is whole again."""
    return "".join(line.split("│")[index + 1].strip() for line in table.splitlines() if line.count("│") > index + 1)


def test_status_cuts_no_name(lab, narrow_terminal):
    result = runner.invoke(app, ["status", "--instance", INSTANCE])
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    containers, images = column(result.output, 1), column(result.output, 4)
    for service in lab.services:
        assert f"{INSTANCE}-{service}" in containers
    assert images.count(":") == len(lab.services) + 1  # the capture sidecar too


def test_a_stopped_service_says_how_to_start_it_in_this_lab(lab):
    """Not "run 'labctl up'": that brings up another lab (practica4) beside this one."""
    assert runner.invoke(app, ["stop", "http", "--instance", INSTANCE]).exit_code == 0
    try:
        result = runner.invoke(app, ["exec", "http", "--instance", INSTANCE, "--", "true"])
        assert result.exit_code == 1
        assert result.stderr == (f"error: service 'http' of lab {INSTANCE} is exited; start it with 'labctl start http --instance {INSTANCE}' "
                                 f"(its log: 'labctl logs http --instance {INSTANCE}')\n")
    finally:
        assert runner.invoke(app, ["start", "http", "--instance", INSTANCE]).exit_code == 0
    assert runner.invoke(app, ["exec", "http", "--instance", INSTANCE, "--", "true"]).exit_code == 0


@pytest.mark.parametrize("command", [["logs", "mail"], ["exec", "client", "--", "true"], ["start", "mail"], ["mail", "queue"]])
def test_a_lab_that_is_not_up_is_one_line(engine, command):
    result = runner.invoke(app, [*command, "--instance", "never-up-here"] if command[0] != "exec" else
                           ["exec", "client", "--instance", "never-up-here", "--", "true"])
    assert result.exit_code == 1
    assert result.stderr == "error: lab never-up-here is not up: 'labctl list' shows the labs that are\n"


def test_mail_log_is_what_its_help_says(lab):
    """The help said 'as JSON lines'; plain output is text lines, --json gives one JSON object a line."""
    assert "JSON lines" not in runner.invoke(app, ["mail", "log", "--help"]).output
    plain = runner.invoke(app, ["mail", "log", "--instance", INSTANCE])
    as_json = runner.invoke(app, ["mail", "log", "--instance", INSTANCE, "--json"])
    assert plain.exit_code == 0 and as_json.exit_code == 0
    lines = plain.stdout.splitlines()
    assert lines and not any(line.startswith("{") for line in lines)
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(events) >= len(lines) and {"listening", "connect"} <= {e["event"] for e in events}


@pytest.mark.parametrize("exercise", ["7", "10"])
def test_checking_an_exercise_this_network_does_not_run_says_how_to_get_it(lab, exercise):
    """Exercise 10's checks live in its own lab: on the reference network none ran and
    'check -e 10' said '0/0 checks pass', exit 0; exercise 7's looked for a second domain."""
    result = runner.invoke(app, ["check", "--instance", INSTANCE, "--exercise", exercise])
    assert result.exit_code == 2, result.output
    assert result.stderr == (f"error: lab {INSTANCE} runs the reference network; exercise {exercise} needs its own: "
                             f"'labctl down --instance {INSTANCE}', then 'labctl up --exercise {exercise} --instance {INSTANCE} --subnet {NET}.0/24'\n")
    # An exercise of the same network is checked as ever.
    assert "0/2 checks pass" in runner.invoke(app, ["check", "--instance", INSTANCE, "--exercise", "5"]).output


def test_workspace_of_a_lab_without_one_is_an_error(lab):
    result = runner.invoke(app, ["workspace", "--instance", INSTANCE])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == "error: lab practica4 has no workspace: only exercise 10 has one ('labctl up --exercise 10')\n"


def test_images_list_shows_the_base_image_too(engine):
    """What bootstrap makes first and every image is built from: a newcomer checks it here."""
    result = runner.invoke(app, ["images", "list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["labctl/base:bookworm", "present"] and len(lines) == 7


def test_check_of_a_lab_that_is_not_up_names_the_ones_that_are(lab, engine):
    """A student who brought the lab up with --instance, then ran a bare `labctl check`."""
    from labctl.cli.commands.check import labs_up
    from labctl.runtime.project import instances

    result = runner.invoke(app, ["check", "--instance", "never-up-here"])
    assert result.exit_code == 1
    up = instances(engine)
    assert INSTANCE in up
    assert result.stderr == f"error: lab never-up-here is not up: run 'labctl up --exercise N' first{labs_up(up)}\n"
    assert labs_up(["a", "b"]) == " (up here: a, b; say which with --instance)"
    assert labs_up([f"s{n}" for n in range(7)]) == " (up here: s0, s1, s2, s3, s4 and 2 more; say which with --instance)"
    assert labs_up([]) == ""


def test_a_file_handed_to_an_exercise_that_asks_for_none_is_refused(lab, tmp_path):
    """Ignored, the report's silence read as the file's approval; a folder is named as one."""
    handed = tmp_path / "foto.jpg"
    handed.write_bytes(b"\xff\xd8\xff")
    result = runner.invoke(app, ["check", "--instance", INSTANCE, "--exercise", "4", "--file", str(handed)])
    assert result.exit_code == 2
    assert result.stderr == f"error: --file {handed}: exercise 4 asks for no file; --file is for exercise 3\n"
    result = runner.invoke(app, ["check", "--instance", INSTANCE, "--exercise", "3", "--file", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == f"error: --file {tmp_path}: is a folder; expected the file the exercise asks you to hand in\n"
