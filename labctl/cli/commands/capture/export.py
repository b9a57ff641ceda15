"""labctl capture export."""
from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from labctl.capture.export import export_pcap
from labctl.capture.reader import UnsupportedCapture
from labctl.cli.capture_input import Files, Lab, capture_paths, fail
from labctl.cli.output import reports_errors

def parse_time(text: str, now: float | None = None) -> float:
    """A moment as epoch seconds, ISO 8601 (local time unless it says otherwise), or a time
    ago such as 90s, 10m, 2h."""
    ago = re.fullmatch(r"(\d+(?:\.\d+)?)([smh])", text.strip())
    if ago:
        return (now if now is not None else time.time()) - float(ago[1]) * {"s": 1, "m": 60, "h": 3600}[ago[2]]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected epoch seconds, ISO 8601 or a time ago like 10m") from None


EXAMPLES = (
    'labctl capture export ultimos.pcap --since 10m  # the last ten minutes',
    'labctl capture export clase.pcap --since 2026-04-07T10:15 --until 2026-04-07T10:30',
)


@reports_errors
def command(
    out: Annotated[Path, typer.Argument(help="The pcap file to write.")],
    lab: Lab = "practica4",
    file: Files = None,
    since: Annotated[Optional[str], typer.Option(help="Keep packets from this moment on.")] = None,
    until: Annotated[Optional[str], typer.Option(help="Keep packets up to this moment.")] = None,
) -> None:
    """One pcap of the lab's capture: rotated files merged, optionally limited to a time window."""
    paths = capture_paths(lab, file)
    try:
        written = export_pcap(paths, out, since=parse_time(since) if since else None,
                              until=parse_time(until) if until else None)
    except UnsupportedCapture as error:
        raise fail(str(error)) from None
    typer.echo(f"{written} packets written to {out}")
