"""labctl capture follow."""
from __future__ import annotations

import json
import textwrap
from typing import Annotated, Iterator

import typer

from labctl.capture import DnsMessage, TcpStream
from labctl.capture.follow import FollowPass, follow_capture
from labctl.capture.probes import is_probe, is_probe_message, load_probes
from labctl.capture.reader import UnsupportedCapture
from labctl.cli.capture_input import (Files, Lab, Ports, Probes, Proto, StreamIndex, capture_paths, check_proto, fail,
                                      instance_ports, parse_ports)
from labctl.cli.output import reports_errors
from labctl.cli.stream_view import dns_json, print_stream, stream_json

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
        raise fail(f"no tcp stream {index}: the capture has {count}")
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
        typer.echo(("," if n else "") + "\n" + textwrap.indent(json.dumps(stream_json(selected), indent=2), "    "), nl=False)
    dns = [dns_json(m) for m in _dns_of(outcome, probes)] if with_dns else []
    typer.echo('\n  ],\n  "dns": ' + textwrap.indent(json.dumps(dns, indent=2), "  ").lstrip() + "\n}")


EXAMPLES = (
    'labctl capture follow --proto smtp',
    'labctl capture follow --stream 3 --json',
    'labctl capture follow --file captura.pcapng --port 2525=smtp',
)


@reports_errors
def command(
    lab: Lab = "practica4",
    file: Files = None,
    port: Ports = None,
    proto: Proto = None,
    stream: StreamIndex = None,
    probes: Probes = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The dialogues of the capture, each TCP stream reassembled as in Wireshark's Follow TCP Stream."""
    check_proto(proto)
    # One pass that prints each stream once it is complete: memory stays flat however
    # large the capture (a whole class's), and --stream stops as soon as it has its stream.
    known = {} if file else instance_ports(lab)
    outcome, found = follow_capture(capture_paths(lab, file), ports={**known, **parse_ports(port)})
    try:
        own = [] if probes or file else load_probes(lab)
        streams = _followed(found, proto, stream, own)
        if stream is not None:
            streams = list(streams)  # a missing stream is an error before any output
        if as_json:
            _echo_json(outcome, streams, stream is None and proto in (None, "dns"), own)
            return
        for selected in streams:
            print_stream(selected)
        dns_messages = _dns_of(outcome, own) if stream is None and proto in (None, "dns") else []
    except UnsupportedCapture as error:
        raise fail(str(error)) from None
    finally:
        outcome.close()
    if dns_messages:
        typer.secho("=== dns", bold=True)
    for message in dns_messages:
        typer.echo(f"{message.transport} {message.client} -> {message.server} {message.summary()}")
