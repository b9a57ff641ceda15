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

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Mapping

from labctl.capture.ports import protocol_for
from labctl.capture.streams import Chunk, Direction, Endpoint

if TYPE_CHECKING:  # named only: `up` reads no capture, and the reader imports dpkt
    from labctl.capture.reader import Packet

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10  # a FIN carries no payload byte: nothing to account for here
# A connection closed (FIN both ways, or RST) is finished once the capture is this many
# seconds past its close: late retransmissions and the last ACK still count to it.
CLOSE_GRACE = 5.0
# After that its ports still name it (stray packets join nothing and open no new stream,
# as in Wireshark's numbering) for this long, then are forgotten.
CLOSED_MEMORY = 300.0
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
                 "packets", "start_ts", "end_ts", "fin_sides", "closed_ts")

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
        self.fin_sides = 0  # bit per side that sent a FIN
        self.closed_ts: float | None = None  # when both sides had closed, or one reset

    def add(self, side: int, packet: Packet) -> None:
        self.packets += 1
        self.end_ts = packet.ts
        flags = packet.flags
        if flags & (FIN | RST) and self.closed_ts is None:
            self.fin_sides |= 1 << side if flags & FIN else 3
            if self.fin_sides == 3:
                self.closed_ts = packet.ts
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
        length = packet.length
        if length:
            seq = packet.seq + 1 if flags & SYN else packet.seq
            relative = (seq - half.base) % _SEQ_MODULO
            if relative == half.next and relative < _SEQ_HALF and not half.pending and len(packet.payload) == length:
                # The common case, the next bytes in order and whole: what accept() would do.
                half.next += length
                self.deliveries.append((side, packet.ts, packet.payload))
                return
            data = half.accept(half.offset(seq), packet.payload, length, packet.ts)
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


class _Finished:
    """What is left of a finished connection: its number and first sequence numbers, so
    that stray packets on its ports neither open a stream nor renumber the later ones."""

    __slots__ = ("index", "first_seqs", "finished_ts")

    def __init__(self, connection: _Connection, finished_ts: float) -> None:
        self.index = connection.index
        self.first_seqs = tuple(half.first_seq for half in connection.halves)
        self.finished_ts = finished_ts


class TcpReassembler:
    """Feed TCP packets in capture order; `streams()` gives the reassembled connections.

    With `streaming`, `finished()` hands over each connection once it has closed (and
    forgets it), so that a pass over a large capture holds only the open connections.
    """

    def __init__(self, ports: Mapping[int, str], streaming: bool = False) -> None:
        self._ports = ports
        self._streaming = streaming
        self._count = 0
        self._open: dict[int, _Connection] = {}  # by index, in index order
        self._by_address: dict[tuple, tuple[_Connection | _Finished, int]] = {}
        self._closing: deque[_Connection] = deque()  # closed, in the order they closed
        self._forgetting: deque[tuple[tuple, tuple]] = deque()  # address keys of finished ones

    def add(self, packet: Packet) -> None:
        key = (packet.src, packet.sport, packet.dst, packet.dport)
        found = self._by_address.get(key)
        if found is None or packet.flags & (SYN | ACK) == SYN and self._reuses_ports(found, packet):
            connection = _Connection(self._count, packet)
            self._count += 1
            self._open[connection.index] = connection
            self._by_address[key] = (connection, 0)
            self._by_address[(packet.dst, packet.dport, packet.src, packet.sport)] = (connection, 1)
            found = (connection, 0)
        connection, side = found
        if type(connection) is _Finished:
            return
        closed = connection.closed_ts
        connection.add(side, packet)
        if self._streaming and closed is None and connection.closed_ts is not None:
            self._closing.append(connection)

    @staticmethod
    def _reuses_ports(found: tuple[_Connection | _Finished, int], packet: Packet) -> bool:
        """A new SYN (the caller has seen the flags) with another initial sequence number is
        a new connection on the same ports (Wireshark's rule too)."""
        connection, side = found
        first_seq = connection.first_seqs[side] if type(connection) is _Finished else connection.halves[side].first_seq
        return first_seq is not None and first_seq != packet.seq

    def finished(self, now: float) -> list[TcpStream]:
        """Connections closed more than CLOSE_GRACE before `now` (capture time), reassembled
        and forgotten (streaming mode)."""
        done = []
        while self._closing and self._closing[0].closed_ts + CLOSE_GRACE <= now:
            connection = self._closing.popleft()
            if self._open.pop(connection.index, None) is None:
                continue  # its ports were reused by a new connection meanwhile: already gone
            done.append(connection.finish(self._ports))
            self._forget(connection, now)
        while self._forgetting and self._forgetting[0][0] + CLOSED_MEMORY <= now:
            _, keys = self._forgetting.popleft()
            for key in keys:
                entry = self._by_address.get(key)
                if entry is not None and type(entry[0]) is _Finished and entry[0].finished_ts + CLOSED_MEMORY <= now:
                    del self._by_address[key]
        return done

    def _forget(self, connection: _Connection, now: float) -> None:
        """Keep only a _Finished in its place (its ports may belong to a newer connection)."""
        finished = _Finished(connection, now)
        keys = []
        for side, (address, port) in enumerate(connection.endpoints):
            (peer_address, peer_port) = connection.endpoints[1 - side]
            key = (address, port, peer_address, peer_port)
            if self._by_address.get(key, (None,))[0] is connection:
                self._by_address[key] = (finished, side)
                keys.append(key)
        self._forgetting.append((now, tuple(keys)))

    def streams(self) -> list[TcpStream]:
        """Every connection not handed over yet, in index order."""
        streams = [connection.finish(self._ports) for connection in self._open.values()]
        self._open.clear()
        self._closing.clear()
        return streams
