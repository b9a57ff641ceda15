"""The ports a lab host listens on, read from its kernel's socket tables
(/proc/net/tcp, tcp6, udp, udp6) inside its container.

They tell the port probe (items d, e) which ports to try: all of them, not only
the low ones, and without a scan of a thousand ports per server, whose SYN/RST
pairs would land in the lab's capture at every `labctl check` and make every
later reading of the capture slower. Whether a port is offered is still decided
by probing it from another host: a socket bound to loopback only, or behind a
firewall, is listed here and is not offered.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

TABLES = ("tcp", "tcp6", "udp", "udp6")
# Each table's lines prefixed with its name (tcp6 and udp6 exist only with IPv6 in the kernel).
READ_TABLES = ["sh", "-c", "for t in " + " ".join(TABLES) + '; do [ -r /proc/net/$t ] && sed "s/^/$t /" /proc/net/$t; done; true']
# The "st" column: a TCP socket that accepts connections, a UDP socket with no peer.
TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"


@dataclass(frozen=True)
class Listening:
    tcp: frozenset[int]
    udp: frozenset[int]


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """/proc/net's hex address: 32-bit words, each in the host's (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    address = ipaddress.ip_address(b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_tables(text: str) -> Listening:
    """The ports other hosts may reach: listening sockets not bound to loopback."""
    ports: dict[str, set[int]] = {"tcp": set(), "udp": set()}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] not in TABLES or ":" not in fields[2] or fields[1] == "sl":
            continue
        transport = fields[0].rstrip("6")
        hex_address, hex_port = fields[2].split(":")
        if fields[4] != (TCP_LISTEN if transport == "tcp" else UDP_UNCONNECTED):
            continue
        try:
            if _address(hex_address).is_loopback:
                continue
            ports[transport].add(int(hex_port, 16))
        except ValueError:
            continue  # not a line of a socket table
    return Listening(frozenset(ports["tcp"]), frozenset(ports["udp"]))
