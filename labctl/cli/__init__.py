"""The labctl command line: one typer app, with a sub-app per area."""
from __future__ import annotations

import typer

from labctl.cli import capture_cmd, check_cmd, class_cmd, images_cmd, lab_cmds, mail_cmd, workspace_cmd

app = typer.Typer(no_args_is_help=True, help="Networking labs for the e-mail practical, as real containers.")
lab_cmds.register(app)
check_cmd.register(app)
workspace_cmd.register(app)
app.add_typer(images_cmd.app, name="images")
app.add_typer(mail_cmd.app, name="mail")
app.add_typer(capture_cmd.app, name="capture")
app.add_typer(class_cmd.app, name="class")


def main() -> None:
    app()
