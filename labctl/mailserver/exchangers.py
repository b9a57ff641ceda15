"""A destination's mail exchangers, as Postfix's smtp(8) finds them (RFC 5321 5.1).

Apart from labctl.mailserver.relay, and imported at the first relay: dnspython is 30 ms
of the MTA's start, which `labctl up` waits for.
"""
from __future__ import annotations

import ipaddress

import dns.asyncresolver
import dns.exception
import dns.resolver

from .relay import Exchanger, destination_error


def _make_resolver(nameservers: list[str], port: int) -> dns.asyncresolver.Resolver:
    if not nameservers:
        return dns.asyncresolver.Resolver()
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = nameservers
    resolver.port = port
    resolver.lifetime = 10
    return resolver


async def mail_exchangers(domain: str, nameservers: list[str], port: int, self_name: str = "",
                          self_addresses: frozenset[str] = frozenset()) -> list[Exchanger]:
    """Hosts to try for `domain`, best MX first (RFC 5321 5.1); none as good as ourselves, an
    exchanger named `self_name` (our host name) or at one of `self_addresses`: a backup MX
    may be named by the domain's own zone (respaldo.<domain>), as Postfix finds itself by
    address too."""
    if domain.startswith("[") and domain.endswith("]"):
        literal = domain[1:-1].removeprefix("IPv6:")
        try:
            address = str(ipaddress.ip_address(literal))
            return [Exchanger(address, address)]
        except ValueError:
            raise destination_error(550, "5.1.2", f"bad address literal {domain}") from None
    resolver = _make_resolver(nameservers, port)
    try:
        answer = await resolver.resolve(domain, "MX")
        records = sorted(answer, key=lambda r: r.preference)
        if len(records) == 1 and records[0].exchange.to_text() == ".":
            raise destination_error(556, "5.1.10", f"Domain {domain} does not accept mail (null MX, RFC 7505)")
        exchangers = [(r.preference, r.exchange.to_text(omit_final_dot=True)) for r in records]
    except dns.resolver.NoAnswer:
        exchangers = [(0, domain)]  # no MX: the domain itself is the implicit MX
    except dns.resolver.NXDOMAIN:
        raise destination_error(550, "5.1.2", f"Host or domain name not found: {domain}") from None
    except dns.exception.DNSException as error:
        raise destination_error(451, "4.4.3", f"Host or domain name lookup failed: {domain}: {error}") from None
    found: list[tuple[int, Exchanger]] = []
    lookup_trouble = None
    for preference, name in exchangers:
        try:
            found += [(preference, Exchanger(name, r.address)) for r in await resolver.resolve(name, "A")]
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            continue
        except dns.exception.DNSException as error:
            lookup_trouble = error
    mine = [p for p, name in exchangers if name.lower() == self_name.lower()]
    mine += [p for p, host in found if host.address in self_addresses]
    if mine:
        # RFC 5321 5.1: when we are one of the exchangers (a backup MX), only better ones may get the mail.
        if not any(p < min(mine) for p, _ in exchangers):
            raise destination_error(554, "5.4.6", f"mail for {domain} loops back to myself")
        found = [(p, host) for p, host in found if p < min(mine)]
    addresses = [host for _, host in found]
    if not addresses:
        raise destination_error(451, "4.4.3", f"No address for the mail exchangers of {domain}"
                    + (f": {lookup_trouble}" if lookup_trouble else ""))
    return addresses
