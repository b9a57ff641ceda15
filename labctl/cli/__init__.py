"""The labctl command line: one typer app, with a sub-app per area."""
from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Networking labs for the e-mail practical, as real containers.")


def main() -> None:
    app()
