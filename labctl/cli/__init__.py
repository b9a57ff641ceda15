"""The labctl command line. Every command is one module of labctl.cli.commands that
defines one function, `command`; a group of commands (images, mail, capture, class) is
a package there, its docstring the group's help; a module's EXAMPLES, when it has them, are
shown under the command's help. The root registers them all the same
way, from the names below, and imports a command's module only to run it (or for
--help): `labctl up` does not import the capture reader, the checks or the class tools,
a third of a second on every command a student types."""
from __future__ import annotations

import functools
import importlib
import keyword
import os
import sys

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command

# The commands, in the order --help lists them.
COMMANDS = ("up", "down", "status", "reset", "list", "logs", "exec", "shell", "stop", "start", "render",
            "exercises", "check", "grade", "workspace", "apply")
# Each group and its commands.
GROUPS = {
    "images": ("build", "list"),
    "mail": ("queue", "log"),
    "capture": ("follow", "ladder", "list", "path", "export", "wireshark"),
    "class": ("up", "status", "grade", "reset", "down", "access"),
}


def module_name(*names: str) -> str:
    """labctl.cli.commands.<group>.<command>; a Python keyword ('class') gets a '_'."""
    return ".".join([__name__, "commands", *(f"{n}_" if keyword.iskeyword(n) else n for n in names)])


def examples_text(examples: tuple[str, ...]) -> str | None:
    """A command's EXAMPLES under its help, one a paragraph (typer joins single lines)."""
    return "Examples:\n\n" + "\n\n".join(examples) if examples else None


@functools.cache
def _command(*names: str) -> TyperCommand:
    module = importlib.import_module(module_name(*names))
    registry = typer.Typer(add_completion=False)
    registry.command(names[-1], epilog=examples_text(getattr(module, "EXAMPLES", ())))(module.command)
    return get_command(registry)


class LazyGroup(TyperGroup):
    """A group whose commands are the modules of its package, imported when one is asked for."""

    def __init__(self, name: str, commands: tuple[str, ...]) -> None:
        package = importlib.import_module(module_name(name))
        super().__init__(name=name, help=package.__doc__, no_args_is_help=True)
        self.names = commands

    def list_commands(self, ctx) -> list[str]:
        return list(self.names)

    def get_command(self, ctx, cmd_name: str):
        return _command(self.name, cmd_name) if cmd_name in self.names else None


@functools.cache
def _group(name: str) -> LazyGroup:
    return LazyGroup(name, GROUPS[name])


class LazyRoot(TyperGroup):
    def list_commands(self, ctx) -> list[str]:
        return [*COMMANDS, *GROUPS]

    def get_command(self, ctx, cmd_name: str):
        if cmd_name in COMMANDS:
            return _command(cmd_name)
        if cmd_name in GROUPS:
            return _group(cmd_name)
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


def _without_ssh_transport() -> None:
    """The docker SDK imports paramiko (and invoke) whenever they are installed, for an
    engine at ssh:// only: 0.1-0.25 s of every command. labctl talks to the engine that
    DOCKER_HOST names (docker.from_env), so an `import paramiko` is refused unless it is ssh://;
    docker.transport then leaves its SSH adapter out."""
    if not os.environ.get("DOCKER_HOST", "").startswith("ssh://"):
        sys.modules.setdefault("paramiko", None)


def main() -> None:
    _without_ssh_transport()
    app()
