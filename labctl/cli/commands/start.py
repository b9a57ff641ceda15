"""labctl start."""
from __future__ import annotations

from typing import Optional

import typer

from labctl.cli.lab_options import InstanceOpt, LabOpt, instance_name, service_container
from labctl.cli.output import console, user_errors
from labctl.runtime import project
from labctl.runtime.engine import client


def command(
    service: str = typer.Argument(..., help="Service name, e.g. mail."),
    lab: str = LabOpt,
    instance: Optional[str] = InstanceOpt,
    timeout: float = typer.Option(project.READY_TIMEOUT, min=1, help="Seconds to wait for the service to answer."),
) -> None:
    """Start a stopped service again and wait until it answers."""
    with user_errors():
        name = instance_name(lab, instance)
        service_container(lab, instance, service, must_run=False)  # a lab that is not up, a service it lacks: one line
        seconds = project.start_service(client(), name, service, timeout)
        console.print(f"started {service} in {seconds:.1f} s", highlight=False)
