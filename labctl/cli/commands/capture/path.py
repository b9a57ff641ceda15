"""labctl capture path."""
from __future__ import annotations

import typer

from labctl.cli.capture_input import Lab
from labctl.cli.output import reports_errors
from labctl.paths import captures_dir

@reports_errors
def command(lab: Lab = "practica4") -> None:
    """The directory where the lab's capture files are written."""
    typer.echo(str(captures_dir(lab)))
