"""Console output and the one place where errors become exit codes."""
from __future__ import annotations

import contextlib
import functools
import re
from typing import Callable, Iterator, TypeVar

import typer
from docker.errors import DockerException
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from labctl.runtime.engine import LabError
from labctl.spec.loader import LabSpecError

console = Console()
err_console = Console(stderr=True)

EXIT_RUNTIME = 1
EXIT_SPEC = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as the shell reports a Ctrl-C
# C0 (but TAB), DEL and C1: what a terminal acts on instead of printing.
TERMINAL_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def print_error(message: str) -> None:
    """One line on stderr: the message is shown as written (a '[...]' in a pattern,
    a roster name or a path is text, not rich markup), never wrapped by the console."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)


def shown(line: str) -> str:
    """A line from the lab (a capture, a log) as text for the terminal: anyone can send the
    lab control characters (an ESC sequence would drive the terminal, a lone CR would print
    the rest as if it were another line), so each is written as an escape, as Python would."""
    return TERMINAL_CONTROL.sub(lambda found: repr(found[0])[1:-1], line)


def print_lines(text: str) -> None:
    """A container's output (its log, the MTA's inspector) printed as lines of `shown` text."""
    if text:
        for line in text.removesuffix("\n").split("\n"):
            print(shown(line))


def table(title: str, *columns: str) -> Table:
    """A table whose cells wrap in a narrow terminal but are never cut with '…' (a cut
    file name, container, check id or password is of no use); the title is text."""
    made = Table(title=escape(title))
    for column in columns:
        made.add_column(column, overflow="fold")
    return made


def cells(*values: object) -> list[str]:
    """Row cells of data (names from a roster, lab files, the engine): shown as written."""
    return [escape(str(value)) for value in values]


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn labctl's own errors into one red line and a non-zero exit, no traceback."""
    try:
        yield
    except LabSpecError as exc:
        print_error(str(exc))
        raise typer.Exit(EXIT_SPEC) from None
    except LabError as exc:
        print_error(str(exc))
        raise typer.Exit(EXIT_RUNTIME) from None
    except DockerException as exc:
        # The engine refused something labctl did not foresee: still one line.
        detail = getattr(exc, "explanation", None) or str(exc)
        print_error(f"Docker engine: {detail}")
        raise typer.Exit(EXIT_RUNTIME) from None
    except OSError as exc:
        if exc.filename is None:
            raise
        # A file the user named (--junit, --out, export FILE...) that cannot be written or read.
        print_error(f"{exc.filename}: {exc.strerror or exc}")
        raise typer.Exit(EXIT_RUNTIME) from None


Command = TypeVar("Command", bound=Callable)


def reports_errors(command: Command) -> Command:
    """A command whose whole body runs under user_errors (typer reads the signature through wraps)."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        with user_errors():
            return command(*args, **kwargs)
    return run  # type: ignore[return-value]
