"""Servers on 127.0.0.1 for the mail server tests: in-process, or as a subprocess."""
from __future__ import annotations

import asyncio
import json
import socket
import struct
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from labctl.mailserver.config import Account, Config, Listener, Retry, Timeouts
from labctl.mailserver.server import MailService

DOMAIN = "redes.unlp.edu.ar"
POP = f"alumnopop@{DOMAIN}"
IMAP = f"alumnoimap@{DOMAIN}"


BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


@dataclass(frozen=True)
class PeerImage:
    """A comparison peer built from bench/<folder> when missing (after the image it is FROM):
    its tag and its start command."""
    folder: str
    tag: str
    start: str
    built_on: PeerImage | None = None

    def ensure(self, engine) -> None:
        import docker.errors

        try:
            engine.images.get(self.tag)
        except docker.errors.ImageNotFound:
            if self.built_on:
                self.built_on.ensure(engine)
            engine.images.build(path=str(BENCH_DIR / self.folder), tag=self.tag, rm=True)


# Debian's Postfix (the image bench/bench_mta.py --with-postfix uses), and the same with Dovecot's SASL.
POSTFIX = PeerImage("postfix", "labctl-bench/postfix:latest", "/usr/local/sbin/bench-postfix")
POSTFIX_SUBMISSION = PeerImage("postfix-submission", "labctl-bench/postfix-submission:latest",
                               "/usr/local/sbin/bench-postfix-submission", built_on=POSTFIX)


@contextmanager
def postfix_container(engine, label: dict[str, str], setup: str, *, peer: PeerImage = POSTFIX, port: int = 25, **run):
    """Debian's Postfix 3.7 (bench/postfix, set up like the course server) with the shell
    commands `setup` run before it starts; yields the container and the 127.0.0.1 port its
    `port` is published on, once Postfix greets there. Removed on exit."""
    peer.ensure(engine)
    container = engine.containers.run(peer.tag, detach=True, labels=label, ports={f"{port}/tcp": ("127.0.0.1", None)},
                                      entrypoint=["sh", "-c"], command=[f"{setup} && exec {peer.start}"], **run)
    try:
        container.reload()
        port = int(container.ports[f"{port}/tcp"][0]["HostPort"])
        deadline = time.monotonic() + 60
        while True:  # docker-proxy accepts before Postfix listens: wait for the greeting itself
            try:
                probe = RawClient(port, timeout=2)
                greeting = probe.reply()
                probe.close()
                if greeting.startswith("220 "):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, container.logs(tail=20).decode(errors="replace")
            time.sleep(0.2)
        yield container, port
    finally:
        container.remove(force=True)


def make_config(root: Path, **overrides) -> Config:
    config = Config(
        hostname="mail.redes.unlp.edu.ar",
        banner="mail.redes.unlp.edu.ar ESMTP Postfix (Lihuen-4.01/GNU)",
        local_domains=[DOMAIN],
        accounts=[Account(POP, "alumnopop", "alumnopoppass"), Account(IMAP, "alumnoimap", "alumnoimappass")],
        listeners=[Listener("smtp", "127.0.0.1", 0, "mta"), Listener("submission", "127.0.0.1", 0, "msa")],
        spool_dir=str(root / "spool"),
        maildir_root=str(root / "mail"),
        log_file=str(root / "log" / "mta.jsonl"),
        resolvers=["127.0.0.1"],
        retry=Retry(initial=60, max_interval=300, give_up_after=3600),
        timeouts=Timeouts(command=30, data=30),
    )
    return replace(config, **overrides)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Poll until predicate() is truthy; return its value or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class RunningServer:
    """A MailService on its own event loop thread."""

    def __init__(self, config: Config):
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.service = MailService(config)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> "RunningServer":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.service.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def busy(self) -> bool:
        """Whether the delivery worker has an attempt under way, asked on its own loop."""

        async def ask() -> bool:
            return self.service.worker.busy

        return asyncio.run_coroutine_threadsafe(ask(), self.loop).result(5)

    @property
    def smtp_port(self) -> int:
        return self.service.ports["smtp"]

    @property
    def submission_port(self) -> int:
        return self.service.ports["submission"]


def read_log(config: Config) -> list[dict]:
    with open(config.log_file) as handle:
        return [json.loads(line) for line in handle]


def maildir_files(config: Config, user: str, domain: str = DOMAIN) -> list[Path]:
    base = Path(config.maildir_root) / domain / user / "Maildir"
    return sorted(p for sub in ("new", "cur") if (base / sub).is_dir() for p in (base / sub).iterdir())


@pytest.fixture
def server(tmp_path):
    with RunningServer(make_config(tmp_path)) as running:
        yield running


class RawClient:
    """A line-oriented raw socket client, for what smtplib will not send."""

    def __init__(self, port: int, timeout: float = 10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> str:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; buffered {self.buffer!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line.decode()

    def reply(self) -> str:
        """A whole (possibly multi-line) reply, lines joined by newlines."""
        lines = [self.line()]
        while lines[-1][3:4] == "-":
            lines.append(self.line())
        return "\n".join(lines)

    def command(self, text: str) -> str:
        self.send(text.encode() + b"\r\n")
        return self.reply()

    def command_lf(self, text: str) -> str:
        """As typed into nc without -C: the line ends in a bare LF."""
        self.send(text.encode() + b"\n")
        return self.reply()

    def data_segments_received(self) -> int:
        """TCP segments with data that reached this socket so far (Linux tcp_info.tcpi_data_segs_in)."""
        info = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        return struct.unpack_from("I", info, TCP_INFO_DATA_SEGS_IN)[0]

    def close(self) -> None:
        self.sock.close()


# Offset of tcpi_data_segs_in in Linux's struct tcp_info (include/uapi/linux/tcp.h, since 4.6).
TCP_INFO_DATA_SEGS_IN = 152


@contextmanager
def raw_session(port: int, ehlo: bool = True):
    client = RawClient(port)
    try:
        assert client.reply().startswith("220 ")
        if ehlo:
            assert client.command("EHLO [127.0.0.1]").startswith("250-")
        yield client
    finally:
        client.close()


class DnsStub:
    """A tiny authoritative DNS server on 127.0.0.1 (UDP) answering from a dict of rrsets."""

    def __init__(self):
        self.records: dict[tuple[str, int], list[str]] = {}
        self.failing = False  # answer SERVFAIL to everything, like a broken resolver
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def set(self, name: str, rdtype: str, values: list[str]) -> None:
        self.records[(name.lower().rstrip(".") + ".", dns.rdatatype.from_text(rdtype))] = values

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                query = dns.message.from_wire(wire)
            except dns.exception.DNSException:
                continue  # not DNS (another test's datagram to a port this stub reused): as a server, ignore it
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().lower()
            values = self.records.get((name, question.rdtype))
            if self.failing:
                response.set_rcode(dns.rcode.SERVFAIL)
            elif values:
                response.answer.append(dns.rrset.from_text_list(name, 60, "IN", question.rdtype, values))
            elif not any(key[0] == name for key in self.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def dns_stub():
    stub = DnsStub()
    yield stub
    stub.close()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A self-signed certificate for mail.redes.unlp.edu.ar: (cert path, key path)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=mail.redes.unlp.edu.ar", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(cert), str(key)
