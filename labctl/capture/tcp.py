"""TCP stream reassembly, the way Wireshark's "Follow TCP Stream" shows a connection.

Each direction delivers its bytes in sequence-number order: retransmitted bytes are dropped,
segments that arrive early wait in a dict keyed by offset until the gap before them fills,
overlapping segments contribute only their new bytes. Sequence numbers are taken relative
to the first byte after the SYN (the SYN takes one number), modulo 2**32. Bytes are only
sliced and joined, never looked at one by one.

The deliveries of both directions are interleaved in the order the capture made them
contiguous, which is the order Wireshark shows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

from labctl.capture.ports import protocol_for
from labctl.capture.reader import Packet
from labctl.capture.streams import Chunk, Direction, Endpoint

SYN, ACK = 0x02, 0x10  # a FIN carries no payload byte: nothing to account for here
_SEQ_MODULO = 1 << 32
_SEQ_HALF = 1 << 31


@dataclass
class TcpStream:
    """One TCP connection of the capture, reassembled.

    `index` is Wireshark's tcp.stream number (connections numbered in the order of their
    first packet). `messages` holds the turns of the conversation: consecutive bytes of one
    direction are joined into one chunk.
    """

    index: int
    client: Endpoint
    server: Endpoint
    proto: str | None
    messages: list[Chunk]
    start_ts: float
    end_ts: float
    packets: int
    handshake_seen: bool  # a SYN told who the client is (else the higher port was taken)
    missing_bytes: int  # payload never captured: gaps, packets cut by the snap length

    def payload(self, direction: Direction) -> bytes:
        return b"".join(chunk.data for chunk in self.messages if chunk.direction == direction)

    def client_bytes(self) -> bytes:
        return self.payload(Direction.CLIENT)

    def server_bytes(self) -> bytes:
        return self.payload(Direction.SERVER)

    @property
    def title(self) -> str:
        return f"tcp stream {self.index} {self.proto or 'tcp'} {self.client} -> {self.server}"


class _HalfFlow:
    """One direction of a connection: accepts segments, delivers bytes in order."""

    __slots__ = ("base", "first_seq", "next", "pending", "missing")

    def __init__(self) -> None:
        self.base: int | None = None  # sequence number of the first payload byte
        self.first_seq: int | None = None  # raw sequence number of the first packet seen
        self.next = 0  # offset (from base) of the next byte to deliver
        self.pending: dict[int, tuple[bytes, int, float]] = {}  # offset -> (data, length, ts)
        self.missing = 0

    def offset(self, seq: int) -> int:
        """Offset of `seq` from base; negative for bytes before it (wrap-around safe)."""
        relative = (seq - self.base) % _SEQ_MODULO
        return relative - _SEQ_MODULO if relative >= _SEQ_HALF else relative

    def accept(self, offset: int, data: bytes, length: int, ts: float) -> bytes:
        """Take a segment; return the bytes it makes contiguous (b"" if none)."""
        end = offset + length
        if end <= self.next:
            return b""  # all seen before: a retransmission
        if offset < self.next:  # overlaps what was delivered: keep only the new part
            data = data[self.next - offset:]
            offset = self.next
        if offset > self.next:  # early: wait for the gap to fill
            waiting = self.pending.get(offset)
            if waiting is None or waiting[1] < end - offset:
                self.pending[offset] = (data, end - offset, ts)
            return b""
        pieces = [self._deliver(data, end)]
        if self.pending:
            self._drain(pieces)
        return b"".join(pieces)

    def skip_to(self, offset: int) -> bytes:
        """The receiver acknowledged up to `offset`: bytes before the earliest waiting
        segment were sent but not captured, so give up on them and deliver what waits."""
        if not self.pending or offset <= min(self.pending):
            return b""
        return self.flush_one_gap()

    def flush_one_gap(self) -> bytes:
        earliest = min(self.pending)
        if earliest > self.next:
            self.missing += earliest - self.next
            self.next = earliest
        pieces: list[bytes] = []
        self._drain(pieces)
        return b"".join(pieces)

    def earliest_waiting_ts(self) -> float:
        return self.pending[min(self.pending)][2]

    def _deliver(self, data: bytes, end: int) -> bytes:
        # A packet cut by the snap length still advances the sequence by its real length.
        self.missing += end - self.next - len(data)
        self.next = end
        return data

    def _drain(self, pieces: list[bytes]) -> None:
        pending = self.pending
        while pending:
            offset = min(pending)
            if offset > self.next:
                return
            data, length, _ = pending.pop(offset)
            end = offset + length
            if end > self.next:
                pieces.append(self._deliver(data[self.next - offset:], end))


class _Connection:
    """A connection being read: side 0 is the source of its first packet."""

    __slots__ = ("index", "endpoints", "halves", "deliveries", "syn_side", "synack_side",
                 "packets", "start_ts", "end_ts")

    def __init__(self, index: int, packet: Packet) -> None:
        self.index = index
        self.endpoints = ((packet.src, packet.sport), (packet.dst, packet.dport))
        self.halves = (_HalfFlow(), _HalfFlow())
        self.deliveries: list[tuple[int, float, bytes]] = []
        self.syn_side: int | None = None
        self.synack_side: int | None = None
        self.packets = 0
        self.start_ts = packet.ts
        self.end_ts = packet.ts

    def add(self, side: int, packet: Packet) -> None:
        self.packets += 1
        self.end_ts = packet.ts
        flags = packet.flags
        half = self.halves[side]
        if half.base is None:
            half.first_seq = packet.seq
            half.base = (packet.seq + 1) % _SEQ_MODULO if flags & SYN else packet.seq
        if flags & SYN:
            if flags & ACK:
                self.synack_side = side
            else:
                self.syn_side = side
        other = self.halves[1 - side]
        if other.pending and flags & ACK:
            gap_filled = other.skip_to(other.offset(packet.ack))
            if gap_filled:
                self.deliveries.append((1 - side, packet.ts, gap_filled))
        if packet.length:
            seq = packet.seq + 1 if flags & SYN else packet.seq
            data = half.accept(half.offset(seq), packet.payload, packet.length, packet.ts)
            if data:
                self.deliveries.append((side, packet.ts, data))

    def finish(self, ports: Mapping[int, str]) -> TcpStream:
        for side, half in enumerate(self.halves):
            while half.pending:  # never filled: keep what was captured after the gap
                ts = half.earliest_waiting_ts()
                self.deliveries.append((side, ts, half.flush_one_gap()))
        client_side = self._client_side()
        client = Endpoint.from_packed(*self.endpoints[client_side])
        server = Endpoint.from_packed(*self.endpoints[1 - client_side])
        return TcpStream(
            index=self.index,
            client=client,
            server=server,
            proto=protocol_for(server.port, client.port, ports),
            messages=list(_turns(self.deliveries, client_side)),
            start_ts=self.start_ts,
            end_ts=self.end_ts,
            packets=self.packets,
            handshake_seen=self.syn_side is not None or self.synack_side is not None,
            missing_bytes=self.halves[0].missing + self.halves[1].missing,
        )

    def _client_side(self) -> int:
        if self.syn_side is not None:
            return self.syn_side
        if self.synack_side is not None:
            return 1 - self.synack_side
        # No handshake captured: clients use ephemeral ports, higher than the services'.
        return 1 if self.endpoints[1][1] > self.endpoints[0][1] else 0


def _turns(deliveries: list[tuple[int, float, bytes]], client_side: int) -> Iterator[Chunk]:
    """Join consecutive deliveries of one side into one chunk."""
    start = 0
    for i in range(1, len(deliveries) + 1):
        if i == len(deliveries) or deliveries[i][0] != deliveries[start][0]:
            side, ts, _ = deliveries[start]
            data = b"".join(piece for _, _, piece in deliveries[start:i])
            yield Chunk(Direction.CLIENT if side == client_side else Direction.SERVER, ts, data)
            start = i


class TcpReassembler:
    """Feed TCP packets in capture order; `streams()` gives the reassembled connections."""

    def __init__(self, ports: Mapping[int, str]) -> None:
        self._ports = ports
        self._connections: list[_Connection] = []
        self._by_address: dict[tuple, tuple[_Connection, int]] = {}

    def add(self, packet: Packet) -> None:
        key = (packet.src, packet.sport, packet.dst, packet.dport)
        found = self._by_address.get(key)
        if found is None or self._reuses_ports(found, packet):
            connection = _Connection(len(self._connections), packet)
            self._connections.append(connection)
            self._by_address[key] = (connection, 0)
            self._by_address[(packet.dst, packet.dport, packet.src, packet.sport)] = (connection, 1)
            found = (connection, 0)
        connection, side = found
        connection.add(side, packet)

    @staticmethod
    def _reuses_ports(found: tuple[_Connection, int], packet: Packet) -> bool:
        """A new SYN with another initial sequence number is a new connection on the same
        ports (Wireshark's rule too)."""
        if packet.flags & (SYN | ACK) != SYN:
            return False
        connection, side = found
        first_seq = connection.halves[side].first_seq
        return first_seq is not None and first_seq != packet.seq

    def streams(self) -> list[TcpStream]:
        return [connection.finish(self._ports) for connection in self._connections]
