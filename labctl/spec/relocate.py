"""Move a lab definition to another subnet, so many instances of one lab can
run side by side on a host (one per student), each on its own bridge."""
from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from typing import Any

# An IPv4 address anywhere in a string: alone, or inside text such as an SPF
# record ("v=spf1 ip4:172.28.0.90 -all").
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")


def relocate(raw: dict[str, Any], subnet: str) -> dict[str, Any]:
    """Every address of the old subnet, anywhere in the definition (services,
    gateway, zone records, inside TXT text), keeps its host part in the new subnet."""
    old = IPv4Network(raw["network"]["subnet"])
    example = f"172.29.7.0/{old.prefixlen}"
    if "/" not in subnet:
        raise ValueError(f"--subnet {subnet!r}: no prefix; expected a network address and prefix such as {example}")
    try:
        new = IPv4Network(subnet)
    except ValueError:
        try:
            network = IPv4Network(subnet, strict=False)
        except ValueError:
            raise ValueError(f"--subnet {subnet!r}: expected a network address and prefix such as {example}") from None
        raise ValueError(f"--subnet {subnet!r}: host bits set; expected the network address, {network}") from None
    if new.prefixlen != old.prefixlen:
        raise ValueError(f"--subnet must be a /{old.prefixlen} like the lab's {old}, got {new}")

    def move(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: move(value) for key, value in node.items()}
        if isinstance(node, list):
            return [move(value) for value in node]
        if isinstance(node, str):
            return IPV4.sub(move_address, node)
        return node

    def move_address(match: re.Match) -> str:
        try:
            ip = IPv4Address(match.group())
        except ValueError:
            return match.group()
        return str(new.network_address + (int(ip) - int(old.network_address))) if ip in old else match.group()

    moved = move(raw)
    moved["network"]["subnet"] = str(new)
    return moved
