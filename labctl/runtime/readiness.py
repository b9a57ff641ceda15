"""Wait until each service really answers its protocol, as a student would see it."""
from __future__ import annotations

import socket
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from labctl.render.plan import ContainerPlan, LabPlan
from labctl.runtime.engine import LabError
from labctl.spec.models import Role

PROBE_TIMEOUT = 1.0
# What each text protocol says first when it is ready.
GREETINGS = {"smtp": b"220", "submission": b"220", "pop3": b"+OK", "imap": b"* OK"}


def _greeting(ip: str, port: int, expected: bytes) -> None:
    with socket.create_connection((ip, port), timeout=PROBE_TIMEOUT) as sock:
        first = sock.recv(512)
    if not first.startswith(expected):
        raise ConnectionError(f"port {port} greeted {first[:40]!r}, expected {expected.decode()}")


def _dns(ip: str, zones: list[str]) -> None:
    for zone in zones:
        answer = dns.query.udp(dns.message.make_query(zone, dns.rdatatype.SOA), ip, timeout=PROBE_TIMEOUT)
        if answer.rcode() != dns.rcode.NOERROR or not answer.answer:
            raise ConnectionError(f"SOA {zone} answered {dns.rcode.to_text(answer.rcode())}")


def _http(ip: str) -> None:
    with urllib.request.urlopen(f"http://{ip}/", timeout=PROBE_TIMEOUT) as response:
        if response.status != 200:
            raise ConnectionError(f"HTTP {response.status}")


def probe(plan: LabPlan, container: ContainerPlan) -> None:
    """Raise with the reason when the service does not answer yet."""
    svc = plan.lab.services[container.service]
    if svc.role is Role.dns:
        _dns(container.ip, svc.zones)
    elif svc.role is Role.web:
        _http(container.ip)
    elif svc.role is Role.mail:
        for name, expected in GREETINGS.items():
            _greeting(container.ip, container.ports[name], expected)


def _wait_one(plan: LabPlan, container: ContainerPlan, deadline: float, alive: Callable[[str], str | None]) -> str | None:
    reason = "never probed"
    while time.monotonic() < deadline:
        try:
            probe(plan, container)
            return None
        except (OSError, ValueError, dns.exception.DNSException) as exc:
            reason = str(exc) or exc.__class__.__name__
        dead = alive(container.service)
        if dead:
            return dead
        time.sleep(0.05)
    return reason


def wait_ready(plan: LabPlan, timeout: float, alive: Callable[[str], str | None]) -> None:
    """Probe every service in parallel; `alive` says why a container has died, if it has."""
    deadline = time.monotonic() + timeout
    probed = [c for c in plan.containers if c.network_mode is None]
    with ThreadPoolExecutor(max_workers=len(probed)) as pool:
        results = {c.service: pool.submit(_wait_one, plan, c, deadline, alive) for c in probed}
    failures = {name: f.result() for name, f in results.items() if f.result()}
    if failures:
        detail = "; ".join(f"{name}: {why}" for name, why in failures.items())
        raise LabError(f"services did not answer within {timeout:.0f} s: {detail}")
