"""Wait until each service really answers its protocol, as a student would see it."""
from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Callable, Mapping

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from labctl.capture.probes import Probe, record_probes
from labctl.paths import tls_dir
from labctl.render.plan import SSH_PORT, ContainerPlan, LabPlan
from labctl.render.tls import CA_CERT
from labctl.runtime.engine import LabError
from labctl.spec.models import Role

PROBE_TIMEOUT = 1.0
# A refused probe is tried again this soon: refusals are cheap (RST, ICMP), and the
# service is usually only milliseconds away from listening.
RETRY_DELAY = 0.01
# A query with no answer is sent again after each of these waits (in all, PROBE_TIMEOUT):
# a lost one cost the whole second before the next attempt, on the critical path of `up`.
RESEND_AFTER = (0.05, 0.1, 0.2, 0.65)
# How often a failing probe asks the engine whether the container has died (an API call).
DEATH_CHECK_INTERVAL = 0.5
# What each text protocol says first when it is ready. Dovecot's first: the mail container
# starts it before the MTA, so they greet while the MTA still imports its modules.
GREETINGS = {"pop3": b"+OK", "imap": b"* OK", "smtp": b"220", "submission": b"220"}


def _connect(ip: str, port: int, seen: list[Probe]) -> socket.socket:
    """A connection whose source port is recorded before its SYN leaves, so that even a
    refused attempt is known in the capture as labctl's, never as the student's."""
    sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(PROBE_TIMEOUT)
        sock.bind(("", 0))
        seen.append(Probe(sock.getsockname()[1], ip, port, time.time()))
        sock.connect((ip, port))
    except OSError:
        sock.close()
        raise
    return sock


def _greeting(ip: str, port: int, expected: bytes, seen: list[Probe]) -> None:
    with _connect(ip, port, seen) as sock:
        first = sock.recv(512)
    if not first.startswith(expected):
        raise ConnectionError(f"port {port} greeted {first[:40]!r}, expected {expected.decode()}")


def _ask(sock: socket.socket, server: tuple[str, int], query: dns.message.Message) -> dns.message.Message:
    """The answer to `query`, sent again after each of RESEND_AFTER: named loses a query
    that arrives while it is still setting up its sockets (no answer, no ICMP refusal).
    As a resolver retransmits, on the same socket: an answer to any copy counts."""
    for wait in RESEND_AFTER:
        dns.query.send_udp(sock, query, server)
        try:
            return dns.query.receive_udp(sock, server, time.time() + wait, ignore_errors=True, query=query)[0]
        except dns.exception.Timeout:
            continue
    raise dns.exception.Timeout(timeout=sum(RESEND_AFTER))


def _dns(ip: str, zones: list[str], seen: list[Probe]) -> None:
    for zone in zones:
        with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM) as sock:
            # Connected: while named does not listen yet, the ICMP "port unreachable" fails
            # the query at once, instead of after PROBE_TIMEOUT with no answer. Connecting
            # sends nothing: the source port is recorded before the query leaves.
            sock.connect((ip, 53))
            seen.append(Probe(sock.getsockname()[1], ip, 53, time.time()))
            # dnspython waits with its timeout only on a non-blocking socket: a blocking
            # one waits forever for an answer that was lost.
            sock.setblocking(False)
            # Not recursive (dig +norec): the question is whether the zone is loaded. A
            # recursive query that named fails before its zones load has the SERVFAIL kept
            # for servfail-ttl (1 s): every probe, and a student's dig, got it for that second.
            query = dns.message.make_query(zone, dns.rdatatype.SOA, flags=0)
            answer = _ask(sock, (ip, 53), query)
        if answer.rcode() != dns.rcode.NOERROR or not answer.answer:
            raise ConnectionError(f"SOA {zone} answered {dns.rcode.to_text(answer.rcode())}")


def _http(ip: str, seen: list[Probe]) -> None:
    connection = http.client.HTTPConnection(ip, 80, timeout=PROBE_TIMEOUT)
    connection.sock = _connect(ip, 80, seen)
    try:
        connection.request("GET", "/")
        status = connection.getresponse().status
    finally:
        connection.close()
    if status != 200:
        raise ConnectionError(f"HTTP {status}")


def _https(ip: str, host: str, ca_file: str, seen: list[Probe]) -> None:
    """The page answers over TLS with a certificate for `host` that the lab CA signed."""
    context = ssl.create_default_context(cafile=ca_file)
    with _connect(ip, 443, seen) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            status = tls.recv(64)
    if not status.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
        raise ConnectionError(f"https://{host}/ answered {status[:20]!r}")


def probe(plan: LabPlan, container: ContainerPlan, seen: list[Probe], greeted: set[int]) -> None:
    """Raise with the reason when the service does not answer yet; `seen` gets every
    connection made. A port in `greeted` has greeted an earlier attempt: it is not asked
    again (one more session in the server's log), and the ports that greet now are added."""
    svc = plan.lab.services[container.service]
    if svc.role is Role.dns:
        _dns(container.ip, svc.zones, seen)
    elif svc.role is Role.web:
        _http(container.ip, seen)
    elif svc.role is Role.webmail:
        _https(container.ip, plan.lab.webmail_host(svc), str(tls_dir(plan.instance) / CA_CERT), seen)
    elif svc.role is Role.mail:
        for name, expected in GREETINGS.items():
            if container.ports[name] not in greeted:
                _greeting(container.ip, container.ports[name], expected, seen)
                greeted.add(container.ports[name])
    elif svc.role is Role.client and plan.lab.access:
        _greeting(container.ip, SSH_PORT, b"SSH-", seen)


def _wait_one(plan: LabPlan, container: ContainerPlan, deadline: float, alive: Callable[[str], str | None],
              seen: list[Probe], stop: threading.Event, started: Future | None) -> str | None:
    if started is not None:
        # Never before: a SYN to an address no container has yet waits for ARP to give up.
        # A start that failed fails the wait with its own error.
        started.result()
    reason = "never probed"
    greeted: set[int] = set()
    next_death_check = time.monotonic() + DEATH_CHECK_INTERVAL
    while time.monotonic() < deadline and not stop.is_set():
        try:
            probe(plan, container, seen, greeted)
            return None
        except (OSError, ValueError, dns.exception.DNSException) as exc:
            reason = str(exc) or exc.__class__.__name__
        if time.monotonic() >= next_death_check:
            dead = alive(container.service)
            if dead:
                return dead
            next_death_check = time.monotonic() + DEATH_CHECK_INTERVAL
        stop.wait(RETRY_DELAY)
    return reason


def wait_ready(plan: LabPlan, timeout: float, alive: Callable[[str], str | None],
               started: Mapping[str, Future] | None = None) -> None:
    """Probe every service in parallel; `alive` says why a container has died, if it has.
    A service in `started` (service -> its container's start, still running) is probed as
    soon as its own start returns, while the others still start; `timeout` counts from the call.
    The probes' connections are recorded in the instance's state (labctl.capture.probes).
    Interrupted (Ctrl-C), the probes stop at once instead of running to the deadline."""
    started = started or {}
    deadline = time.monotonic() + timeout
    probed = [c for c in plan.containers if c.network_mode is None]
    if not probed:
        return  # a sidecar alone (labctl start capture): nothing of it answers a probe
    seen: list[Probe] = []  # list.append is atomic: the probing threads share it
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=len(probed))
    try:
        results = {c.service: pool.submit(_wait_one, plan, c, deadline, alive, seen, stop, started.get(c.service))
                   for c in probed}
        for finished in as_completed(results.values()):
            finished.result()  # a failed start is raised at once, not after the others' deadline
        failures = {name: f.result() for name, f in results.items() if f.result()}
    finally:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        record_probes(plan.instance, seen)
    if failures:
        detail = "; ".join(f"{name}: {why}" for name, why in failures.items())
        raise LabError(f"services did not answer within {timeout:.0f} s: {detail}")
