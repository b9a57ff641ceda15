"""labctl exec."""
from __future__ import annotations

from typing import Optional

import typer

from labctl.cli.lab_options import InstanceOpt, LabOpt, service_container
from labctl.cli.output import user_errors


def command(
    service: str = typer.Argument(..., help="Service name, e.g. client."),
    command: list[str] = typer.Argument(..., help="Command to run (after --)."),
    lab: str = LabOpt,
    instance: Optional[str] = InstanceOpt,
) -> None:
    """Run a command inside a service's container."""
    with user_errors():
        container = service_container(lab, instance, service)
        code, output = container.exec_run(command, demux=False)
        print(output.decode(errors="replace"), end="")
        raise typer.Exit(code)
