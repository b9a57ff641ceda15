"""After `labctl apply`: wait (briefly) until the secondaries serve the primary's serial.

BIND's primary spaces the NOTIFYs of one zone by notify-delay (5 s): a second apply
within seconds of the first reaches the secondaries up to 5 s later. A resolver that
asks a secondary meanwhile caches the old records for their TTL (a day), and every
check and MTA that asks it sees the old zone. So apply flushes the lab resolver only
once the secondaries caught up, or once they had their chance."""
from __future__ import annotations

import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rdatatype

QUERY_TIMEOUT = 0.5
POLL = 0.1
# notify-delay (5 s) plus the transfer itself.
CATCH_UP = 7.0


def served_serial(ip: str, zone: str) -> int | None:
    """The serial `ip` serves for `zone` with authority, or None (no answer, not authoritative)."""
    query = dns.message.make_query(zone, "SOA")
    query.flags &= ~dns.flags.RD
    try:
        response = dns.query.udp(query, ip, timeout=QUERY_TIMEOUT)
    except (dns.exception.DNSException, OSError):
        return None
    if not response.flags & dns.flags.AA:
        return None
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial
    return None


# The zone's own records a student edits most (SPF in TXT, the backup MX): compared between
# the primary and its secondaries.
APEX_TYPES = ("SOA", "NS", "MX", "TXT")


def served_answer(ip: str, name: str, rdtype: str) -> list[str] | None:
    """The server's authoritative answer (a CNAME and its target's records included) as
    sorted lines without TTLs; None when it does not answer for the zone with authority."""
    query = dns.message.make_query(name, rdtype)
    query.flags &= ~dns.flags.RD
    try:
        response, _ = dns.query.udp_with_fallback(query, ip, timeout=QUERY_TIMEOUT)
    except (dns.exception.DNSException, OSError):
        return None
    if not response.flags & dns.flags.AA:
        return None
    return sorted(f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} {rdata}".lower()
                  for rrset in response.answer for rdata in rrset)


def stale_copy(primary: tuple[str, str], secondaries: dict[str, str], questions: list[tuple[str, str]]) -> str | None:
    """What a secondary (name -> address) serves otherwise than the primary (name, address):
    a zone edited on the primary without a higher serial, which the secondary never copies;
    a resolver then answers from either server. Only servers that answer for the zone with
    authority are compared: a resolver moves on from one that does not (or is stopped)."""
    primary_name, primary_ip = primary
    for name, rdtype in questions:
        wanted = served_answer(primary_ip, name, rdtype)
        for secondary, ip in secondaries.items():
            got = served_answer(ip, name, rdtype) if wanted is not None else None
            if got is not None and got != wanted:
                return (f"{secondary} serves other {rdtype} records for {name} than {primary_name} "
                        f"({secondary}: {'; '.join(got) or 'none'}; {primary_name}: {'; '.join(wanted) or 'none'}): "
                        f"an edit of the zone reaches {secondary} only with a higher serial")
    return None


def behind(primary_ip: str, secondaries: dict[str, str], zone: str, within: float = CATCH_UP) -> dict[str, int]:
    """Wait up to `within` seconds for each secondary (name -> address) that serves the
    zone to serve the primary's serial; those still behind then, with their serial. A
    secondary that does not serve the zone at all is not waited for: a resolver does not
    cache its refusal."""
    deadline = time.monotonic() + within
    while True:
        wanted = served_serial(primary_ip, zone)
        if wanted is None:
            return {}
        late = {name: serial for name, ip in secondaries.items()
                if (serial := served_serial(ip, zone)) is not None and serial != wanted}
        if not late or time.monotonic() >= deadline:
            return late
        time.sleep(POLL)
