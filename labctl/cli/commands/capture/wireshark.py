"""labctl capture wireshark."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import typer

from labctl.capture.export import export_pcap
from labctl.cli.capture_input import Files, Lab, capture_paths, fail
from labctl.cli.output import reports_errors

@reports_errors
def command(lab: Lab = "practica4", file: Files = None) -> None:
    """Open the capture in Wireshark."""
    program = shutil.which("wireshark")
    if program is None:
        raise fail("Wireshark is not installed (no 'wireshark' on PATH). Install it, or write the capture "
                    "with 'labctl capture export FILE' and open that file where Wireshark is.")
    paths = capture_paths(lab, file)
    target = paths[0]
    if len(paths) > 1:
        target = Path(tempfile.mkstemp(prefix=f"{lab}-", suffix=".pcap")[1])
        export_pcap(paths, target)
    subprocess.Popen([program, "-r", str(target)], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    typer.echo(f"Wireshark opened on {target}")
