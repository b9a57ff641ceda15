"""The labctl command line: one typer app whose commands live in the modules of
this package, each imported only when one of its commands runs (or for --help).
`labctl up` then does not import the capture reader, the checks and the class
tools: a third of a second on every command a student types."""
from __future__ import annotations

import functools
import importlib

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup
from typer.main import get_group

# Command -> the module whose `app` defines it, in the order --help lists them.
COMMANDS = {
    **dict.fromkeys(("up", "down", "status", "reset", "list", "logs", "exec", "shell", "stop", "start", "render"), "lab_cmds"),
    **dict.fromkeys(("exercises", "check", "grade"), "check_cmd"),
    **dict.fromkeys(("workspace", "apply"), "workspace_cmd"),
}
# Group of commands -> the module whose `app` is that group.
GROUPS = {"images": "images_cmd", "mail": "mail_cmd", "capture": "capture_cmd", "class": "class_cmd"}


@functools.cache
def _group_of(module: str) -> TyperGroup:
    return get_group(importlib.import_module(f"{__name__}.{module}").app)


class LazyRoot(TyperGroup):
    def list_commands(self, ctx) -> list[str]:
        return [*COMMANDS, *GROUPS]

    def get_command(self, ctx, cmd_name: str):
        if cmd_name in COMMANDS:
            return _group_of(COMMANDS[cmd_name]).commands[cmd_name]
        if cmd_name in GROUPS:
            group = _group_of(GROUPS[cmd_name])
            group.name = cmd_name
            return group
        return None

    def invoke(self, ctx):
        """A mistyped command or option is one line, as every other error of labctl, not
        typer's usage text and boxed message; the exit status stays 2."""
        typed = " ".join([ctx.command_path, *ctx._protected_args[:1]])  # the command, before invoke takes it
        try:
            return super().invoke(ctx)
        except UsageError as error:
            if isinstance(error, NoArgsIsHelpError):
                raise  # a group typed alone shows its help
            # An option's missing value is raised before its command's context exists.
            where = error.ctx.command_path if error.ctx else typed
            from labctl.cli.output import print_error  # here: it imports the docker SDK

            print_error(f"{error.format_message()} (see '{where} --help')")
            raise typer.Exit(error.exit_code) from None


app = typer.Typer(cls=LazyRoot, no_args_is_help=True)


@app.callback()
def root() -> None:
    """Networking labs for the e-mail practical, as real containers."""


def main() -> None:
    app()
