"""A whole capture, read once: its TCP streams reassembled and its DNS messages decoded."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterable, Mapping

from labctl.capture.dns_messages import DnsMessage, DnsWire, decode_dns, dns_over_tcp, dns_over_udp
from labctl.capture.ports import port_map
from labctl.capture.reader import read_packets
from labctl.capture.tcp import TcpReassembler, TcpStream


@dataclass
class Capture:
    files: list[Path]
    streams: list[TcpStream]  # in tcp.stream order: streams[i].index == i
    dns_wire: list[DnsWire]  # DNS over UDP and TCP, in time order, decoded on first use
    packets: int  # TCP and UDP packets read
    first_ts: float | None
    last_ts: float | None

    def tcp_streams(self, proto: str | None = None) -> list[TcpStream]:
        return [s for s in self.streams if proto is None or s.proto == proto]

    def stream(self, index: int) -> TcpStream:
        if not 0 <= index < len(self.streams):
            raise IndexError(f"no tcp stream {index}: the capture has {len(self.streams)}")
        return self.streams[index]

    def dns_messages(self) -> list[DnsMessage]:
        return self._decoded_dns

    @cached_property
    def _decoded_dns(self) -> list[DnsMessage]:
        return [message for message in map(decode_dns, self.dns_wire) if message is not None]


def load_capture(paths: Iterable[Path | str], ports: Mapping[int, str] | None = None) -> Capture:
    """Read pcap/pcapng files (several: merged in timestamp order).

    `ports` adds server ports of the lab to the well-known ones, e.g. {2525: "smtp"}.
    """
    files = [Path(p) for p in paths]
    port_protocols = port_map(ports)
    dns_ports = {port for port, proto in port_protocols.items() if proto == "dns"}
    reassembler = TcpReassembler(port_protocols)
    udp_dns: list[DnsWire] = []
    packets, first_ts, last_ts = 0, None, None
    for packet in read_packets(files):
        packets += 1
        if first_ts is None:
            first_ts = packet.ts
        last_ts = packet.ts
        if packet.is_tcp:
            reassembler.add(packet)
        else:
            wire = dns_over_udp(packet, dns_ports)
            if wire is not None:
                udp_dns.append(wire)
    streams = reassembler.streams()
    tcp_dns = [m for s in streams if s.proto == "dns" for m in dns_over_tcp(s.messages, s.client, s.server)]
    dns_wire = sorted(udp_dns + tcp_dns, key=lambda message: message.ts)
    return Capture(files, streams, dns_wire, packets, first_ts, last_ts)
