"""`labctl mail queue|log`: the mail server's own inspector, run in its container."""
from __future__ import annotations

import typer

from labctl.cli.lab_options import service_container
from labctl.cli.output import print_lines, user_errors
from labctl.render.configs import MTA_CONFIG

ServiceOpt = typer.Option("mail", "--service", "-s", help="The mail service.")
JsonOpt = typer.Option(False, "--json", help="Machine-readable output (the log: one JSON object a line).")


def run_inspector(what: str, service: str, lab: str, instance: str | None, as_json: bool) -> None:
    with user_errors():
        container = service_container(lab, instance, service)
        argv = ["python3", "-m", "labctl.mailserver.inspect", what, "--config", MTA_CONFIG]
        code, output = container.exec_run(argv + (["--json"] if as_json else []), user="vmail")
    # Addresses, commands and remote servers' replies are anyone's text.
    print_lines(output.decode(errors="replace"))
    raise typer.Exit(code)
