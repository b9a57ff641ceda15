"""How fast `labctl capture follow` reconstructs TCP streams, against tshark.

Generates (once, kept in /var/tmp) a ~200 MB pcap of mixed lab traffic synthesized with dpkt:
SMTP sends, POP3 and IMAP downloads, HTTP GETs with realistic sizes, 1448-byte segments and
delayed ACKs, many connections at once, plus DNS over UDP. Then times:

  ours    load_capture(): one pass that reassembles ALL streams (DNS is decoded on
          demand, by dns_messages(): timed apart);
  tshark  -z follow,tcp,raw,N: one pass per invocation; each -z option follows one stream,
          so we time a single-stream pass and one pass following a sample of streams, and
          extrapolate that to all streams (batches of the sample size).

Usage: python bench/bench_follow.py [--size-mb 200] [--sample 20] [--regenerate]
"""
from __future__ import annotations

import argparse
import heapq
import random
import socket
import time
from pathlib import Path

import dpkt

from labctl.capture import load_capture
from labctl.capture.tshark import follow_streams, tshark_path

PCAP = Path("/var/tmp/labctl-bench-follow.pcap")
MSS = 1448
SERVER_IP = socket.inet_aton("172.28.0.90")
WEB_IP = socket.inet_aton("172.28.0.50")
DNS_IP = socket.inet_aton("172.28.0.29")
MAC_A, MAC_B = b"\x02\x42\xac\x1c\x00\x01", b"\x02\x42\xac\x1c\x00\x5a"


def _frame(src, dst, sport, dport, seq, ack, flags, payload=b"") -> bytes:
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF,
                       flags=flags, win=501, data=payload)
    ip = dpkt.ip.IP(src=src, dst=dst, p=dpkt.ip.IP_PROTO_TCP, ttl=64, data=tcp)
    ip.len = 20 + 20 + len(payload)
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, data=ip))


def _session(rng: random.Random, client_ip: bytes, server_ip: bytes, sport: int, dport: int,
             turns: list[tuple[bool, bytes]], start: float):
    """Frames of one connection: handshake, each turn in MSS segments with an ACK every
    second segment, FIN exchange. Yields (ts, frame)."""
    ts = start
    seq = {True: rng.getrandbits(32), False: rng.getrandbits(32)}
    ends = {True: (client_ip, server_ip, sport, dport), False: (server_ip, client_ip, dport, sport)}

    def packet(from_client, flags, payload=b""):
        nonlocal ts
        ts += rng.uniform(0.00002, 0.0004)
        src, dst, a, b = ends[from_client]
        frame = _frame(src, dst, a, b, seq[from_client], seq[not from_client], flags, payload)
        seq[from_client] += len(payload) + (1 if flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN) else 0)
        return ts, frame

    yield packet(True, dpkt.tcp.TH_SYN)
    yield packet(False, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK)
    yield packet(True, dpkt.tcp.TH_ACK)
    for from_client, data in turns:
        for n, offset in enumerate(range(0, len(data), MSS)):
            yield packet(from_client, dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK, data[offset:offset + MSS])
            if n % 2:
                yield packet(not from_client, dpkt.tcp.TH_ACK)
    yield packet(True, dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK)
    yield packet(False, dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK)
    yield packet(True, dpkt.tcp.TH_ACK)


def _message(rng: random.Random) -> bytes:
    """A mail with a base64 attachment of a realistic size (a few KB to a few MB)."""
    size = int(min(rng.lognormvariate(10.3, 1.3), 4_000_000))
    line = b"".join(rng.choice([b"QUJD", b"ZGVm", b"R0hJ", b"amts"]) for _ in range(19)) + b"\r\n"
    body = line * (size // len(line) + 1)
    return (b"From: alumnopop@redes.unlp.edu.ar\r\nTo: alumnoimap@redes.unlp.edu.ar\r\nSubject: adjunto\r\n"
            b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\r\n" + body + b"--b--\r\n")


def _turns(rng: random.Random, kind: str) -> tuple[int, list[tuple[bool, bytes]]]:
    if kind == "smtp":
        mail = _message(rng)
        return 25, [(False, b"220 mail.redes.unlp.edu.ar ESMTP Postfix\r\n"), (True, b"EHLO [172.28.0.1]\r\n"),
                    (False, b"250-mail.redes.unlp.edu.ar\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 CHUNKING\r\n"),
                    (True, b"MAIL FROM:<alumnopop@redes.unlp.edu.ar>\r\n"), (False, b"250 2.1.0 Ok\r\n"),
                    (True, b"RCPT TO:<alumnoimap@redes.unlp.edu.ar>\r\n"), (False, b"250 2.1.5 Ok\r\n"),
                    (True, b"DATA\r\n"), (False, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
                    (True, mail + b".\r\n"), (False, b"250 2.0.0 Ok: queued as 42E8C6010E\r\n"),
                    (True, b"QUIT\r\n"), (False, b"221 2.0.0 Bye\r\n")]
    if kind == "pop":
        mail = _message(rng)
        return 110, [(False, b"+OK Dovecot ready.\r\n"), (True, b"USER alumnopop\r\n"), (False, b"+OK\r\n"),
                     (True, b"PASS alumnopoppass\r\n"), (False, b"+OK Logged in.\r\n"), (True, b"RETR 1\r\n"),
                     (False, b"+OK %d octets\r\n" % len(mail) + mail + b".\r\n"), (True, b"QUIT\r\n"),
                     (False, b"+OK Logging out.\r\n")]
    if kind == "imap":
        mail = _message(rng)
        return 143, [(False, b"* OK Dovecot ready.\r\n"), (True, b"1 LOGIN alumnoimap alumnoimappass\r\n"),
                     (False, b"1 OK Logged in\r\n"), (True, b"2 UID FETCH 5 (BODY.PEEK[])\r\n"),
                     (False, b"* 3 FETCH (UID 5 BODY[] {%d}\r\n" % len(mail) + mail + b")\r\n2 OK Fetch completed.\r\n"),
                     (True, b"3 LOGOUT\r\n"), (False, b"* BYE\r\n3 OK Logout completed.\r\n")]
    page = b"<p>www.redes.unlp.edu.ar</p>\n" * int(min(rng.lognormvariate(6.5, 1.5), 200_000))
    return 80, [(True, b"GET / HTTP/1.1\r\nHost: www.redes.unlp.edu.ar\r\n\r\n"),
                (False, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(page) + page)]


def _dns(rng: random.Random, start: float):
    query = dpkt.dns.DNS(id=rng.getrandbits(16), qd=[dpkt.dns.DNS.Q(name="www.redes.unlp.edu.ar")])
    answer = dpkt.dns.DNS(id=query.id, op=dpkt.dns.DNS_QR | dpkt.dns.DNS_RA, qd=query.qd, an=[
        dpkt.dns.DNS.RR(name="www.redes.unlp.edu.ar", type=dpkt.dns.DNS_A, ttl=300, rdata=socket.inet_aton("172.28.0.50"))])
    sport = rng.randint(32768, 60999)
    for ts, src, dst, a, b, message in ((start, b"\xac\x1c\x00\x01", DNS_IP, sport, 53, query),
                                        (start + 0.0003, DNS_IP, b"\xac\x1c\x00\x01", 53, sport, answer)):
        udp = dpkt.udp.UDP(sport=a, dport=b, data=bytes(message))
        udp.ulen = 8 + len(udp.data)
        ip = dpkt.ip.IP(src=src, dst=dst, p=dpkt.ip.IP_PROTO_UDP, ttl=64, data=udp)
        ip.len = 20 + udp.ulen
        yield ts, bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, data=ip))


def generate(path: Path, size_mb: int, seed: int = 4) -> None:
    rng = random.Random(seed)
    sessions, produced, start = [], 0, 1694548213.0
    while produced < size_mb * 1_000_000:
        kind = rng.choice(["smtp", "pop", "imap", "http", "http"])
        dport, turns = _turns(rng, kind)
        produced += sum(len(data) for _, data in turns) * 1.05
        client = socket.inet_aton(f"172.28.{rng.randint(1, 3)}.{rng.randint(2, 254)}")
        server = WEB_IP if dport == 80 else SERVER_IP
        sessions.append(_session(rng, client, server, rng.randint(32768, 60999), dport, turns, start))
        sessions.append(_dns(rng, start - 0.001))
        start += rng.uniform(0.0, 0.02)  # connections overlap: their packets interleave
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, snaplen=262144)
        for ts, frame in heapq.merge(*sessions, key=lambda packet: packet[0]):
            writer.writepkt_time(frame, ts)


def _timed(action):
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--sample", type=int, default=20, help="streams tshark follows in one pass")
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()
    if args.regenerate or not PCAP.exists():
        print(f"generating {PCAP} (~{args.size_mb} MB) ...", flush=True)
        seconds, _ = _timed(lambda: generate(PCAP, args.size_mb))
        print(f"  generated in {seconds:.1f} s")
    megabytes = PCAP.stat().st_size / 1e6
    tshark_path()

    ours_s, capture = _timed(lambda: load_capture([PCAP]))
    dns_s, dns_messages = _timed(capture.dns_messages)
    streams = capture.streams
    payload_mb = sum(len(c.data) for s in streams for c in s.messages) / 1e6
    rng = random.Random(1)
    sample = sorted(rng.sample(range(len(streams)), min(args.sample, len(streams))))
    single_s, _ = _timed(lambda: follow_streams(PCAP, [sample[0]]))
    sample_s, reference = _timed(lambda: follow_streams(PCAP, sample))
    for index in sample:  # the race is only fair if both give the same bytes
        stream = streams[index]
        assert reference[index].bytes_from(str(stream.client)) == stream.client_bytes(), index
        assert reference[index].bytes_from(str(stream.server)) == stream.server_bytes(), index
    batches = -(-len(streams) // len(sample))
    tshark_all_s = sample_s * batches

    print(f"\nfile: {PCAP} {megabytes:.1f} MB, {capture.packets} TCP/UDP packets, "
          f"{len(streams)} TCP streams ({payload_mb:.1f} MB payload), {len(dns_messages)} DNS messages")
    print(f"sample of {len(sample)} streams: our bytes == tshark's, both directions\n")
    rows = [
        ("ours: all streams, one pass (load_capture)", ours_s),
        ("ours: decoding the DNS messages too (dns_messages(), on demand)", ours_s + dns_s),
        ("tshark: one stream, one pass (-z follow,tcp,raw,N)", single_s),
        (f"tshark: {len(sample)} streams, one pass ({len(sample)} -z options)", sample_s),
        (f"tshark: all {len(streams)} streams, estimated ({batches} passes of {len(sample)})", tshark_all_s),
    ]
    for name, seconds in rows:
        print(f"  {name:<62} {seconds:9.2f} s  {megabytes / seconds:9.1f} MB/s")
    print(f"\nsingle-stream pass: ours/tshark speed ratio {single_s / ours_s:.2f}x "
          f"(ours reconstructs all {len(streams)} streams in that pass)")
    print(f"all streams:        ours/tshark speed ratio {tshark_all_s / ours_s:.1f}x")


if __name__ == "__main__":
    main()
