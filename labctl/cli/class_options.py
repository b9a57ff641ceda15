"""The options of `labctl class` commands, and the class they name."""
from __future__ import annotations

import typer

from labctl.classroom import lifecycle
from labctl.classroom import record as records
from labctl.classroom.record import ClassRecord
from labctl.runtime.engine import LabError

NameOpt = typer.Option(None, "--name", "-n", help="The class (default: the only class recorded here).")
ParallelOpt = typer.Option(lifecycle.DEFAULT_PARALLEL, "--parallel", "-j", min=1, help="Labs handled at the same time.")


def chosen_class(name: str | None) -> ClassRecord:
    if name:
        return records.load(name)
    known = records.all_names()
    if not known:  # nothing to choose from: --name would not help
        raise LabError("no class is recorded here; start one with 'labctl class up ROSTER.csv --exercise N'")
    if len(known) > 1:
        raise LabError(f"say which class with --name (classes: {', '.join(known)})")
    return records.load(known[0])
