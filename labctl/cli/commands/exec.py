"""labctl exec."""
from __future__ import annotations

from typing import Optional

import typer

from labctl.cli.lab_options import InstanceOpt, LabOpt, service_container
from labctl.cli.output import user_errors


EXAMPLES = (
    'labctl exec client -- dig www.redes.unlp.edu.ar',
    'labctl exec client -- swaks --to alumnoimap@redes.unlp.edu.ar --server mail.redes.unlp.edu.ar',
)


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
