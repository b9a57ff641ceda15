"""labctl mail: the MTA's queue and log in a running lab."""
from __future__ import annotations

from typing import Optional

import typer

from labctl.cli.lab_cmds import DEFAULT_LAB, InstanceOpt, service_container
from labctl.cli.output import user_errors
from labctl.render.configs import config_mount
from labctl.spec.models import Role

app = typer.Typer(no_args_is_help=True, help="The mail server's queue and session/delivery log.")

MTA_CONFIG = f"{config_mount(Role.mail)}/mta.yaml"


def _inspect(what: str, service: str, lab: str, instance: Optional[str], as_json: bool) -> None:
    with user_errors():
        container = service_container(lab, instance, service)
        command = ["python3", "-m", "labctl.mailserver.inspect", what, "--config", MTA_CONFIG]
        code, output = container.exec_run(command + (["--json"] if as_json else []), user="vmail")
    print(output.decode(errors="replace"), end="")
    raise typer.Exit(code)


@app.command()
def queue(
    service: str = typer.Option("mail", "--service", "-s", help="The mail service."),
    lab: str = typer.Option(DEFAULT_LAB, "--lab"),
    instance: Optional[str] = InstanceOpt,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Messages waiting in the MTA's queue, with each recipient's status and deferral reason."""
    _inspect("queue", service, lab, instance, as_json)


@app.command()
def log(
    service: str = typer.Option("mail", "--service", "-s", help="The mail service."),
    lab: str = typer.Option(DEFAULT_LAB, "--lab"),
    instance: Optional[str] = InstanceOpt,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Every SMTP session (commands, replies, queue IDs) and delivery attempt, as JSON lines."""
    _inspect("log", service, lab, instance, as_json)
