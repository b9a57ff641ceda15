"""labctl mail: the MTA's queue and log in a running lab."""
from __future__ import annotations

from typing import Optional

import typer

from labctl.cli.lab_cmds import DEFAULT_LAB, InstanceOpt, service_container
from labctl.cli.output import user_errors
from labctl.render.configs import MTA_CONFIG

app = typer.Typer(no_args_is_help=True, help="The mail server's queue and session/delivery log.")



def _inspector(what: str, summary: str):
    """One CLI command that runs the mail server's own inspector for `what` in its container."""

    def command(
        service: str = typer.Option("mail", "--service", "-s", help="The mail service."),
        lab: str = typer.Option(DEFAULT_LAB, "--lab"),
        instance: Optional[str] = InstanceOpt,
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output (the log: one JSON object a line)."),
    ) -> None:
        with user_errors():
            container = service_container(lab, instance, service)
            argv = ["python3", "-m", "labctl.mailserver.inspect", what, "--config", MTA_CONFIG]
            code, output = container.exec_run(argv + (["--json"] if as_json else []), user="vmail")
        print(output.decode(errors="replace"), end="")
        raise typer.Exit(code)

    command.__doc__ = summary
    return command


app.command("queue")(_inspector("queue", "Messages waiting in the MTA's queue, with each recipient's status and deferral reason."))
app.command("log")(_inspector("log", "Every SMTP session (commands, replies, queue IDs) and delivery attempt, a line each."))
