"""labctl class reset."""
from __future__ import annotations

from typing import Optional

import typer

from labctl.classroom import lifecycle
from labctl.cli.class_options import NameOpt, ParallelOpt, chosen_class
from labctl.cli.class_progress import exit_on_failures, with_progress
from labctl.cli.output import console, user_errors
from labctl.runtime.engine import client
from labctl.spec.loader import LabSpecError


EXAMPLES = (
    'labctl class reset ana beto',
    'labctl class reset --all',
)


def command(
    students: Optional[list[str]] = typer.Argument(None, help="Ids of the students whose lab starts over."),
    all_: bool = typer.Option(False, "--all", help="Every student of the class."),
    name: Optional[str] = NameOpt,
    parallel: int = ParallelOpt,
) -> None:
    """Fresh lab, same subnet and passwords; no capture, log or report of the previous attempt."""
    with user_errors():
        if bool(students) == all_:
            raise LabSpecError("labctl class reset: expected student ids or --all (one of them)")
        record = chosen_class(name)
        chosen = record.students if all_ else [record.student(s) for s in students]
        engine = client()
        outcomes = with_progress(f"class {record.name} reset", len(chosen),
                                  lambda done: lifecycle.reset(engine, record, chosen, parallel, done))
        console.print(f"[green]{sum(o.error is None for o in outcomes)}/{len(chosen)} labs reset[/]", highlight=False)
        exit_on_failures(outcomes, "reset")
