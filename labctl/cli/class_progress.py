"""Work on many students' labs under a progress bar, and the failures it leaves."""
from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from labctl.classroom.lifecycle import Outcome
from labctl.cli.output import console, print_error

def with_progress(title: str, count: int, work) -> list[Outcome]:
    """Run `work(progress_callback)` under a progress bar; failures are printed as they come."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(title, total=count)

        def done(student_id: str, error: str | None) -> None:
            if error:
                bar.console.print(Text.assemble((f"✘ {student_id}", "red"), f": {error}"), highlight=False, soft_wrap=True)
            bar.advance(task)

        return work(done)


def exit_on_failures(outcomes: list[Outcome], what: str) -> None:
    failed = [o for o in outcomes if o.error]
    if failed:
        print_error(f"{len(failed)} of {len(outcomes)} lab(s) failed to {what}: {', '.join(o.student for o in failed)}")
        raise typer.Exit(1)
