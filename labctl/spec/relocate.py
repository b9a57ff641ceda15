"""Move a lab definition to another subnet, so many instances of one lab can
run side by side on a host (one per student), each on its own bridge."""
from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, ip_address
from typing import Any


def _parse_ip(value: str) -> IPv4Address | None:
    try:
        parsed = ip_address(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, IPv4Address) else None


def relocate(raw: dict[str, Any], subnet: str) -> dict[str, Any]:
    """Every address of the old subnet, anywhere in the definition (services,
    gateway, zone records), keeps its host part in the new subnet."""
    old = IPv4Network(raw["network"]["subnet"])
    new = IPv4Network(subnet)
    if new.prefixlen != old.prefixlen:
        raise ValueError(f"--subnet must be a /{old.prefixlen} like the lab's {old}, got {new}")

    def move(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: move(value) for key, value in node.items()}
        if isinstance(node, list):
            return [move(value) for value in node]
        if isinstance(node, str):
            ip = _parse_ip(node)
            if ip is not None and ip in old:
                return str(new.network_address + (int(ip) - int(old.network_address)))
        return node

    moved = move(raw)
    moved["network"]["subnet"] = str(new)
    return moved
