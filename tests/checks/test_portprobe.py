"""The port probe of items d) and e) against real servers on loopback: each kind
of server it must tell apart (greeting first, a late greeting, DNS over TCP and
UDP, HTTP, HTTPS that answers plain bytes with a 400 as nginx does, IMAPS, a mute
port, a slow UDP DNS server, closed ports), run as the check runs it."""
from __future__ import annotations

import ipaddress
import json
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from labctl.checks import portprobe
from labctl.checks.listening import Listening, parse_tables
from labctl.checks.ports import PROBE_SOURCE
from labctl.render.certificates import server_pair
from labctl.render.tls import CaScope

HOST = "127.0.0.1"
LATE = 0.6  # longer than the probe's grace before it speaks


def dns_reply(query: bytes) -> bytes:
    """The query sent back as a reply (QR set): what the probe recognises."""
    return query[:2] + bytes([query[2] | 0x80]) + query[3:]


class Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.behaviour(self.request)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, behaviour) -> None:
        super().__init__((HOST, 0), Handler)
        self.behaviour = behaviour

    @property
    def port(self) -> int:
        return self.server_address[1]


def greets(text: bytes, after: float = 0.0):
    def behaviour(conn: socket.socket) -> None:
        time.sleep(after)
        conn.sendall(text)
        conn.recv(512)
    return behaviour


def dns_over_tcp(conn: socket.socket) -> None:
    query = conn.recv(512)
    conn.sendall(query[:2] + dns_reply(query[2:]))


def http(conn: socket.socket) -> None:
    conn.recv(512)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")


def tls(context: ssl.SSLContext, inside, plain=None):
    """TLS on the port; plain bytes get `plain` (nginx: a 400), or the connection closed."""
    def behaviour(conn: socket.socket) -> None:
        if conn.recv(1, socket.MSG_PEEK) != b"\x16":
            if plain is not None:
                plain(conn)
            return
        with context.wrap_socket(conn, server_side=True) as wrapped:
            inside(wrapped)
    return behaviour


def mute(conn: socket.socket) -> None:
    conn.recv(512)


class Udp(socketserver.ThreadingUDPServer):
    """A DNS server over UDP that ignores the first `ignore` queries (a loaded one)."""

    daemon_threads = True

    def __init__(self, ignore: int = 0) -> None:
        super().__init__((HOST, 0), UdpHandler)
        self.ignore = ignore

    @property
    def port(self) -> int:
        return self.server_address[1]


class UdpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        if self.server.ignore:
            self.server.ignore -= 1
            return
        sock.sendto(dns_reply(data), self.client_address)


def free_port(kind: int) -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory) -> ssl.SSLContext:
    scope = CaScope(("lab.test",), ipaddress.ip_network("127.0.0.0/8"))
    pair = server_pair(tmp_path_factory.mktemp("tls"), "probe", scope, "web", "web.lab.test", ipaddress.ip_address(HOST))
    folder = tmp_path_factory.mktemp("pem")
    (folder / "cert.pem").write_text(pair.cert)
    (folder / "key.pem").write_text(pair.key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@pytest.fixture(scope="module")
def servers(tls_context):
    tcp = {
        "smtp": Server(greets(b"220 mail ESMTP\r\n")),
        "pop3": Server(greets(b"+OK Dovecot ready.\r\n", after=LATE)),
        "dns": Server(dns_over_tcp),
        "http": Server(http),
        "https": Server(tls(tls_context, http, plain=http)),
        "imaps": Server(tls(tls_context, greets(b"* OK [CAPABILITY IMAP4rev1] ready\r\n"))),
        "unknown": Server(mute),
    }
    udp = {"dns": Udp(), "slow dns": Udp(ignore=1)}
    for server in [*tcp.values(), *udp.values()]:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield tcp, udp
    for server in [*tcp.values(), *udp.values()]:
        server.shutdown()
        server.server_close()


def test_every_kind_of_port_is_told_apart(servers, monkeypatch):
    tcp, udp = servers
    # The mute port waits out the caps: short ones keep the test short.
    monkeypatch.setattr(portprobe, "REPLY_TIMEOUT", 0.5)
    monkeypatch.setattr(portprobe, "TLS_HANDSHAKE_TIMEOUT", 0.5)
    closed_tcp, closed_udp = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    request = {HOST: {"tcp": [s.port for s in tcp.values()] + [closed_tcp], "udp": [s.port for s in udp.values()] + [closed_udp]}}
    found = portprobe.probe(request)
    seen = found["ports"][HOST]
    assert seen["tcp"] == {str(server.port): name for name, server in tcp.items()}
    # Every connection it made is there to be told from a student's: the scan's, each
    # protocol's (plain and TLS) and the UDP ones, closed ports included.
    made = {(ip, port) for _, ip, port, _ in found["probes"]}
    assert made == {(HOST, port) for transport in request[HOST].values() for port in transport}
    assert all(client > 0 and abs(ts - time.time()) < 60 for client, _, _, ts in found["probes"])
    # The slow DNS server answers the second query; the closed UDP port is not there.
    assert seen["udp"] == {str(udp["dns"].port): "dns", str(udp["slow dns"].port): "dns"}


def test_refused_ports_are_settled_by_the_refusal_not_by_the_cap(monkeypatch):
    """Closed ports refuse (RST): with a cap of an hour, trying two thousand ports (more
    than are in flight at once) still ends, because each refusal settles its port."""
    monkeypatch.setattr(portprobe, "CONNECT_TIMEOUT", 3600.0)
    listening = Server(mute)
    threading.Thread(target=listening.serve_forever, args=(0.05,), daemon=True).start()
    targets = [(HOST, port) for port in range(40000, 42000)] + [(HOST, listening.port)]
    found: list[set] = []
    scan = threading.Thread(target=lambda: found.append(portprobe.open_tcp_ports(targets, [])), daemon=True)
    try:
        scan.start()
        scan.join(60)  # a guard against a hang, not a speed figure
        assert not scan.is_alive(), "the scan waited for the cap on refused ports"
        assert (HOST, listening.port) in found[0]
    finally:
        listening.shutdown()
        listening.server_close()


def test_the_check_runs_the_file_as_a_script(servers):
    """ports.py runs the file's text with `python3 -c` and reads one JSON line."""
    tcp, _ = servers
    request = {HOST: {"tcp": [tcp["smtp"].port], "udp": []}}
    output = subprocess.run([sys.executable, "-c", Path(PROBE_SOURCE).read_text(encoding="utf-8"), json.dumps(request)],
                            capture_output=True, text=True, check=True, timeout=30).stdout
    printed = json.loads(output)
    assert printed["ports"] == {HOST: {"tcp": {str(tcp["smtp"].port): "smtp"}, "udp": {}}}
    assert {(ip, port) for _, ip, port, _ in printed["probes"]} == {(HOST, tcp["smtp"].port)}


# /proc/net of ns1 in a lab (BIND on its address and on loopback, rndc on loopback,
# Docker's resolver on 127.0.0.11) and of a dual-stack web server; a connected UDP socket.
TABLES = """\
tcp   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
tcp    0: 0B00007F:A435 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5037109 1
tcp    1: 0100007F:03B9 00000000:0000 0A 00000000:00000000 00:00000000 00000000   100        0 5038261 1
tcp    3: 0100007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000   100        0 5038248 1
tcp    5: 410A1DAC:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000   100        0 5038252 1
tcp    6: 410A1DAC:0019 0A0A1DAC:C350 01 00000000:00000000 00:00000000 00000000   100        0 5038253 1
tcp6   sl  local_address                         remote_address                        st tx_queue
tcp6    0: 00000000000000000000000001000000:03B9 00000000000000000000000000000000:0000 0A 00000000:00000000
tcp6    1: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000
tcp6    2: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000
udp    sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref
udp  8978: 410A1DAC:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   100        0 5038249 2
udp  8978: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   100        0 5038245 2
udp 14597: 0B00007F:9628 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5037108 2
udp 14598: 410A1DAC:D431 C8711DAC:0035 01 00000000:00000000 00:00000000 00000000   100        0 5037110 2
"""


def test_the_socket_tables_give_the_ports_other_hosts_may_reach():
    # 53 on the lab address (TCP and UDP), 443 on every IPv6 (and IPv4) address; not
    # rndc's 953, nor 8080 on v4-mapped loopback, nor 127.0.0.11, nor connected sockets.
    assert parse_tables(TABLES) == Listening(frozenset({53, 443}), frozenset({53}))
    assert parse_tables("") == Listening(frozenset(), frozenset())
