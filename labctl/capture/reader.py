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
    located = _IPV4_AT.get(linktype)
    if located is not None:
        start, ethertype_at = located
        if frame[ethertype_at:ethertype_at + 2] != b"\x08\x00":
            return None
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, *_RAW_ALIASES):
        start = 0
    else:
        return None
    if len(frame) < start + 20:
        return None
    version_ihl, total, fragment, protocol, src, dst = _IPV4.unpack_from(frame, start)
    header = (version_ihl & 0x0F) * 4
    if version_ihl >> 4 != 4 or header < 20 or fragment & 0x3FFF or total == 0:
        return None
    transport = start + header
    end = start + total  # bytes after it are link-layer padding
    if protocol == IPPROTO_TCP and len(frame) >= transport + 20:
        sport, dport, seq, ack, offset, flags = _TCP.unpack_from(frame, transport)
        payload_at = transport + (offset >> 4) * 4
        if payload_at > len(frame) or offset >> 4 < 5:
            return None
        return Packet(ts, src, dst, sport, dport, True, frame[payload_at:end], max(end - payload_at, 0), seq, ack, flags)
    if protocol == IPPROTO_UDP and len(frame) >= transport + 8:
        sport, dport, length = _UDP.unpack_from(frame, transport)
        return Packet(ts, src, dst, sport, dport, False, frame[transport + 8:min(end, transport + length)],
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
    """Every TCP/UDP packet of the files, merged in timestamp order."""
    for ts, frame, linktype in merged_frames(paths):
        packet = decode_frame(ts, frame, linktype)
        if packet is not None:
            yield packet
