"""labctl capture ladder."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labctl.capture import dialogue
from labctl.capture.ladder import ladder_svg, ladder_text
from labctl.cli.capture_input import Files, Lab, Ports, Probes, Proto, StreamIndex, check_proto, fail, load, selected_streams
from labctl.cli.output import reports_errors


EXAMPLES = (
    'labctl capture ladder --proto pop --svg pop3.svg',
)


@reports_errors
def command(
    lab: Lab = "practica4",
    file: Files = None,
    port: Ports = None,
    proto: Proto = None,
    stream: StreamIndex = None,
    probes: Probes = False,
    svg: Annotated[Optional[Path], typer.Option("--svg", help="Also write the diagram to this SVG file.")] = None,
) -> None:
    """A ladder diagram of one dialogue (default: the student's first mail stream, or --proto's first)."""
    check_proto(proto)
    capture = load(lab, file, port)
    candidates = selected_streams(capture, proto, stream, lab, probes or bool(file))
    if stream is None and proto is None:
        candidates = [s for s in candidates if s.proto in ("smtp", "pop", "imap")] or candidates
    if not candidates:
        raise fail("no TCP stream to draw" + (f" with protocol {proto}" if proto else ""))
    chosen = candidates[0]
    exchanges = dialogue(chosen)
    typer.secho(chosen.title, bold=True)
    typer.echo(ladder_text(chosen, exchanges), nl=False)
    if svg is not None:
        svg.write_text(ladder_svg(chosen, exchanges), encoding="utf-8")
        typer.echo(f"SVG written to {svg}")
