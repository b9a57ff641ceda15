"""labctl reset."""
from __future__ import annotations

from typing import Optional

from labctl.cli.lab_options import InstanceOpt, LabArg, instance_name
from labctl.cli.output import console, user_errors
from labctl.runtime import project
from labctl.runtime.engine import client


EXAMPLES = (
    'labctl reset --instance ana',
)


def command(
    lab: str = LabArg,
    instance: Optional[str] = InstanceOpt,
) -> None:
    """Put a lab back as it was first brought up, so that nothing stale is graded.

    Fresh containers, empty mailboxes, no capture or log of the previous attempt."""
    with user_errors():
        name = instance_name(lab, instance)
        engine = client()
        with console.status(f"resetting {name}…"):
            result = project.reset(engine, name)
        console.print(f"[green]lab {name} reset[/] in {result.seconds:.1f} s")
