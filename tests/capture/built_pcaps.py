"""Capture files written packet by packet with dpkt, for the cases live traffic on
loopback never produces: reordering, retransmission, overlap, a snap-length cut, every link
layer, pcapng."""
from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import dpkt

from labctl.capture.reader import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
CLIENT = ("172.28.0.1", 43648)
SERVER = ("172.28.0.90", 25)
LINK_TYPES = {"ethernet": LINKTYPE_ETHERNET, "sll": LINKTYPE_LINUX_SLL, "sll2": LINKTYPE_LINUX_SLL2, "raw": LINKTYPE_RAW}


@dataclass
class Segment:
    from_client: bool
    offset: int  # payload offset in its direction (0 = first byte after the SYN)
    data: bytes = b""
    flags: int = PSH | ACK
    captured: int | None = None  # payload bytes kept by the snap length


@dataclass
class Conversation:
    """One TCP connection's packets, sequence numbers relative to the initial ones."""

    client_isn: int
    server_isn: int
    segments: list[Segment]
    client: tuple[str, int] = CLIENT
    server: tuple[str, int] = SERVER

    def packets(self) -> list[tuple[bytes, int]]:
        """(IP packet as captured, its length on the wire)."""
        packets = []
        acked = {True: 0, False: 0}  # highest offset each side has sent: the other side acks it
        for segment in self.segments:
            src, dst = (self.client, self.server) if segment.from_client else (self.server, self.client)
            isn, peer_isn = (self.client_isn, self.server_isn) if segment.from_client else (self.server_isn, self.client_isn)
            seq = isn if segment.flags & SYN else isn + 1 + segment.offset
            acked[segment.from_client] = max(acked[segment.from_client], segment.offset + len(segment.data))
            ack = peer_isn + 1 + acked[not segment.from_client] if segment.flags & ACK else 0
            tcp = dpkt.tcp.TCP(sport=src[1], dport=dst[1], seq=seq % 2**32, ack=ack % 2**32,
                               flags=segment.flags, win=65535, data=segment.data)
            ip = dpkt.ip.IP(src=socket.inet_aton(src[0]), dst=socket.inet_aton(dst[0]), p=dpkt.ip.IP_PROTO_TCP,
                            ttl=64, data=tcp)
            ip.len = len(bytes(ip))
            wire = bytes(ip)
            cut = len(wire) - len(segment.data) + (segment.captured if segment.captured is not None else len(segment.data))
            packets.append((wire[:cut], len(wire)))
        return packets


def link_frame(ip_packet: bytes, linktype: int) -> bytes:
    if linktype == LINKTYPE_ETHERNET:
        header = bytes(dpkt.ethernet.Ethernet(src=b"\x02\x42\xac\x1c\x00\x01", dst=b"\x02\x42\xac\x1c\x00\x5a"))
    elif linktype == LINKTYPE_LINUX_SLL:
        header = bytes(dpkt.sll.SLL(type=4, hrd=1, hlen=6, hdr=b"\x02\x42\xac\x1c\x00\x01\x00\x00"))
    elif linktype == LINKTYPE_LINUX_SLL2:
        header = bytes(dpkt.sll2.SLL2(intindex=3, hrd=1, type=4, hlen=6, hdr=b"\x02\x42\xac\x1c\x00\x01\x00\x00"))
    else:
        header = b""
    return header + ip_packet


def write_capture(path: Path, packets: list[tuple[bytes, int]], linktype: int, pcapng: bool = False,
                  start: float = 1694548213.0, step: float = 0.001) -> Path:
    """Write IP packets framed for `linktype`; the wire length is kept for cut packets."""
    with open(path, "wb") as f:
        if pcapng:
            writer = dpkt.pcapng.Writer(f, snaplen=65535, linktype=linktype)
        else:
            writer = dpkt.pcap.Writer(f, snaplen=65535, linktype=linktype)
        for i, (packet, wire_length) in enumerate(packets):
            frame = link_frame(packet, linktype)
            frame_length = len(frame) - len(packet) + wire_length
            ts = start + i * step
            if pcapng:
                micro = round(ts * 1e6)
                writer.writepkt(dpkt.pcapng.EnhancedPacketBlockLE(
                    ts_high=micro >> 32, ts_low=micro & 0xFFFFFFFF, caplen=len(frame), pkt_len=frame_length,
                    pkt_data=frame))
            else:
                header = dpkt.pcap.LEPktHdr(tv_sec=int(ts), tv_usec=round(ts % 1 * 1e6), caplen=len(frame),
                                            len=frame_length)
                f.write(bytes(header) + frame)
    return path


# An SMTP session as a capture can mangle it. The client's sequence numbers wrap around 2**32
# during EHLO; the server's multi-line EHLO reply arrives last part first; MAIL FROM comes in
# overlapping pieces plus a retransmission; "250 Ok" is retransmitted; the capture's snap
# length cuts the last packet.
GREETING = b"220 mail.redes.unlp.edu.ar ESMTP Postfix\r\n"
EHLO = b"EHLO [172.28.0.1]\r\n"
EHLO_REPLY = [b"250-mail.redes.unlp.edu.ar\r\n", b"250-PIPELINING\r\n", b"250 8BITMIME\r\n"]
MAIL_FROM = b"MAIL FROM:<alumnopop@redes.unlp.edu.ar>\r\n"
MAIL_OK = b"250 2.1.0 Ok\r\n"
QUIT = b"QUIT\r\n"
BYE = b"221 2.0.0 Bye\r\n" + b"-" * 200
BYE_CAPTURED = 20


def mangled_smtp_session() -> Conversation:
    ehlo_reply_at = len(GREETING)
    reply_offsets = [ehlo_reply_at, ehlo_reply_at + len(EHLO_REPLY[0]), ehlo_reply_at + len(EHLO_REPLY[0]) + len(EHLO_REPLY[1])]
    mail_ok_at = ehlo_reply_at + len(b"".join(EHLO_REPLY))
    c, s = True, False
    return Conversation(
        client_isn=2**32 - 10,
        server_isn=3_000_000_000,
        segments=[
            Segment(c, 0, flags=SYN),
            Segment(s, 0, flags=SYN | ACK),
            Segment(c, 0, flags=ACK),
            Segment(s, 0, GREETING),
            Segment(c, 0, EHLO),
            Segment(s, reply_offsets[2], EHLO_REPLY[2]),
            Segment(s, reply_offsets[0], EHLO_REPLY[0]),
            Segment(s, reply_offsets[1], EHLO_REPLY[1]),
            Segment(c, len(EHLO), MAIL_FROM[:20]),
            Segment(c, len(EHLO) + 10, MAIL_FROM[10:30]),
            Segment(c, len(EHLO), MAIL_FROM[:20]),
            Segment(c, len(EHLO) + 30, MAIL_FROM[30:]),
            Segment(s, mail_ok_at, MAIL_OK),
            Segment(s, mail_ok_at, MAIL_OK),
            Segment(c, len(EHLO) + len(MAIL_FROM), QUIT),
            Segment(c, len(EHLO) + len(MAIL_FROM) + len(QUIT), flags=FIN | ACK),
            Segment(s, mail_ok_at + len(MAIL_OK), BYE, captured=BYE_CAPTURED),
        ],
    )


MANGLED_CLIENT_BYTES = EHLO + MAIL_FROM + QUIT
MANGLED_SERVER_BYTES = GREETING + b"".join(EHLO_REPLY) + MAIL_OK + BYE[:BYE_CAPTURED]
