"""Read packets out of pcap/pcapng files (with dpkt) down to their TCP or UDP header.

Several files (tcpdump's rotated `lab.pcap`, `lab.pcap1`, ...) are merged into one packet
sequence in timestamp order. Damaged or truncated packets are tolerated: whatever cannot be
decoded down to a transport header is skipped, and a payload cut short by the snap length
keeps its real (reported) length so that TCP sequence numbers stay right.
"""
from __future__ import annotations

import heapq
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import dpkt

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
LINKTYPE_NAMES = {
    LINKTYPE_NULL: "BSD loopback", LINKTYPE_ETHERNET: "Ethernet", LINKTYPE_RAW: "raw IP", LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)", LINKTYPE_IPV4: "raw IPv4", LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2 (SLL2)",
}
# Some systems write raw IP with the DLT value instead of the LINKTYPE one.
_RAW_ALIASES = (12, 14)

IPPROTO_TCP = 6
IPPROTO_UDP = 17


@dataclass(slots=True)
class Packet:
    """One TCP segment or UDP datagram, as much as the capture holds of it."""

    ts: float
    src: bytes  # packed IPv4/IPv6 address
    dst: bytes
    sport: int
    dport: int
    is_tcp: bool
    payload: bytes  # captured payload: shorter than `length` when the snap length cut it
    length: int  # payload length the packet really had on the wire
    seq: int = 0
    ack: int = 0
    flags: int = 0


def _raw_ip(buf: bytes):
    return dpkt.ip6.IP6(buf) if buf[:1] and buf[0] >> 4 == 6 else dpkt.ip.IP(buf)


_NETWORK_LAYER = {
    LINKTYPE_ETHERNET: lambda buf: dpkt.ethernet.Ethernet(buf).data,
    LINKTYPE_LINUX_SLL: lambda buf: dpkt.sll.SLL(buf).data,
    LINKTYPE_LINUX_SLL2: lambda buf: dpkt.sll2.SLL2(buf).data,
    LINKTYPE_NULL: lambda buf: dpkt.loopback.Loopback(buf).data,
    LINKTYPE_LOOP: lambda buf: dpkt.loopback.Loopback(buf).data,
    LINKTYPE_RAW: _raw_ip,
    LINKTYPE_IPV4: dpkt.ip.IP,
    LINKTYPE_IPV6: dpkt.ip6.IP6,
    **{alias: _raw_ip for alias in _RAW_ALIASES},
}


class UnsupportedCapture(ValueError):
    """The file is not a capture we can read (format or link type)."""


def open_capture(f: BinaryIO):
    """A dpkt reader for a pcap or pcapng file object."""
    try:
        return dpkt.pcap.UniversalReader(f)
    except ValueError as error:
        raise UnsupportedCapture(f"{getattr(f, 'name', f)}: not a pcap or pcapng file ({error})") from None


def read_frames(path: Path) -> Iterator[tuple[float, bytes, int]]:
    """(timestamp, frame, link type) of every frame of one file.

    An empty file (tcpdump has just created it) has no frames; a record cut short at the end
    (tcpdump is still writing it) is yielded as far as it goes.
    """
    with open(path, "rb") as f:
        if not f.read(1):
            return
        f.seek(0)
        reader = open_capture(f)
        linktype = reader.datalink()
        if linktype not in _NETWORK_LAYER:
            raise UnsupportedCapture(f"{path}: link type {linktype} is not supported")
        try:
            for ts, frame in reader:
                yield ts, frame, linktype
        except (dpkt.NeedData, dpkt.UnpackError, ValueError):
            return  # a block cut short at the end of a file being written


def merged_frames(paths: Iterable[Path]) -> Iterator[tuple[float, bytes, int]]:
    """Frames of all files in timestamp order (stable: ties keep the order of `paths`)."""
    streams = [read_frames(Path(p)) for p in paths]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda frame: frame[0])


def decode_frame(ts: float, frame: bytes, linktype: int) -> Packet | None:
    """The TCP/UDP packet inside a frame, or None (not IP, not TCP/UDP, fragment, damaged)."""
    return _decode_ipv4_fast(ts, frame, linktype) or decode_frame_dpkt(ts, frame, linktype)


# Where the IPv4 header starts, and where the link layer says "IPv4" (0x0800), for the
# link layers a lab capture has. Decoding a frame with dpkt builds an object per layer
# (about 10 us a packet, most of a capture's reading time); the common case, IPv4 with a
# whole TCP/UDP header, is read here with one struct call per header instead. Anything
# else (IPv6, VLAN tags, fragments, cut headers) goes to dpkt; the tests check that both
# ways agree on every packet of real captures.
_IPV4_AT = {LINKTYPE_ETHERNET: (14, 12), LINKTYPE_LINUX_SLL: (16, 14), LINKTYPE_LINUX_SLL2: (20, 0)}
_IPV4 = struct.Struct("!BxHxxHxBxx4s4s")  # version/IHL, total length, flags/fragment, protocol, addresses
_TCP = struct.Struct("!HHIIBB")  # ports, seq, ack, data offset, flags
_UDP = struct.Struct("!HHH")  # ports, length


def _decode_ipv4_fast(ts: float, frame: bytes, linktype: int) -> Packet | None:
    """decode_frame for IPv4 TCP/UDP on the usual link layers; None: ask dpkt."""
    return _decode_ipv4_at(ts, frame, 0, len(frame), linktype)


def _decode_ipv4_at(ts: float, buf: bytes, base: int, frame_end: int, linktype: int) -> Packet | None:
    """_decode_ipv4_fast on the frame at buf[base:frame_end], read in place (no copy of it)."""
    located = _IPV4_AT.get(linktype)
    if located is not None:
        start, ethertype_at = located
        if buf[base + ethertype_at:base + ethertype_at + 2] != b"\x08\x00":
            return None
        start += base
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, *_RAW_ALIASES):
        start = base
    else:
        return None
    if frame_end < start + 20:
        return None
    version_ihl, total, fragment, protocol, src, dst = _IPV4.unpack_from(buf, start)
    header = (version_ihl & 0x0F) * 4
    if version_ihl >> 4 != 4 or header < 20 or fragment & 0x3FFF or total == 0:
        return None
    transport = start + header
    end = start + total  # bytes after it are link-layer padding
    if protocol == IPPROTO_TCP and frame_end >= transport + 20:
        sport, dport, seq, ack, offset, flags = _TCP.unpack_from(buf, transport)
        payload_at = transport + (offset >> 4) * 4
        if payload_at > frame_end or offset >> 4 < 5:
            return None
        return Packet(ts, src, dst, sport, dport, True, buf[payload_at:min(end, frame_end)], max(end - payload_at, 0),
                      seq, ack, flags)
    if protocol == IPPROTO_UDP and frame_end >= transport + 8:
        sport, dport, length = _UDP.unpack_from(buf, transport)
        return Packet(ts, src, dst, sport, dport, False, buf[transport + 8:min(end, transport + length, frame_end)],
                      max(length - 8, 0))
    return None


def decode_frame_dpkt(ts: float, frame: bytes, linktype: int) -> Packet | None:
    """decode_frame for every case, through dpkt's decoders."""
    try:
        ip = _NETWORK_LAYER[linktype](frame)
    except (dpkt.UnpackError, IndexError):
        return None
    if isinstance(ip, dpkt.ip.IP):
        if ip.offset or ip.mf:
            return None  # IP fragments: rare on a lab network, and not reassembled here
        # ip.len == 0 is TCP segmentation offload: the captured bytes are all there is.
        transport_length = ip.len - ip.hl * 4 if ip.len else None
    elif isinstance(ip, dpkt.ip6.IP6):
        extensions = sum(ext.length for ext in ip.all_extension_headers)
        transport_length = ip.plen - extensions if ip.plen else None
    else:
        return None
    transport = ip.data
    if isinstance(transport, dpkt.tcp.TCP):
        header = transport.off * 4
        length = transport_length - header if transport_length is not None else len(transport.data)
        return Packet(ts, ip.src, ip.dst, transport.sport, transport.dport, True, transport.data,
                      max(length, 0), transport.seq, transport.ack, transport.flags)
    if isinstance(transport, dpkt.udp.UDP):
        return Packet(ts, ip.src, ip.dst, transport.sport, transport.dport, False, transport.data,
                      max(transport.ulen - 8, 0))
    return None


def read_packets(paths: Iterable[Path]) -> Iterator[Packet]:
    """Every TCP/UDP packet of the files, merged in timestamp order (stable, as merged_frames)."""
    per_file = [_file_packets(Path(p)) for p in paths]
    if len(per_file) == 1:
        return per_file[0]
    return heapq.merge(*per_file, key=lambda packet: packet.ts)


# Classic pcap in microseconds (what tcpdump writes), by the byte order its magic shows.
_PCAP_RECORD = {b"\xd4\xc3\xb2\xa1": struct.Struct("<IIII"), b"\xa1\xb2\xc3\xd4": struct.Struct(">IIII")}
_PCAP_LINKTYPE = {b"\xd4\xc3\xb2\xa1": struct.Struct("<I"), b"\xa1\xb2\xc3\xd4": struct.Struct(">I")}
_READ_BLOCK = 1 << 20
# Link layer, IPv4 and TCP headers in one struct call: (layout, where IPv4 starts).
_IPV4_TCP = "BxHxxHxBxx4s4sHHIIBB"
_ETHERTYPE_IPV4_TCP = {
    LINKTYPE_ETHERNET: (struct.Struct("!12xH" + _IPV4_TCP), 14),
    LINKTYPE_LINUX_SLL: (struct.Struct("!14xH" + _IPV4_TCP), 16),
    LINKTYPE_LINUX_SLL2: (struct.Struct("!H18x" + _IPV4_TCP), 20),
}


def _file_packets(path: Path) -> Iterator[Packet]:
    """The TCP/UDP packets of one file. Classic pcap is read here in large blocks, each
    packet decoded in place (dpkt reads a record in two calls and copies it out); pcapng,
    nanosecond pcap and the rest go through read_frames."""
    with open(path, "rb") as f:
        header = f.read(24)
        record = _PCAP_RECORD.get(header[:4])
        if record is None or len(header) < 24:
            yield from _decoded(read_frames(path))
            return
        linktype = _PCAP_LINKTYPE[header[:4]].unpack_from(header, 20)[0]
        if linktype not in _NETWORK_LAYER:
            raise UnsupportedCapture(f"{path}: link type {linktype} is not supported")
        yield from _classic_pcap_packets(f, record, linktype)


def _decoded(frames: Iterable[tuple[float, bytes, int]]) -> Iterator[Packet]:
    for ts, frame, linktype in frames:
        packet = decode_frame(ts, frame, linktype)
        if packet is not None:
            yield packet


def _classic_pcap_packets(f: BinaryIO, record: struct.Struct, linktype: int) -> Iterator[Packet]:
    """The records after the file header; a record cut short at the end (tcpdump is still
    writing it) is taken as far as it goes, as read_frames does."""
    unpack_record = record.unpack_from
    fast = _ETHERTYPE_IPV4_TCP.get(linktype)
    if fast is not None:
        fast_unpack, fast_length, ip_at = fast[0].unpack_from, fast[0].size, fast[1]
    buf, pos, size = b"", 0, 0
    while True:
        if size - pos < 16:
            more = f.read(_READ_BLOCK)
            if not more:
                return
            buf, pos = buf[pos:] + more, 0
            size = len(buf)
            continue
        seconds, microseconds, captured, _ = unpack_record(buf, pos)
        start = pos + 16
        end = start + captured
        if end > size:
            more = f.read(max(_READ_BLOCK, end - size))
            if more:
                buf, pos = buf[pos:] + more, 0
                size = len(buf)
                continue
            end = size
        ts = seconds + microseconds / 1E6  # as dpkt computes it
        if fast is not None and end - start >= fast_length:
            # Most packets: IPv4 without options carrying TCP; every header in one call.
            (ethertype, version_ihl, total, fragment, protocol, src, dst,
             sport, dport, seq, ack, offset, flags) = fast_unpack(buf, start)
            if (ethertype == 0x0800 and version_ihl == 0x45 and protocol == IPPROTO_TCP and not fragment & 0x3FFF
                    and total and offset >= 0x50):
                ip_end = start + ip_at + total
                payload_at = start + ip_at + 20 + (offset >> 4) * 4
                if payload_at <= end:
                    yield Packet(ts, src, dst, sport, dport, True, buf[payload_at:ip_end if ip_end < end else end],
                                 ip_end - payload_at if ip_end > payload_at else 0, seq, ack, flags)
                    pos = end
                    continue
        packet = _decode_ipv4_at(ts, buf, start, end, linktype) or decode_frame_dpkt(ts, buf[start:end], linktype)
        if packet is not None:
            yield packet
        pos = end
