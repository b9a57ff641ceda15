"""labctl logs."""
from __future__ import annotations

from typing import Optional

import typer

from labctl.cli.lab_options import InstanceOpt, LabOpt, service_container
from labctl.cli.output import print_lines, user_errors


EXAMPLES = (
    'labctl logs mail',
    'labctl logs dns-redes --tail 50',
)


def command(
    service: str = typer.Argument(..., help="Service name, e.g. mail."),
    lab: str = LabOpt,
    instance: Optional[str] = InstanceOpt,
    tail: int = typer.Option(200, help="Lines from the end."),
) -> None:
    """The service's log (its container's output)."""
    with user_errors():
        container = service_container(lab, instance, service, must_run=False)  # a crashed service's log matters most
        # Servers log what clients sent them (Dovecot a login name as typed, C1 controls included).
        print_lines(container.logs(tail=tail).decode(errors="replace"))
