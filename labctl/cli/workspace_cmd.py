"""labctl workspace / labctl apply: the student's own configuration (exercise 10)."""
from __future__ import annotations

from typing import Optional

import typer

from labctl.cli.lab_cmds import DEFAULT_LAB, InstanceOpt, _instance
from labctl.cli.output import console, user_errors
from labctl.runtime import project
from labctl.runtime.engine import client
from labctl.workspace.apply import apply as apply_workspace
from labctl.workspace.layout import Layout

LabOpt = typer.Option(DEFAULT_LAB, "--lab", help="Lab name or path to a lab.yaml.")


def _layout(lab: str, instance: str | None) -> tuple[str, Layout]:
    name = _instance(lab, instance)
    layout = Layout.of(project.Origin.load(name).spec(), name)
    layout.spec  # a lab without a workspace stops here (its folder would be an empty promise)
    return name, layout


def workspace(lab: str = LabOpt, instance: Optional[str] = InstanceOpt) -> None:
    """The folder where you write your domain's configuration (zone, BIND, registration, answers)."""
    with user_errors():
        _, layout = _layout(lab, instance)
        print(layout.dirs.workspace)


def apply(lab: str = LabOpt, instance: Optional[str] = InstanceOpt) -> None:
    """Check your workspace with BIND's own tools, install it and reload the servers.

    The lab keeps running; a file with an error changes nothing."""
    with user_errors():
        name, layout = _layout(lab, instance)
        result = apply_workspace(client(), layout, name, project.config_dir(name))
        console.print(f"[green]applied[/] {len(result.installed)} file(s); reloaded {', '.join(result.reloaded)}", highlight=False)
        for secondary, serial in result.behind.items():
            console.print(f"note: {secondary} still serves serial {serial} of {layout.domain}, not the primary's: "
                          "a secondary copies the zone when its serial goes up, if the primary allows it the transfer",
                          highlight=False)


# The root (labctl.cli) lists these commands and imports this module to run one.
app = typer.Typer()
app.command()(workspace)
app.command()(apply)
