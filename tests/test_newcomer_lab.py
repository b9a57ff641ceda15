"""A newcomer on a real lab: a report file in a folder that does not exist is one line
(the checks' result still shown), `check --json` carries the hints, and `status` in an
80-column terminal shows every container and image name whole."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from labctl.cli import app, output

INSTANCE = "newcomer"
NET = "172.31.238"
runner = CliRunner()


@pytest.fixture
def narrow_terminal(monkeypatch):
    monkeypatch.setattr(output.console, "width", 80)
    monkeypatch.setattr(output.err_console, "width", 80)


def test_junit_into_a_missing_folder_is_one_line(moved_practica4, tmp_path):
    target = tmp_path / "no-such-folder" / "informe.xml"
    result = runner.invoke(app, ["check", "--instance", INSTANCE, "--exercise", "4", "--junit", str(target)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert result.stderr == f"error: {target}: No such file or directory\n"


def test_check_json_has_each_checks_hint(moved_practica4):
    result = runner.invoke(app, ["check", "--instance", INSTANCE, "--exercise", "4", "--json"])
    assert result.exit_code == 1  # a fresh lab: nothing done yet
    checks = json.loads(result.stdout)["checks"]
    hints = {c.id: c.hint for c in moved_practica4.exercises["4"].checks}
    assert [c["status"] for c in checks] == ["fail", "fail"]
    assert {c["id"]: c["hint"] for c in checks} == hints and all(hints.values())


def column(table: str, index: int) -> str:
    """A column of a rich table, its cells' lines joined: a value folded over lines is whole again."""
    return "".join(line.split("│")[index + 1].strip() for line in table.splitlines() if line.count("│") > index + 1)


def test_status_cuts_no_name(moved_practica4, narrow_terminal):
    result = runner.invoke(app, ["status", "--instance", INSTANCE])
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    containers, images = column(result.output, 1), column(result.output, 4)
    for service in moved_practica4.services:
        assert f"{INSTANCE}-{service}" in containers
    assert images.count(":") == len(moved_practica4.services) + 1  # the capture sidecar too
