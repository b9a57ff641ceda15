"""Which application protocol a conversation speaks, told by its server port."""
from __future__ import annotations

from typing import Mapping

from labctl.spec.models import Lab, Role

WELL_KNOWN_PORTS: Mapping[int, str] = {
    25: "smtp",
    587: "smtp",
    110: "pop",
    143: "imap",
    80: "http",
    53: "dns",
}
PROTOCOLS = ("smtp", "pop", "imap", "http", "dns")


def port_map(extra: Mapping[int, str] | None = None) -> dict[int, str]:
    """The well-known ports plus a lab's own (an MSA on a non-standard port, say)."""
    ports = dict(WELL_KNOWN_PORTS)
    for port, proto in (extra or {}).items():
        if proto not in PROTOCOLS:
            raise ValueError(f"unknown protocol {proto!r} for port {port}; known: {', '.join(PROTOCOLS)}")
        ports[int(port)] = proto
    return ports


def protocol_for(server_port: int, client_port: int, ports: Mapping[int, str]) -> str | None:
    """The server port decides; the client port only when the server's is unknown."""
    return ports.get(server_port) or ports.get(client_port)


# How each named port of a lab's mail service is spoken.
MAIL_PORT_PROTOCOLS: Mapping[str, str] = {"smtp": "smtp", "submission": "smtp", "pop3": "pop", "imap": "imap"}


def lab_ports(lab: Lab) -> dict[int, str]:
    """The server ports of a lab's mail services (2525 in exercise 8, say), by protocol."""
    return {
        getattr(svc.ports, name): proto
        for svc in lab.by_role(Role.mail).values()
        for name, proto in MAIL_PORT_PROTOCOLS.items()
    }
