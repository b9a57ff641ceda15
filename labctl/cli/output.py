"""Console output and the one place where errors become exit codes."""
from __future__ import annotations

import contextlib
from typing import Iterator

import typer
from docker.errors import DockerException
from rich.console import Console

from labctl.runtime.engine import LabError
from labctl.spec.loader import LabSpecError

console = Console()
err_console = Console(stderr=True)

EXIT_RUNTIME = 1
EXIT_SPEC = 2


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn labctl's own errors into one red line and a non-zero exit, no traceback."""
    try:
        yield
    except LabSpecError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_SPEC) from None
    except LabError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_RUNTIME) from None
    except DockerException as exc:
        # The engine refused something labctl did not foresee: still one line.
        detail = getattr(exc, "explanation", None) or str(exc)
        err_console.print(f"[bold red]error:[/] Docker engine: {detail}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_RUNTIME) from None
