"""Real mail, web and DNS traffic on 127.0.0.1, captured by tcpdump: small servers that
speak each protocol the way the lab's do, and the stock Python clients against them."""
from __future__ import annotations

import http.client
import http.server
import imaplib
import poplib
import re
import signal
import smtplib
import socket
import socketserver
import subprocess
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rrset
from aiosmtpd.controller import Controller

MAIL_BODY = "".join(f"line {i:05d} of the message body, long enough to span segments\r\n" for i in range(3000))
MAIL = (
    "From: alumnopop@redes.unlp.edu.ar\r\nTo: alumnoimap@redes.unlp.edu.ar\r\n"
    "Subject: estoy probando\r\n\r\n" + MAIL_BODY
)
DNS_ZONE = {"www.redes.unlp.edu.ar.": "172.28.0.50", "mail.redes.unlp.edu.ar.": "172.28.0.90"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler(socketserver.StreamRequestHandler):
    def send(self, text: str | bytes) -> None:
        self.wfile.write(text.encode() if isinstance(text, str) else text)
        self.wfile.flush()


class Pop3Handler(_Handler):
    """Enough of Dovecot's POP3 for poplib: CAPA, AUTH PLAIN, STAT, LIST, UIDL, RETR, QUIT."""

    def handle(self) -> None:
        message = MAIL.encode()
        self.send("+OK Dovecot ready.\r\n")
        while line := self.rfile.readline():
            verb = line.split()[0].upper() if line.split() else b""
            if verb == b"CAPA":
                self.send("+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN\r\n.\r\n")
            elif verb == b"AUTH":
                self.send("+ \r\n")
                self.rfile.readline()
                self.send("+OK Logged in.\r\n")
            elif verb == b"STAT":
                self.send(f"+OK 1 {len(message)}\r\n")
            elif verb == b"LIST":
                self.send(f"+OK 1 messages:\r\n1 {len(message)}\r\n.\r\n")
            elif verb == b"UIDL":
                self.send("+OK\r\n1 0000000456eaa394\r\n.\r\n")
            elif verb == b"RETR":
                self.send(f"+OK {len(message)} octets\r\n".encode() + message + b".\r\n")
            elif verb == b"QUIT":
                self.send("+OK Logging out.\r\n")
                return
            else:
                self.send("-ERR Unknown command\r\n")


class ImapHandler(_Handler):
    """Enough of Dovecot's IMAP for imaplib: literals, FETCH with a literal, APPEND, IDLE."""

    def read_command(self) -> bytes:
        line = self.rfile.readline()
        while literal := re.search(rb"\{(\d+)\}\r\n$", line):
            self.send("+ OK\r\n")
            line += self.rfile.read(int(literal[1])) + self.rfile.readline()
        return line

    def handle(self) -> None:
        message = MAIL.encode()
        self.send("* OK [CAPABILITY IMAP4rev1 IDLE] Dovecot ready.\r\n")
        while line := self.read_command():
            tag, verb = line.split()[0].decode(), line.split()[1].upper().decode()
            if verb == "CAPABILITY":
                self.send(f"* CAPABILITY IMAP4rev1 IDLE\r\n{tag} OK Pre-login capabilities listed.\r\n")
            elif verb == "SELECT":
                self.send(f"* 1 EXISTS\r\n* 1 RECENT\r\n{tag} OK [READ-WRITE] Select completed.\r\n")
            elif verb == "FETCH":
                self.send(f"* 1 FETCH (UID 5 BODY[] {{{len(message)}}}\r\n".encode() + message
                          + f")\r\n{tag} OK Fetch completed.\r\n".encode())
            elif verb == "IDLE":
                self.send("+ idling\r\n")
                time.sleep(0.05)
                self.send("* 2 EXISTS\r\n")
                self.rfile.readline()  # DONE
                self.send(f"{tag} OK Idle completed.\r\n")
            elif verb == "LOGOUT":
                self.send(f"* BYE Logging out\r\n{tag} OK Logout completed.\r\n")
                return
            else:
                self.send(f"{tag} OK {verb.capitalize()} completed.\r\n")


class HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"<html><body>www.redes.unlp.edu.ar</body></html>\n" * 40
        self.send_response(200)
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 700):
                piece = body[start:start + 700]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def dns_answer(wire: bytes) -> bytes:
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    name = query.question[0].name.to_text()
    if name in DNS_ZONE:
        response.answer.append(dns.rrset.from_text(name, 300, "IN", "A", DNS_ZONE[name]))
    else:
        response.set_rcode(dns.rcode.NXDOMAIN)
    return response.to_wire()


class DnsUdpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        sock.sendto(dns_answer(data), self.client_address)


class DnsTcpHandler(_Handler):
    def handle(self) -> None:
        while size := self.rfile.read(2):
            answer = dns_answer(self.rfile.read(int.from_bytes(size, "big")))
            self.send(len(answer).to_bytes(2, "big") + answer)


class _SmtpSink:
    def __init__(self) -> None:
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 2.0.0 Ok: queued as 42E8C6010E"


@dataclass
class LabPorts:
    smtp: int
    pop: int
    imap: int
    http: int
    dns: int  # UDP and TCP
    probe: int  # UDP, only to see that tcpdump has started and has written all

    def bpf(self) -> str:
        return " or ".join(f"port {port}" for port in (self.smtp, self.pop, self.imap, self.http, self.dns, self.probe))

    def protocols(self) -> dict[int, str]:
        return {self.smtp: "smtp", self.pop: "pop", self.imap: "imap", self.http: "http", self.dns: "dns"}


class _TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


@contextmanager
def lab_servers():
    """All servers on 127.0.0.1, on free ports."""
    with ExitStack() as stack:
        servers = []
        for handler in (Pop3Handler, ImapHandler, HttpHandler, DnsTcpHandler):
            servers.append(_TcpServer(("127.0.0.1", 0), handler))
        dns_port = servers[-1].server_address[1]
        servers.append(socketserver.ThreadingUDPServer(("127.0.0.1", dns_port), DnsUdpHandler))
        for server in servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
        controller = Controller(_SmtpSink(), hostname="127.0.0.1", port=free_port())
        controller.start()
        stack.callback(controller.stop)
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        stack.callback(probe.close)
        yield LabPorts(smtp=controller.port, pop=servers[0].server_address[1], imap=servers[1].server_address[1],
                       http=servers[2].server_address[1], dns=dns_port, probe=probe.getsockname()[1])


@contextmanager
def tcpdump(path: Path, interface: str, bpf: str, linktype: str | None = None):
    """tcpdump writing `path`, started and listening on entry, stopped on exit."""
    command = ["tcpdump", "-i", interface, "-w", str(path), "-U", "--immediate-mode", "-B", "65536", "-n", "-s", "0", "-Z", "root"]
    command += ["-y", linktype] if linktype else []
    process = subprocess.Popen(command + [bpf], stderr=subprocess.PIPE, text=True)
    try:
        said = ""
        while "listening on" not in said:
            line = process.stderr.readline()
            if not line:  # exited
                raise RuntimeError(f"tcpdump did not start: {said}")
            said += line
        yield process
    finally:
        time.sleep(0.3)  # let the last packets reach the file
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)


def wait_until_captured(paths: list[Path], probe_port: int, marker: bytes) -> None:
    """Probe until every file holds `marker`: a listening tcpdump may still miss the first
    packets, and a loaded machine may not have written the last ones yet."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        deadline = time.monotonic() + 10
        while not all(path.exists() and marker in path.read_bytes() for path in paths):
            if time.monotonic() > deadline:
                raise RuntimeError(f"tcpdump did not capture the probe {marker!r}")
            s.sendto(marker, ("127.0.0.1", probe_port))
            time.sleep(0.05)


def run_clients(ports: LabPorts) -> None:
    """One session of each protocol, as a student's tools would run them."""
    with smtplib.SMTP("127.0.0.1", ports.smtp) as smtp:
        smtp.ehlo("[172.28.0.1]")
        smtp.sendmail("alumnopop@redes.unlp.edu.ar", ["alumnoimap@redes.unlp.edu.ar"], MAIL.encode())
    pop = poplib.POP3("127.0.0.1", ports.pop)
    pop.capa()
    pop._shortcmd("AUTH PLAIN")
    pop._shortcmd("AGFsdW1ub3BvcABhbHVtbm9wb3BwYXNz")
    pop.stat()
    pop.list()
    pop.uidl()
    pop.retr(1)
    pop.quit()
    imap = imaplib.IMAP4("127.0.0.1", ports.imap)
    imap.login("alumnoimap", "alumnoimappass")
    imap.select("INBOX")
    imap.fetch("1", "(BODY[])")
    imap.append("INBOX", None, None, b"Subject: hola\r\n\r\nhola\r\n")
    tag = imap._new_tag()
    imap.send(tag + b" IDLE\r\n")
    imap.readline()  # + idling
    imap.readline()  # * 2 EXISTS
    imap.send(b"DONE\r\n")
    imap.readline()
    imap.logout()
    web = http.client.HTTPConnection("127.0.0.1", ports.http)
    for path in ("/index.html", "/chunked"):
        web.request("GET", path)
        web.getresponse().read()
    web.close()
    for name, rdtype in (("www.redes.unlp.edu.ar", "A"), ("nada.redes.unlp.edu.ar", "A")):
        dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", port=ports.dns, timeout=5)
    dns.query.tcp(dns.message.make_query("mail.redes.unlp.edu.ar", "A"), "127.0.0.1", port=ports.dns, timeout=5)
