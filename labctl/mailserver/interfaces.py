"""The IPv4 addresses of this host's interfaces: Postfix takes mail for user@[one of them] as
local (its inet_interfaces = all), as RFC 5321 4.1.3 has a server accept its own address literal."""
from __future__ import annotations

import fcntl
import socket
import struct

SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address


def interface_addresses() -> list[str]:
    addresses = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            try:
                request = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue  # an interface without an IPv4 address
            addresses.append(socket.inet_ntoa(request[20:24]))
    return addresses
