"""labctl class down."""
from __future__ import annotations

from typing import Optional

import typer

from labctl.classroom import lifecycle
from labctl.cli.class_options import NameOpt, ParallelOpt, chosen_class
from labctl.cli.class_progress import exit_on_failures, with_progress
from labctl.cli.output import console, user_errors
from labctl.runtime.engine import client

def command(
    name: Optional[str] = NameOpt,
    purge: bool = typer.Option(False, "--purge", help="Also remove the students' state (captures, keys), the reports and the class record."),
    parallel: int = ParallelOpt,
) -> None:
    """Take every student's lab down; the class stays recorded unless --purge."""
    with user_errors():
        record = chosen_class(name)
        engine = client()
        outcomes = with_progress(f"class {record.name} down", len(record.students),
                                  lambda done: lifecycle.take_down(engine, record, purge, parallel, done))
        what = "purged" if purge else "down (recorded: 'labctl class up' brings it back with the same subnets and passwords)"
        console.print(f"class {record.name} {what}", highlight=False, soft_wrap=True)
        exit_on_failures(outcomes, "come down")
