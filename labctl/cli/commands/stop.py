"""labctl stop."""
from __future__ import annotations

from typing import Optional

import typer

from labctl.cli.lab_options import InstanceOpt, LabOpt, service_container
from labctl.cli.output import console, user_errors


def command(
    service: str = typer.Argument(..., help="Service name, e.g. mail."),
    lab: str = LabOpt,
    instance: Optional[str] = InstanceOpt,
) -> None:
    """Stop one service; its data (mailboxes, queue) is kept for 'labctl start'."""
    with user_errors():
        container = service_container(lab, instance, service, must_run=False)
        container.stop(timeout=10)
        console.print(f"stopped {service}", highlight=False)
