"""labctl apply."""
from __future__ import annotations

from typing import Optional

from labctl.cli.lab_options import InstanceOpt, LabOpt
from labctl.cli.output import console, user_errors
from labctl.cli.workspace_layout import instance_layout
from labctl.runtime import project
from labctl.runtime.engine import client
from labctl.workspace.apply import apply as apply_workspace


def command(lab: str = LabOpt, instance: Optional[str] = InstanceOpt) -> None:
    """Check your workspace with BIND's own tools, install it and reload the servers.

    The lab keeps running; a file with an error changes nothing."""
    with user_errors():
        name, layout = instance_layout(lab, instance)
        result = apply_workspace(client(), layout, name, project.config_dir(name))
        console.print(f"[green]applied[/] {len(result.installed)} file(s); reloaded {', '.join(result.reloaded)}", highlight=False)
        for secondary, serial in result.behind.items():
            console.print(f"note: {secondary} still serves serial {serial} of {layout.domain}, not the primary's: "
                          "a secondary copies the zone when its serial goes up, if the primary allows it the transfer",
                          highlight=False)
        if result.stale:
            console.print(f"note: {result.stale}", highlight=False)
