"""How fast `labctl capture follow` reconstructs TCP streams, against tshark, and in how
much memory.

Generates (once, kept in /var/tmp) a pcap of mixed lab traffic (default ~1 GB, a whole
class's capture) synthesized with dpkt: SMTP sends, POP3 and IMAP downloads, HTTP GETs with
realistic sizes, 1448-byte segments and delayed ACKs, many connections at once, plus DNS
over UDP. Then, each in its own process (time and peak resident memory):

  ours    follow_capture(): the one streaming pass of `capture follow`, which reassembles
          ALL streams and hands each over once it has closed; also on the first quarter
          of the file, to show memory does not grow with the file;
  tshark  -z follow,tcp,raw,N: one pass per invocation; each -z option follows one stream,
          so we time a single-stream pass and one pass following a sample of streams, and
          extrapolate that to all streams (batches of the sample size).

The sample's bytes, both directions, must be the same in both.

Usage: python bench/bench_follow.py [--size-mb 1000] [--sample 20] [--regenerate]
"""
from __future__ import annotations

import argparse
import heapq
import multiprocessing
import os
import random
import resource
import socket
import subprocess
import time
from pathlib import Path

import dpkt

from labctl.capture.follow import follow_capture
from labctl.capture.tshark import follow_streams, tshark_path

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


def _ours(pcap: Path, sample: list[int]) -> dict:
    """Child process: the streaming pass over every TCP stream, then the DNS messages
    decoded (timed apart: dnspython's decoding is most of it); the sample's bytes kept."""
    started = time.perf_counter()
    outcome, streams = follow_capture([pcap])
    count, payload, kept = 0, 0, {}
    for stream in streams:
        count += 1
        payload += sum(len(chunk.data) for chunk in stream.messages)
        if stream.index in sample:
            kept[stream.index] = (str(stream.client), stream.client_bytes(), str(stream.server), stream.server_bytes())
    seconds = time.perf_counter() - started
    dns = len(outcome.dns_messages())
    dns_seconds = time.perf_counter() - started - seconds
    outcome.close()
    return {"seconds": seconds, "dns_seconds": dns_seconds, "streams": count, "packets": outcome.packets,
            "payload": payload, "dns": dns, "sample": kept}


def _in_child(function, *args):
    """(result, seconds, peak RSS in MB) of function(*args) run in a fresh process."""
    with multiprocessing.get_context("fork").Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(_measured, (function, *args))


def _measured(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tshark(pcap: Path, indices: list[int]) -> dict:
    return follow_streams(pcap, indices)


def _tshark_peak(pcap: Path, index: int) -> tuple[float, float]:
    """(seconds, peak RSS MB) of one tshark single-stream pass."""
    started = time.perf_counter()
    child = subprocess.Popen([tshark_path(), "-n", "-r", str(pcap), "-q", "-z", f"follow,tcp,raw,{index}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0, child.returncode
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=20, help="streams tshark follows in one pass")
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()
    pcap = Path(f"/var/tmp/labctl-bench-follow-{args.size_mb}mb.pcap")
    if args.regenerate or not pcap.exists():
        print(f"generating {pcap} (~{args.size_mb} MB) ...", flush=True)
        started = time.perf_counter()
        generate(pcap, args.size_mb)
        print(f"  generated in {time.perf_counter() - started:.1f} s")
    megabytes = pcap.stat().st_size / 1e6
    quarter = pcap.with_name(pcap.stem + "-quarter.pcap")
    with open(pcap, "rb") as whole, open(quarter, "wb") as part:
        part.write(whole.read(int(pcap.stat().st_size / 4)))  # the last record cut: as tcpdump leaves it
    tshark_path()

    quarter_run, _, quarter_rss = _in_child(_ours, quarter, [])
    # Streams are numbered by their first packet: the quarter's are the whole file's first ones.
    sample = sorted(random.Random(1).sample(range(quarter_run["streams"]), min(args.sample, quarter_run["streams"])))
    ours, _, ours_rss = _in_child(_ours, pcap, sample)
    single_s, tshark_rss = _tshark_peak(pcap, sample[0])
    reference, sample_s, _ = _in_child(_tshark, pcap, sample)
    for index in sample:  # the race is only fair if both give the same bytes
        client, client_bytes, server, server_bytes = ours["sample"][index]
        assert reference[index].bytes_from(client) == client_bytes, index
        assert reference[index].bytes_from(server) == server_bytes, index
    batches = -(-ours["streams"] // len(sample))
    tshark_all_s = sample_s * batches
    quarter.unlink()

    print(f"\nfile: {pcap} {megabytes:.1f} MB, {ours['packets']} TCP/UDP packets, {ours['streams']} TCP streams "
          f"({ours['payload'] / 1e6:.1f} MB payload), {ours['dns']} DNS messages")
    print(f"sample of {len(sample)} streams: our bytes == tshark's, both directions\n")
    print(f"  {'':<64} {'time':>9}  {'speed':>11}  {'peak RSS':>9}")
    rows = [
        ("ours: all TCP streams, one streaming pass (capture follow)", ours["seconds"], megabytes, ours_rss),
        ("ours: the same on the first quarter of the file", quarter_run["seconds"], megabytes / 4, quarter_rss),
        ("ours: + decoding the DNS messages (dnspython), after the pass", ours["seconds"] + ours["dns_seconds"],
         megabytes, None),
        ("tshark: one stream, one pass (-z follow,tcp,raw,N)", single_s, megabytes, tshark_rss),
        (f"tshark: {len(sample)} streams, one pass ({len(sample)} -z options)", sample_s, megabytes, None),
        (f"tshark: all {ours['streams']} streams, estimated ({batches} passes of {len(sample)})", tshark_all_s, megabytes, None),
    ]
    for name, seconds, size, rss in rows:
        memory = f"{rss:7.0f} MB" if rss is not None else "        -"
        print(f"  {name:<64} {seconds:7.2f} s  {size / seconds:6.1f} MB/s  {memory}")
    print(f"\nsingle-stream pass: ours/tshark speed ratio {single_s / ours['seconds']:.2f}x "
          f"(ours reconstructs all {ours['streams']} streams in that pass)")
    print(f"  with DNS decoded:  ours/tshark speed ratio {single_s / (ours['seconds'] + ours['dns_seconds']):.2f}x")
    print(f"all streams:        ours/tshark speed ratio {tshark_all_s / ours['seconds']:.1f}x")
    print(f"peak memory:        ours {ours_rss:.0f} MB on the whole file, {quarter_rss:.0f} MB on a quarter; "
          f"tshark {tshark_rss:.0f} MB")


if __name__ == "__main__":
    main()
