"""labctl's own connections in a lab's capture: the readiness probes of `up`/`reset`
(TCP connections, and the SOA queries that ask the DNS servers).

They come from the host, as the student's Thunderbird does, so nothing on the wire tells
them apart. Each probe therefore binds its source port before connecting and records
(source port, server, time) in the instance's state; a stream (or an MTA log session) with
that source port to that server, starting within seconds of that time, is labctl's.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from labctl.capture.dns_messages import DnsMessage
from labctl.capture.tcp import TcpStream
from labctl.paths import lab_state_dir

# Between recording a probe and the first packet of its connection (or the MTA logging it).
MATCH_WINDOW = 5.0


@dataclass(frozen=True)
class Probe:
    client_port: int
    server_ip: str
    server_port: int
    ts: float

    def matches(self, client_port: int, server_ip: str, server_port: int | None, ts: float) -> bool:
        """`server_port` None: any port of the server (the MTA log names the listener, not its port)."""
        return (client_port == self.client_port and server_ip == self.server_ip
                and server_port in (None, self.server_port) and abs(ts - self.ts) <= MATCH_WINDOW)


def probes_path(instance: str) -> Path:
    return lab_state_dir(instance) / "probes.jsonl"


def record_probes(instance: str, probes: Iterable[Probe]) -> None:
    lines = "".join(json.dumps(asdict(probe)) + "\n" for probe in probes)
    path = probes_path(instance)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(lines)


def load_probes(instance: str) -> list[Probe]:
    try:
        text = probes_path(instance).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    probes = []
    for line in text.splitlines():
        try:
            probes.append(Probe(**json.loads(line)))
        except (ValueError, TypeError):
            continue  # a line torn by an interrupted `up`
    return probes


def is_probe(stream: TcpStream, probes: list[Probe]) -> bool:
    return any(p.matches(stream.client.port, stream.server.ip, stream.server.port, stream.start_ts) for p in probes)


def without_probes(streams: list[TcpStream], probes: list[Probe]) -> list[TcpStream]:
    return [s for s in streams if not is_probe(s, probes)]


def is_probe_message(message: DnsMessage, probes: list[Probe]) -> bool:
    """A query of `up`'s or its answer (the client is the querier either way)."""
    return any(p.matches(message.client.port, message.server.ip, message.server.port, message.ts) for p in probes)
