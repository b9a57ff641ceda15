"""Which ports of which lab hosts answer, and which protocol each speaks.

Runs INSIDE a lab container (`python3 -c <this file> <json>`, standard library
only), so the truth is seen from another host of the lab, as a client would
see it. Only the addresses it is given are probed: the lab's own servers.
Output: {"ip": {"tcp": {"port": "protocol"}, "udp": {"port": "protocol"}}}.
"""
import asyncio
import json
import socket
import ssl
import struct
import sys

# Generous on purpose: the probe runs on a loaded 2-core host with hundreds of
# connections in flight, and a lab's closed port refuses at once (RST), so a long
# wait is only ever paid by a port that is slow to answer, never by a closed one.
CONNECT_TIMEOUT = 3.0
TLS_HANDSHAKE_TIMEOUT = 5.0
# A server that speaks first does so at once; every silent port pays this wait
# once per connection (in parallel), so it is shorter than the reply wait.
GREETING_TIMEOUT = 1.0
REPLY_TIMEOUT = 3.0
UDP_TIMEOUT = 0.8
PARALLEL = 256
# What a server that speaks first says first.
GREETINGS = ((b"220", "smtp"), (b"+OK", "pop3"), (b"* OK", "imap"))
TLS_NAMES = {"smtp": "smtps", "pop3": "pop3s", "imap": "imaps", "http": "https"}


def dns_query(tcp: bool) -> bytes:
    """A standard query for the root's NS: every DNS server answers it somehow."""
    message = struct.pack(">HHHHHH", 0x1abe, 0, 1, 0, 0, 0) + b"\x00" + struct.pack(">HH", 2, 1)
    return struct.pack(">H", len(message)) + message if tcp else message


def is_dns_reply(data: bytes, tcp: bool) -> bool:
    body = data[2:] if tcp else data
    return len(body) >= 12 and body[:2] == b"\x1a\xbe" and body[2] & 0x80 == 0x80


async def _open(ip, port, tls=False):
    context = None
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    opening = asyncio.open_connection(ip, port, ssl=context, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if tls else None)
    return await asyncio.wait_for(opening, CONNECT_TIMEOUT + (TLS_HANDSHAKE_TIMEOUT if tls else 0))


async def _talk(ip, port, tls):
    """The protocol heard on a connection: a greeting, else the reply to a DNS
    query (a DNS server answers it, a web server says "HTTP/... 400")."""
    reader, writer = await _open(ip, port, tls)
    try:
        try:
            first = await asyncio.wait_for(reader.read(64), GREETING_TIMEOUT)
        except asyncio.TimeoutError:
            first = b""
        for prefix, name in GREETINGS:
            if first.startswith(prefix):
                return name
        if first:
            return "unknown"
        writer.write(dns_query(tcp=True))
        await writer.drain()
        try:
            reply = await asyncio.wait_for(reader.read(64), REPLY_TIMEOUT)
        except asyncio.TimeoutError:
            reply = b""
        if is_dns_reply(reply, tcp=True):
            return "dns"
        if reply.startswith(b"HTTP/"):
            return "http"
    finally:
        writer.close()
    return None


async def identify(ip, port):
    """Plain text first; then inside TLS (https, imaps, pop3s, smtps)."""
    try:
        plain = await _talk(ip, port, tls=False)
    except (asyncio.TimeoutError, OSError):
        plain = None
    # nginx answers plain bytes on its TLS port with "HTTP/1.1 400" (plain HTTP request
    # sent to HTTPS port): an HTTP reply is only http when TLS is not spoken there.
    if plain and plain not in ("unknown", "http"):
        return plain
    try:
        inner = await _talk(ip, port, tls=True)
        if inner in TLS_NAMES:
            return TLS_NAMES[inner]
    except (asyncio.TimeoutError, OSError, ssl.SSLError):
        pass
    return plain or "unknown"


async def tcp_open(ip, port, limit):
    async with limit:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), CONNECT_TIMEOUT)
        except (asyncio.TimeoutError, OSError):
            return False
        writer.close()
        return True


def udp_probe(ip, port):
    """'dns' when a DNS reply comes back, else None. Silence cannot be told from
    a closed port (the kernel rate-limits its "port unreachable" replies), so a
    UDP port counts only when it answers; the lab's UDP service is DNS."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(UDP_TIMEOUT)
        sock.connect((ip, port))
        try:
            sock.send(dns_query(tcp=False))
            data = sock.recv(512)
        except (ConnectionRefusedError, socket.timeout):
            return None
    return "dns" if is_dns_reply(data, tcp=False) else "udp"


async def probe_host(ip, spec, limit):
    ports = sorted(set(range(1, spec["tcp_range"] + 1)) | set(spec["tcp"]))
    opened = [p for p, ok in zip(ports, await asyncio.gather(*(tcp_open(ip, p, limit) for p in ports))) if ok]
    protocols = await asyncio.gather(*(identify(ip, p) for p in opened))
    udp_ports = sorted(set(spec["udp"]) | set(opened))
    loop = asyncio.get_running_loop()
    udp = await asyncio.gather(*(loop.run_in_executor(None, udp_probe, ip, p) for p in udp_ports))
    return {
        "tcp": {str(p): name for p, name in zip(opened, protocols)},
        "udp": {str(p): name for p, name in zip(udp_ports, udp) if name},
    }


async def main(request):
    limit = asyncio.Semaphore(PARALLEL)
    results = await asyncio.gather(*(probe_host(ip, spec, limit) for ip, spec in request.items()))
    return dict(zip(request, results))


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
