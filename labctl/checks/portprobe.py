"""Which ports of which lab hosts answer, and which protocol each speaks.

Runs INSIDE a lab container (`python3 -c <this file> <json>`, standard library
only), so the truth is seen from another host of the lab, as a client would
see it. Only the addresses it is given are probed: the lab's own servers.
Input: {"ip": {"tcp": [port], "udp": [port]}}, the ports to try.
Output: {"ports": {"ip": {"tcp": {"port": "protocol"}, "udp": {"port": "protocol"}}},
         "probes": [[source port, ip, port, time], ...]}: every connection it made, for
the capture to tell them from the student's (labctl.capture.probes).

Every wait ends at the server's first answer (an accept, a refusal, a greeting,
a reply), so a timeout below is only a cap, paid by a port that stays silent;
the caps are generous because a loaded 2-core host may answer late, and an
answer that comes late is still heard.
"""
import asyncio
import errno
import json
import selectors
import socket
import ssl
import struct
import sys
import time

# A lab's closed port refuses at once (RST); only a filtered one waits the cap,
# which leaves room for the kernel's resend of a lost SYN (after 1 s).
CONNECT_TIMEOUT = 3.0
TLS_HANDSHAKE_TIMEOUT = 5.0
REPLY_TIMEOUT = 3.0
# Servers that speak first (SMTP, POP3, IMAP) greet at once; the probe listens
# this long before it sends its DNS query, so as not to talk over a greeting.
# Politeness only: a greeting later than this still comes before any answer to
# the query, and is recognised all the same.
GREETING_GRACE = 0.2
# A silent UDP port may be closed (the kernel rate-limits its "port unreachable",
# six at once then one a second) or a DNS server slow to answer: asked once more,
# waiting longer.
UDP_WAITS = (0.5, 2.0)
# Connections in flight at once (the container allows 20000 open files).
SCAN_WINDOW = 1024
# What a server that speaks first says first.
GREETINGS = ((b"220", "smtp"), (b"+OK", "pop3"), (b"* OK", "imap"))
TLS_NAMES = {"smtp": "smtps", "pop3": "pop3s", "imap": "imaps", "http": "https"}
# Heard on plain bytes, these do not rule out TLS on the port: nginx answers
# "HTTP/1.1 400" to plain bytes on its HTTPS port.
NOT_PLAIN_FOR_SURE = (None, "unknown", "http")


def dns_query(tcp: bool) -> bytes:
    """A standard query for the root's NS: every DNS server answers it somehow."""
    message = struct.pack(">HHHHHH", 0x1abe, 0, 1, 0, 0, 0) + b"\x00" + struct.pack(">HH", 2, 1)
    return struct.pack(">H", len(message)) + message if tcp else message


def is_dns_reply(data: bytes, tcp: bool) -> bool:
    body = data[2:] if tcp else data
    return len(body) >= 12 and body[:2] == b"\x1a\xbe" and body[2] & 0x80 == 0x80


def _made(sock, target, made):
    """Note the connection (or UDP exchange) `sock` makes with `target`: its source port is bound."""
    made.append([sock.getsockname()[1], target[0], target[1], time.time()])


def open_tcp_ports(targets, made):
    """The (ip, port) targets that accept a TCP connection: non-blocking connects,
    SCAN_WINDOW in flight, each settled by its own answer (accept or refusal) or,
    when silent, after CONNECT_TIMEOUT."""
    waiting = iter(targets)
    in_flight = {}  # socket -> (target, deadline)
    opened = set()
    with selectors.DefaultSelector() as selector:

        def settle(sock):
            target, _ = in_flight.pop(sock)
            selector.unregister(sock)
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                opened.add(target)
            sock.close()

        while True:
            for target in waiting:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                code = sock.connect_ex(target)
                _made(sock, target, made)
                if code in (0, errno.EINPROGRESS):
                    in_flight[sock] = (target, time.monotonic() + CONNECT_TIMEOUT)
                    selector.register(sock, selectors.EVENT_WRITE)
                else:
                    sock.close()
                if len(in_flight) >= SCAN_WINDOW:
                    break
            if not in_flight:
                return opened
            first_deadline = min(deadline for _, deadline in in_flight.values())
            for key, _ in selector.select(max(0.0, first_deadline - time.monotonic())):
                settle(key.fileobj)
            now = time.monotonic()
            expired = [sock for sock, (_, deadline) in in_flight.items() if deadline <= now]
            if expired:
                # An answer that came while this process was not running counts.
                for key, _ in selector.select(0):
                    settle(key.fileobj)
                for sock in expired:
                    if sock in in_flight:
                        in_flight.pop(sock)
                        selector.unregister(sock)
                        sock.close()


async def _open(ip, port, tls, made):
    context = None
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    # Its own socket, bound first: the source port is known even if the connection fails.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.bind(("", 0))
        _made(sock, (ip, port), made)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (ip, port)), CONNECT_TIMEOUT)
        opening = asyncio.open_connection(sock=sock, ssl=context, server_hostname=ip if tls else None,
                                          ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if tls else None)
        return await asyncio.wait_for(opening, TLS_HANDSHAKE_TIMEOUT if tls else CONNECT_TIMEOUT)
    except BaseException:
        sock.close()
        raise


async def _first_bytes(reader, wait):
    try:
        return await asyncio.wait_for(reader.read(64), wait)
    except asyncio.TimeoutError:
        return b""


def protocol_of(data: bytes):
    """The protocol the first bytes a server sent are in: a greeting, the reply to
    our DNS query (a DNS server answers it, a web server says "HTTP/... 400")."""
    for prefix, name in GREETINGS:
        if data.startswith(prefix):
            return name
    if is_dns_reply(data, tcp=True):
        return "dns"
    if data.startswith(b"HTTP/"):
        return "http"
    return "unknown" if data else None


async def _talk(ip, port, tls, made):
    """The protocol heard on one connection (None: nothing heard)."""
    try:
        reader, writer = await _open(ip, port, tls, made)
    except (asyncio.TimeoutError, OSError, ssl.SSLError):
        return None
    try:
        first = await _first_bytes(reader, GREETING_GRACE)
        if not first:
            writer.write(dns_query(tcp=True))
            await writer.drain()
            first = await _first_bytes(reader, REPLY_TIMEOUT)
        return protocol_of(first)
    except (OSError, ssl.SSLError):
        return None
    finally:
        writer.close()


async def identify(ip, port, made):
    """Plain text and, once no greeting came at once, TLS alongside (https, imaps,
    pop3s, smtps): a port pays the longer of the two, not their sum."""
    plain = asyncio.ensure_future(_talk(ip, port, False, made))
    await asyncio.wait({plain}, timeout=GREETING_GRACE)
    if plain.done() and plain.result() not in NOT_PLAIN_FOR_SURE:
        return plain.result()
    inside = asyncio.ensure_future(_talk(ip, port, True, made))
    heard = await plain
    if heard not in NOT_PLAIN_FOR_SURE:
        inside.cancel()
        await asyncio.gather(inside, return_exceptions=True)
        return heard
    return TLS_NAMES.get(await inside) or heard or "unknown"


async def udp_probe(ip, port, made):
    """'dns' when a DNS reply comes back, 'udp' for another reply, else None: a UDP
    port counts only when it answers."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect((ip, port))
        _made(sock, (ip, port), made)
        for wait in UDP_WAITS:
            try:
                await loop.sock_sendall(sock, dns_query(tcp=False))
                data = await asyncio.wait_for(loop.sock_recv(sock, 512), wait)
            except ConnectionRefusedError:
                return None
            except asyncio.TimeoutError:
                continue
            return "dns" if is_dns_reply(data, tcp=False) else "udp"
    return None


async def identify_all(request, opened, made):
    """Every open TCP port's protocol and every UDP port's answer, all hosts at once."""
    jobs = [(ip, "tcp", port, identify(ip, port, made)) for ip, spec in request.items() for port in spec["tcp"] if (ip, port) in opened]
    jobs += [(ip, "udp", port, udp_probe(ip, port, made)) for ip, spec in request.items() for port in spec["udp"]]
    heard = await asyncio.gather(*(job for *_, job in jobs))
    result = {ip: {"tcp": {}, "udp": {}} for ip in request}
    for (ip, transport, port, _), name in zip(jobs, heard):
        if name:
            result[ip][transport][str(port)] = name
    return result


def probe(request):
    made = []
    opened = open_tcp_ports([(ip, port) for ip, spec in request.items() for port in spec["tcp"]], made)
    return {"ports": asyncio.run(identify_all(request, opened, made)), "probes": made}


if __name__ == "__main__":
    print(json.dumps(probe(json.loads(sys.argv[1]))))
