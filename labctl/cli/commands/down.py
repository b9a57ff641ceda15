"""labctl down."""
from __future__ import annotations

from typing import Optional

import typer

from labctl.cli.lab_options import InstanceOpt, LabArg, instance_name
from labctl.cli.output import console, user_errors
from labctl.paths import lab_state_dir
from labctl.runtime import project
from labctl.runtime.engine import client


EXAMPLES = (
    'labctl down',
    'labctl down --keep-data  # the mailboxes stay for the next up',
    'labctl down --instance ana --purge  # also captures, keys and the lab CA',
)


def command(
    lab: str = LabArg,
    instance: Optional[str] = InstanceOpt,
    keep_data: bool = typer.Option(False, "--keep-data", help="Keep the mailboxes and mail queue volumes."),
    purge: bool = typer.Option(False, "--purge", help="Also remove the instance's state folder (captures, keys, lab CA)."),
) -> None:
    """Remove everything the lab created (found by its labels)."""
    with user_errors():
        name = instance_name(lab, instance)
        result = project.down(client(), name, keep_data=keep_data, purge=purge)
        purged = f"; removed {lab_state_dir(name)}" if result.purged else ""
        if not result.existed:
            console.print(f"there is no lab {name} on this host (nothing of it on the engine, no state folder); "
                          "nothing to remove", highlight=False, soft_wrap=True)
            return
        if not result.removed_anything:
            console.print(f"lab {name} is not up; nothing to remove{purged}", highlight=False, soft_wrap=True)
            return
        kept = f", kept {len(result.kept_volumes)} volume(s)" if result.kept_volumes else ""
        console.print(f"removed {result.containers} container(s), {result.networks} network(s), {result.volumes} volume(s){kept}{purged}", highlight=False, soft_wrap=True)
