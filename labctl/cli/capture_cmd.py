"""`labctl capture`: the lab's packet captures, read the way Wireshark shows them."""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer
from rich.console import Console

from labctl.capture import Capture, DnsMessage, TcpStream, dialogue, lab_capture_files, load_capture
from labctl.capture.export import export_pcap
from labctl.capture.files import capture_stats, describe
from labctl.capture.follow import FollowPass, follow_capture
from labctl.capture.ladder import ladder_svg, ladder_text
from labctl.capture.ports import PROTOCOLS, lab_ports
from labctl.capture.probes import is_probe, is_probe_message, load_probes, without_probes
from labctl.capture.reader import LINKTYPE_NAMES, UnsupportedCapture
from labctl.capture.starttls import encrypted_from
from labctl.capture.streams import Direction
from labctl.cli.output import cells, print_error, reports_errors, table
from labctl.paths import captures_dir
from labctl.runtime.project import Origin

app = typer.Typer(no_args_is_help=True, help="Read the lab's packet captures: dialogues, DNS, ladders, export.")
console = Console()

Lab = Annotated[str, typer.Option("--lab", "--instance", "-i", help="Lab instance whose captures to read.")]
Files = Annotated[Optional[list[Path]], typer.Option(
    "--file", "-f", exists=True, dir_okay=False, help="Read this pcap/pcapng instead (repeatable).")]
Ports = Annotated[Optional[list[str]], typer.Option(
    "--port", help="Extra server port of the lab, as PORT=PROTO (e.g. 2525=smtp; repeatable).")]
Proto = Annotated[Optional[str], typer.Option("--proto", help=f"Only this protocol: {', '.join(PROTOCOLS)}.")]
StreamIndex = Annotated[Optional[int], typer.Option("--stream", help="Only this TCP stream (Wireshark's tcp.stream).")]
Probes = Annotated[bool, typer.Option("--probes", help="Also labctl's own readiness probe connections (left out by default).")]

# Protocols whose streams dialogue() splits into commands and replies.
_DIALOGUE_PROTOCOLS = ("smtp", "pop", "imap", "http")
# C0 (but TAB), DEL and C1: what a terminal acts on instead of printing.
TERMINAL_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _fail(message: str) -> typer.Exit:
    print_error(message)
    return typer.Exit(1)


def _capture_paths(lab: str, files: list[Path] | None) -> list[Path]:
    if files:
        return files
    found = lab_capture_files(lab)
    if not found:
        raise _fail(f"no capture files (*.pcap*) in {captures_dir(lab)}: is lab {lab!r} up, with capture on?")
    return found


def _parse_ports(ports: list[str] | None) -> dict[int, str]:
    parsed = {}
    for entry in ports or []:
        port, _, proto = entry.partition("=")
        if not port.isdigit() or proto not in PROTOCOLS:
            raise _fail(f"--port {entry!r}: expected PORT=PROTO with PROTO one of {', '.join(PROTOCOLS)}")
        parsed[int(port)] = proto
    return parsed


def _instance_ports(instance: str) -> dict[int, str]:
    """The ports of the lab as the instance was brought up (exercise 8's MSA on 2525...)."""
    if not Origin.path(instance).is_file():
        return {}
    origin = Origin.load(instance)
    return lab_ports(origin.spec())


def _load(lab: str, files: list[Path] | None, ports: list[str] | None) -> Capture:
    known = {} if files else _instance_ports(lab)
    try:
        return load_capture(_capture_paths(lab, files), ports={**known, **_parse_ports(ports)})
    except UnsupportedCapture as error:
        raise _fail(str(error)) from None


def _check_proto(proto: str | None) -> None:
    if proto is not None and proto not in PROTOCOLS:
        raise _fail(f"--proto {proto!r}: expected one of {', '.join(PROTOCOLS)}")


def _selected_streams(capture: Capture, proto: str | None, index: int | None, lab: str, probes: bool) -> list[TcpStream]:
    """One stream asked for by index, or the protocol's streams; labctl's probes of `up`
    and `reset` only when asked for (they are known for the instance's own captures)."""
    if index is not None:
        try:
            return [capture.stream(index)]
        except IndexError as error:
            raise _fail(str(error)) from None
    streams = capture.tcp_streams(proto)
    return streams if probes else without_probes(streams, load_probes(lab))


def _stream_json(stream: TcpStream) -> dict:
    return {
        "index": stream.index,
        "proto": stream.proto,
        "client": str(stream.client),
        "server": str(stream.server),
        "start": stream.start_ts,
        "end": stream.end_ts,
        "packets": stream.packets,
        "handshake_seen": stream.handshake_seen,
        "missing_bytes": stream.missing_bytes,
        "encrypted_from": encrypted_from(stream),  # index of the first message under TLS
        "messages": [{"direction": c.direction.value, "ts": c.ts, "text": c.text} for c in stream.messages],
        "exchanges": [{"command": e.command.text if e.command else None, "reply": e.reply.text if e.reply else None}
                      for e in dialogue(stream)] if stream.proto in _DIALOGUE_PROTOCOLS else None,
    }


def _dns_json(message: DnsMessage) -> dict:
    data = dataclasses.asdict(message)
    data["client"], data["server"] = str(message.client), str(message.server)
    return data


def shown(line: str) -> str:
    """A captured line as text for the terminal: anyone can send the lab control characters
    (an ESC sequence would drive the student's terminal, a lone CR would print the rest as
    if it were another command), so each is written as an escape, as Python would."""
    return TERMINAL_CONTROL.sub(lambda found: repr(found[0])[1:-1], line)


def _print_stream(stream: TcpStream) -> None:
    typer.secho(f"=== {stream.title} ({stream.packets} packets"
                + (f", {stream.missing_bytes} bytes not captured" if stream.missing_bytes else "") + ")", bold=True)
    encrypted = encrypted_from(stream)
    for index, chunk in enumerate(stream.messages):
        if index == encrypted:  # TLS records: never raw bytes to the terminal
            hidden = sum(len(c.data) for c in stream.messages[index:])
            typer.secho(f"-- encrypted (STARTTLS): {hidden} bytes not shown", bold=True)
            break
        # Wireshark's colours: client red, server blue; the C:/S: marks survive a pipe.
        mark, colour = ("C: ", "red") if chunk.direction == Direction.CLIENT else ("S: ", "blue")
        for line in chunk.text.removesuffix("\n").split("\n"):
            typer.secho(mark + shown(line.removesuffix("\r")), fg=colour)


def _followed(found: Iterator[TcpStream], proto: str | None, index: int | None, probes: list) -> Iterator[TcpStream]:
    """The streams asked for, as the pass completes them: one by index (its absence is an
    error once the capture is read), or the protocol's, labctl's probes left out."""
    if index is not None:
        count = 0
        for candidate in found:
            if candidate.index == index:
                yield candidate
                return
            count += 1
        raise _fail(f"no tcp stream {index}: the capture has {count}")
    for candidate in found:  # all are read, also for --proto dns: DNS over TCP is in them
        if proto != "dns" and (proto is None or candidate.proto == proto) and not is_probe(candidate, probes):
            yield candidate


def _dns_of(outcome: FollowPass, probes: list) -> list[DnsMessage]:
    """The capture's DNS messages once the pass is over, labctl's probes left out."""
    return [m for m in outcome.dns_messages() if not is_probe_message(m, probes)]


def _echo_json(outcome: FollowPass, streams: Iterator[TcpStream], with_dns: bool, probes: list) -> None:
    """The same document json.dumps would make, written a stream at a time."""
    typer.echo('{\n  "files": ' + json.dumps([str(f) for f in outcome.files]) + ',\n  "streams": [', nl=False)
    for n, selected in enumerate(streams):
        typer.echo(("," if n else "") + "\n" + textwrap.indent(json.dumps(_stream_json(selected), indent=2), "    "), nl=False)
    dns = [_dns_json(m) for m in _dns_of(outcome, probes)] if with_dns else []
    typer.echo('\n  ],\n  "dns": ' + textwrap.indent(json.dumps(dns, indent=2), "  ").lstrip() + "\n}")


@app.command()
@reports_errors
def follow(
    lab: Lab = "practica4",
    file: Files = None,
    port: Ports = None,
    proto: Proto = None,
    stream: StreamIndex = None,
    probes: Probes = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The dialogues of the capture, each TCP stream reassembled as in Wireshark's Follow TCP Stream."""
    _check_proto(proto)
    # One pass that prints each stream once it is complete: memory stays flat however
    # large the capture (a whole class's), and --stream stops as soon as it has its stream.
    known = {} if file else _instance_ports(lab)
    outcome, found = follow_capture(_capture_paths(lab, file), ports={**known, **_parse_ports(port)})
    try:
        own = [] if probes or file else load_probes(lab)
        streams = _followed(found, proto, stream, own)
        if stream is not None:
            streams = list(streams)  # a missing stream is an error before any output
        if as_json:
            _echo_json(outcome, streams, stream is None and proto in (None, "dns"), own)
            return
        for selected in streams:
            _print_stream(selected)
        dns_messages = _dns_of(outcome, own) if stream is None and proto in (None, "dns") else []
    except UnsupportedCapture as error:
        raise _fail(str(error)) from None
    finally:
        outcome.close()
    if dns_messages:
        typer.secho("=== dns", bold=True)
    for message in dns_messages:
        typer.echo(f"{message.transport} {message.client} -> {message.server} {message.summary()}")


@app.command()
@reports_errors
def ladder(
    lab: Lab = "practica4",
    file: Files = None,
    port: Ports = None,
    proto: Proto = None,
    stream: StreamIndex = None,
    probes: Probes = False,
    svg: Annotated[Optional[Path], typer.Option("--svg", help="Also write the diagram to this SVG file.")] = None,
) -> None:
    """A ladder diagram of one dialogue (default: the student's first mail stream, or --proto's first)."""
    _check_proto(proto)
    capture = _load(lab, file, port)
    candidates = _selected_streams(capture, proto, stream, lab, probes or bool(file))
    if stream is None and proto is None:
        candidates = [s for s in candidates if s.proto in ("smtp", "pop", "imap")] or candidates
    if not candidates:
        raise _fail("no TCP stream to draw" + (f" with protocol {proto}" if proto else ""))
    chosen = candidates[0]
    exchanges = dialogue(chosen)
    typer.secho(chosen.title, bold=True)
    typer.echo(ladder_text(chosen, exchanges), nl=False)
    if svg is not None:
        svg.write_text(ladder_svg(chosen, exchanges), encoding="utf-8")
        typer.echo(f"SVG written to {svg}")


@app.command("list")
@reports_errors
def list_files(lab: Lab = "practica4", file: Files = None) -> None:
    """The capture files: size, link layer, packets, time span, packets the kernel dropped.

    The drops are counted for the whole start of the capture that wrote the file."""
    paths = _capture_paths(lab, file)
    listing = table(f"captures in {paths[0].parent}", "file", "size", "link type", "packets", "first", "last", "dropped by kernel")
    for path in paths:
        info = describe(path)
        stats = capture_stats(path)
        listing.add_row(*cells(path.name if path.parent == paths[0].parent else path, f"{info.size:,}", LINKTYPE_NAMES.get(info.linktype, info.linktype or "-"),
                               info.frames, _clock(info.first_ts), _clock(info.last_ts), stats.dropped if stats else "-"))
    console.print(listing)


@app.command()
@reports_errors
def path(lab: Lab = "practica4") -> None:
    """The directory where the lab's capture files are written."""
    typer.echo(str(captures_dir(lab)))


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


@app.command()
@reports_errors
def export(
    out: Annotated[Path, typer.Argument(help="The pcap file to write.")],
    lab: Lab = "practica4",
    file: Files = None,
    since: Annotated[Optional[str], typer.Option(help="Keep packets from this moment on.")] = None,
    until: Annotated[Optional[str], typer.Option(help="Keep packets up to this moment.")] = None,
) -> None:
    """One pcap of the lab's capture: rotated files merged, optionally limited to a time window."""
    paths = _capture_paths(lab, file)
    try:
        written = export_pcap(paths, out, since=parse_time(since) if since else None,
                              until=parse_time(until) if until else None)
    except UnsupportedCapture as error:
        raise _fail(str(error)) from None
    typer.echo(f"{written} packets written to {out}")


@app.command()
@reports_errors
def wireshark(lab: Lab = "practica4", file: Files = None) -> None:
    """Open the capture in Wireshark."""
    program = shutil.which("wireshark")
    if program is None:
        raise _fail("Wireshark is not installed (no 'wireshark' on PATH). Install it, or write the capture "
                    "with 'labctl capture export FILE' and open that file where Wireshark is.")
    paths = _capture_paths(lab, file)
    target = paths[0]
    if len(paths) > 1:
        target = Path(tempfile.mkstemp(prefix=f"{lab}-", suffix=".pcap")[1])
        export_pcap(paths, target)
    subprocess.Popen([program, "-r", str(target)], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    typer.echo(f"Wireshark opened on {target}")


def _clock(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if ts is not None else "-"
