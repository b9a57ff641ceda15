"""DNS queries and answers out of a capture: UDP datagrams and TCP streams (AXFR, large
answers), decoded with dnspython."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype

from labctl.capture.streams import Chunk, Direction, Endpoint, OneSide

if TYPE_CHECKING:  # named only: `up` reads no capture, and the reader imports dpkt
    from labctl.capture.reader import Packet


@dataclass(frozen=True)
class DnsRecord:
    name: str
    type: str
    ttl: int
    value: str  # presentation format, as dig prints it


@dataclass(frozen=True)
class DnsQuestion:
    name: str
    type: str


@dataclass
class DnsMessage:
    ts: float
    transport: str  # "udp" or "tcp"
    client: Endpoint
    server: Endpoint
    id: int
    is_response: bool
    opcode: str
    rcode: str  # "NOERROR", "NXDOMAIN", ...
    flags: list[str]  # "QR", "AA", "RD", "RA", ...
    questions: list[DnsQuestion]
    answers: list[DnsRecord]
    authority: list[DnsRecord]
    additional: list[DnsRecord]

    @property
    def qname(self) -> str | None:
        return self.questions[0].name if self.questions else None

    @property
    def qtype(self) -> str | None:
        return self.questions[0].type if self.questions else None

    def summary(self) -> str:
        kind = "response" if self.is_response else "query"
        text = f"{kind} id={self.id:#06x} {self.qname} {self.qtype}"
        if self.is_response:
            answers = "; ".join(f"{r.name} {r.ttl} {r.type} {r.value}" for r in self.answers)
            text += f" {self.rcode}" + (f" -> {answers}" if answers else "")
        return text


class DnsWire(NamedTuple):
    """A DNS message as captured, not decoded yet (decoding costs far more than reading)."""

    wire: bytes
    ts: float
    transport: str
    client: Endpoint
    server: Endpoint


def decode_dns(captured: DnsWire) -> DnsMessage | None:
    """The decoded message, or None when the bytes are not a well-formed DNS message."""
    try:
        message = dns.message.from_wire(captured.wire, one_rr_per_rrset=True, ignore_trailing=True)
    except (dns.exception.DNSException, ValueError, IndexError):
        return None
    return DnsMessage(
        ts=captured.ts,
        transport=captured.transport,
        client=captured.client,
        server=captured.server,
        id=message.id,
        is_response=bool(message.flags & dns.flags.QR),
        opcode=dns.opcode.to_text(message.opcode()),
        rcode=dns.rcode.to_text(message.rcode()),
        flags=dns.flags.to_text(message.flags).split(),
        questions=[DnsQuestion(q.name.to_text(), dns.rdatatype.to_text(q.rdtype)) for q in message.question],
        answers=_records(message.answer),
        authority=_records(message.authority),
        additional=_records(message.additional),
    )


def _records(section) -> list[DnsRecord]:
    return [
        DnsRecord(rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype), rrset.ttl, rdata.to_text())
        for rrset in section
        for rdata in rrset
    ]


def dns_over_udp(packet: Packet, dns_ports: set[int]) -> DnsWire | None:
    """The DNS message a UDP datagram carries to or from a DNS port (None: not DNS)."""
    to_server = packet.dport in dns_ports
    if not to_server and packet.sport not in dns_ports:
        return None
    source = Endpoint.from_packed(packet.src, packet.sport)
    destination = Endpoint.from_packed(packet.dst, packet.dport)
    client, server = (source, destination) if to_server else (destination, source)
    return DnsWire(packet.payload, packet.ts, "udp", client, server)


def dns_over_tcp(messages: list[Chunk], client: Endpoint, server: Endpoint) -> list[DnsWire]:
    """Messages of a DNS-over-TCP stream: each side sends 2-byte length-prefixed messages."""
    found = []
    for direction in Direction:
        side = OneSide(messages, direction)
        data, position = side.data, 0
        while position + 2 <= len(data):
            size = int.from_bytes(data[position:position + 2], "big")
            wire = data[position + 2:position + 2 + size]
            if len(wire) < size:
                break  # cut short by the end of the capture
            found.append(DnsWire(wire, side.chunk_at(position)[1].ts, "tcp", client, server))
            position += 2 + size
    return found
