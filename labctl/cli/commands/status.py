"""labctl status."""
from __future__ import annotations

import json
from dataclasses import asdict
from typing import Optional

import typer

from labctl.cli.lab_options import InstanceOpt, LabArg, instance_name
from labctl.cli.output import cells, console, table as new_table, user_errors
from labctl.runtime import project
from labctl.runtime.engine import client


def command(
    lab: str = LabArg,
    instance: Optional[str] = InstanceOpt,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The lab's containers and their state."""
    with user_errors():
        name = instance_name(lab, instance)
        rows = project.status(client(), name)
        if as_json:
            print(json.dumps({"lab": name, "services": [asdict(r) for r in rows]}, indent=2))
        elif rows:
            table = new_table(f"lab {name}", "service", "container", "state", "IP", "image")
            for r in rows:
                state = r.state if r.attached else f"{r.state}, off the lab network"
                service, container, state, ip, image = cells(r.service, r.name, state, r.ip, r.image)
                table.add_row(service, container, f"[{'green' if r.healthy else 'red'}]{state}[/]", ip, image)
            console.print(table)
        else:
            console.print(f"lab {name} is not up")
        # Scripts can ask "is it all up?" either way: 0 only when every service runs, attached.
        raise typer.Exit(0 if rows and all(r.healthy for r in rows) else 1)
