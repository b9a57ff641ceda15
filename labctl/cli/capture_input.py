"""What the capture commands read: the lab's capture files or the ones given, its ports, the streams asked for."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labctl.capture import Capture, TcpStream, lab_capture_files, load_capture
from labctl.capture.ports import PROTOCOLS, lab_ports
from labctl.capture.probes import load_probes, without_probes
from labctl.capture.reader import UnsupportedCapture
from labctl.cli.output import print_error
from labctl.paths import captures_dir
from labctl.runtime.project import Origin

Lab = Annotated[str, typer.Option("--lab", "--instance", "-i", help="Lab instance whose captures to read.")]
Files = Annotated[Optional[list[Path]], typer.Option(
    "--file", "-f", exists=True, dir_okay=False, help="Read this pcap/pcapng instead (repeatable).")]
Ports = Annotated[Optional[list[str]], typer.Option(
    "--port", help="Extra server port of the lab, as PORT=PROTO (e.g. 2525=smtp; repeatable).")]
Proto = Annotated[Optional[str], typer.Option("--proto", help=f"Only this protocol: {', '.join(PROTOCOLS)}.")]
StreamIndex = Annotated[Optional[int], typer.Option("--stream", help="Only this TCP stream (Wireshark's tcp.stream).")]
Probes = Annotated[bool, typer.Option("--probes", help="Also labctl's own readiness probe connections (left out by default).")]


def fail(message: str) -> typer.Exit:
    print_error(message)
    return typer.Exit(1)


def capture_paths(lab: str, files: list[Path] | None) -> list[Path]:
    if files:
        return files
    found = lab_capture_files(lab)
    if not found:
        raise fail(f"no capture files (*.pcap*) in {captures_dir(lab)}: is lab {lab!r} up, with capture on?")
    return found


def parse_ports(ports: list[str] | None) -> dict[int, str]:
    parsed = {}
    for entry in ports or []:
        port, _, proto = entry.partition("=")
        if not port.isdigit() or proto not in PROTOCOLS:
            raise fail(f"--port {entry!r}: expected PORT=PROTO with PROTO one of {', '.join(PROTOCOLS)}")
        parsed[int(port)] = proto
    return parsed


def instance_ports(instance: str) -> dict[int, str]:
    """The ports of the lab as the instance was brought up (exercise 8's MSA on 2525...)."""
    if not Origin.path(instance).is_file():
        return {}
    origin = Origin.load(instance)
    return lab_ports(origin.spec())


def load(lab: str, files: list[Path] | None, ports: list[str] | None) -> Capture:
    known = {} if files else instance_ports(lab)
    try:
        return load_capture(capture_paths(lab, files), ports={**known, **parse_ports(ports)})
    except UnsupportedCapture as error:
        raise fail(str(error)) from None


def check_proto(proto: str | None) -> None:
    if proto is not None and proto not in PROTOCOLS:
        raise fail(f"--proto {proto!r}: expected one of {', '.join(PROTOCOLS)}")


def selected_streams(capture: Capture, proto: str | None, index: int | None, lab: str, probes: bool) -> list[TcpStream]:
    """One stream asked for by index, or the protocol's streams; labctl's probes of `up`
    and `reset` only when asked for (they are known for the instance's own captures)."""
    if index is not None:
        try:
            return [capture.stream(index)]
        except IndexError as error:
            raise fail(str(error)) from None
    streams = capture.tcp_streams(proto)
    return streams if probes else without_probes(streams, load_probes(lab))
