"""labctl images build."""
from __future__ import annotations

from typing import Optional

import typer

from labctl.cli.output import console, user_errors
from labctl.runtime import images
from labctl.runtime.engine import LabError, client


def command(
    roles: Optional[list[str]] = typer.Argument(None, help="Only these images (dns, mail, web, capture, client)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the full build output."),
) -> None:
    """Build the base image (offline, when missing) and every image in images/."""
    with user_errors():
        engine = client()
        specs = images.image_specs()
        unknown = set(roles or []) - {s.role for s in specs}
        if unknown:
            raise LabError(f"no image named {', '.join(sorted(unknown))} in images/ (known: {', '.join(s.role for s in specs)})")
        images.ensure_base(engine, console.print)
        for spec in specs:
            if roles and spec.role not in roles:
                continue
            with console.status(f"building {spec.tag}…") as status:
                def log(line: str, status=status) -> None:
                    if verbose:
                        console.print(line, highlight=False, markup=False)
                    elif line.startswith("Step "):
                        status.update(f"building {spec.tag}: {line}")
                image_id = images.build(engine, spec, log)
            console.print(f"[green]built[/] {spec.tag} {image_id[7:19]}")
