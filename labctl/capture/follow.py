"""One pass over a capture that hands over each TCP stream as soon as it can, with memory
flat in the capture's size: what `labctl capture follow` prints from.

load_capture() keeps every stream (the checks look at all of them together); a class's
capture of several GB would not fit. Here a connection is reassembled while it is open,
handed over in stream-number order once it has closed, and forgotten. A stream that has
closed while an earlier one is still open (Thunderbird's IMAP connection stays open for
the whole lab) waits on disk, not in memory, and so do the DNS messages until the end.
Memory is then the open connections' bytes, whatever the file's size.
"""
from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from labctl.capture.dns_messages import DnsMessage, DnsWire, decode_dns, dns_over_tcp, dns_over_udp
from labctl.capture.ports import port_map
from labctl.capture.reader import read_packets
from labctl.capture.tcp import TcpReassembler, TcpStream

# Bytes of finished streams waiting for an earlier one kept in memory before they go to disk.
WAITING_IN_MEMORY = 16 * 2**20
# DNS messages gathered in memory before a batch of them goes to disk.
DNS_BATCH = 4096
# Packets between two looks for connections that have finished.
CHECK_EVERY = 256


class _DiskShelf:
    """Objects pickled to an anonymous temporary file, read back by position."""

    def __init__(self) -> None:
        self._file: BinaryIO | None = None

    def put(self, item: object) -> tuple[int, int]:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="labctl-follow-")
        data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.seek(0, 2)
        where = self._file.tell()
        self._file.write(data)
        return where, len(data)

    def get(self, where: tuple[int, int]) -> object:
        assert self._file is not None
        self._file.seek(where[0])
        return pickle.loads(self._file.read(where[1]))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _stream_size(stream: TcpStream) -> int:
    return sum(len(chunk.data) for chunk in stream.messages)


class _InOrder:
    """Streams come in as they finish; they leave in stream-number order."""

    def __init__(self, shelf: _DiskShelf) -> None:
        self._shelf = shelf
        self._next = 0
        self._in_memory: dict[int, TcpStream] = {}
        self._memory_bytes = 0
        self._on_disk: dict[int, tuple[int, int]] = {}

    def put(self, stream: TcpStream) -> Iterator[TcpStream]:
        if stream.index != self._next:
            size = _stream_size(stream)
            if self._memory_bytes + size > WAITING_IN_MEMORY:
                self._on_disk[stream.index] = self._shelf.put(stream)
            else:
                self._in_memory[stream.index] = stream
                self._memory_bytes += size
            return
        yield stream
        self._next += 1
        yield from self._release()

    def _release(self) -> Iterator[TcpStream]:
        while True:
            if self._next in self._in_memory:
                stream = self._in_memory.pop(self._next)
                self._memory_bytes -= _stream_size(stream)
            elif self._next in self._on_disk:
                stream = self._shelf.get(self._on_disk.pop(self._next))
            else:
                return
            yield stream
            self._next += 1


@dataclass
class FollowPass:
    """The outcome of the pass, filled in as its streams are consumed."""

    files: list[Path]
    packets: int = 0
    streams: int = 0
    _dns_batches: list[tuple[int, int]] = field(default_factory=list)
    _dns_tcp: list[DnsWire] = field(default_factory=list)
    _shelf: _DiskShelf = field(default_factory=_DiskShelf)

    def dns_messages(self) -> list[DnsMessage]:
        """Every DNS message (UDP and TCP), in time order; once the streams are consumed."""
        wires = [wire for batch in self._dns_batches for wire in self._shelf.get(batch)] + self._dns_tcp
        wires.sort(key=lambda wire: wire.ts)
        return [message for message in map(decode_dns, wires) if message is not None]

    def close(self) -> None:
        self._shelf.close()


def follow_capture(paths: Iterable[Path | str], ports: Mapping[int, str] | None = None) -> tuple[FollowPass, Iterator[TcpStream]]:
    """(the pass, its TCP streams in stream-number order as they become complete)."""
    outcome = FollowPass([Path(p) for p in paths])
    return outcome, _streams(outcome, port_map(ports))


def _streams(outcome: FollowPass, port_protocols: dict[int, str]) -> Iterator[TcpStream]:
    dns_ports = {port for port, proto in port_protocols.items() if proto == "dns"}
    reassembler = TcpReassembler(port_protocols, streaming=True)
    in_order = _InOrder(outcome._shelf)
    udp_dns: list[DnsWire] = []

    def handed_over(streams: list[TcpStream]) -> Iterator[TcpStream]:
        for stream in streams:
            if stream.proto == "dns":
                outcome._dns_tcp += dns_over_tcp(stream.messages, stream.client, stream.server)
            for ready in in_order.put(stream):
                outcome.streams += 1
                yield ready

    countdown = CHECK_EVERY
    add = reassembler.add
    packets = 0  # a local: this loop runs once per packet
    for packet in read_packets(outcome.files):
        packets += 1
        if packet.is_tcp:
            add(packet)
            countdown -= 1
            if not countdown:
                countdown = CHECK_EVERY
                outcome.packets = packets
                yield from handed_over(reassembler.finished(packet.ts))
        elif (wire := dns_over_udp(packet, dns_ports)) is not None:
            udp_dns.append(wire)
            if len(udp_dns) == DNS_BATCH:
                outcome._dns_batches.append(outcome._shelf.put(udp_dns))
                udp_dns = []
    outcome.packets = packets
    if udp_dns:
        outcome._dns_batches.append(outcome._shelf.put(udp_dns))
    yield from handed_over(reassembler.streams())
