"""The instructor's side of the class tests: `labctl class` through the CLI, and a
class brought up for a test module and purged after it."""
from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from labctl.classroom import record as records
from labctl.cli import app


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def class_up(folder: Path, name: str, roster: str, *options: str):
    """Bring the class up from `roster` (CSV text), yield its record, purge it."""
    path = folder / f"{name}.csv"
    path.write_text(roster, encoding="utf-8")
    if name in records.all_names():  # a previous run killed half-way
        CliRunner().invoke(app, ["class", "down", "--name", name, "--purge"])
    cli("class", "up", str(path), "--exercise", "4", *options)
    yield records.load(name)
    cli("class", "down", "--name", name, "--purge")
    assert name not in records.all_names()
