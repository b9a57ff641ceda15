"""Subnets for a class: one per student, from a pool of addresses, never one that
an existing network (Docker's, the host's routes) or another class already holds."""
from __future__ import annotations

import fcntl
import os
import socket
import struct
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Iterable

from docker import DockerClient

from labctl.runtime.engine import LabError
from labctl.runtime.network import subnets_of
from labctl.spec.errors import LabSpecError

# Private, outside Docker's own default pools (172.17–31/16, 192.168/20) and the
# course's 172.28.0.0/24: 256 labs. LABCTL_CLASS_POOL or --pool changes it.
DEFAULT_POOL = os.environ.get("LABCTL_CLASS_POOL", "10.128.0.0/16")
ROUTES = Path("/proc/net/route")
SIOCGIFADDR = 0x8915  # <linux/sockios.h>: an interface's IPv4 address


def docker_subnets(engine: DockerClient) -> list[IPv4Network]:
    return [IPv4Network(subnet, strict=False) for net in engine.networks.list()
            for subnet in subnets_of(net) if ":" not in subnet]


def _routes() -> list[list[str]]:
    try:
        return [line.split() for line in ROUTES.read_text().splitlines()[1:]]
    except OSError:
        return []


def default_bind() -> str:
    """The host's address on its default route: where students come from outside.
    Labs reach the host only at their own gateway (runtime.firewall), so a port
    bound here is out of every lab's reach, unlike one bound on 0.0.0.0."""
    interface = next((fields[0] for fields in _routes() if fields[1] == "00000000" and fields[7] == "00000000"), None)
    if interface is None:
        return "0.0.0.0"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            request = struct.pack("256s", interface.encode()[:15])
            return socket.inet_ntoa(fcntl.ioctl(probe.fileno(), SIOCGIFADDR, request)[20:24])
        except OSError:
            return "0.0.0.0"


def check_bind(address: str) -> str:
    """`address` when the SSH ports can listen on it: an IPv4 address of this host."""
    try:
        IPv4Address(address)
    except ValueError:
        raise LabSpecError(f"--ssh-bind {address!r}: expected an IPv4 address of this host, such as {default_bind()}") from None
    with socket.socket() as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            raise LabSpecError(f"--ssh-bind {address}: not an address of this host; expected one of its own, such as {default_bind()}") from None
    return address


def host_routes() -> list[IPv4Network]:
    """The host's IPv4 routes but the default one (it overlaps everything)."""
    found = []
    for fields in _routes():
        destination, mask = (int.from_bytes(bytes.fromhex(f), "little") for f in (fields[1], fields[7]))
        if mask:
            found.append(IPv4Network((destination, bin(mask).count("1")), strict=False))
    return found


def allocate(count: int, pool: str, taken: Iterable[IPv4Network], prefix: int = 24) -> list[IPv4Network]:
    """`count` free /`prefix` subnets of `pool`, lowest first."""
    try:
        network = IPv4Network(pool)
    except ValueError as exc:
        raise LabError(f"--pool {pool}: {exc}; expected a network such as {DEFAULT_POOL}") from None
    if network.prefixlen > prefix:
        raise LabError(f"--pool {pool}: smaller than one lab's /{prefix}; expected a /{prefix} or larger")
    taken = list(taken)
    free = []
    for candidate in network.subnets(new_prefix=prefix):
        if len(free) == count:
            break
        if not any(candidate.overlaps(other) for other in taken):
            free.append(candidate)
    if len(free) < count:
        raise LabError(f"--pool {pool}: only {len(free)} free /{prefix} subnet(s) left, the class needs {count}; give a larger --pool")
    return free


DEFAULT_SSH_PORT = 2200


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_ports(count: int, first: int, taken: Iterable[int]) -> list[int]:
    """`count` host ports from `first` up that no class holds and nothing listens on."""
    taken = set(taken)
    found = []
    for port in range(first, 65536):
        if len(found) == count:
            break
        if port not in taken and _port_free(port):
            found.append(port)
    if len(found) < count:
        raise LabError(f"--ssh-port {first}: only {len(found)} free port(s) above it, the class needs {count}")
    return found
