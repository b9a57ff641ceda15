"""DNS lookups the student made, as the capture shows them."""
from __future__ import annotations

from pydantic import Field

from labctl.checks.base import Check, Params, register
from labctl.checks.context import CheckContext

# Queries whose answer shows records of every type: `dig ANY redes.unlp.edu.ar` or
# `dig axfr redes.unlp.edu.ar` shows its TXT records too, so it looked them up.
SHOW_EVERY_TYPE = ("ANY", "AXFR")


class LookupParams(Params):
    # TXT, MX, ...; "SRV|MX" takes a lookup of either type (two ways to the same answer).
    qtype: str = Field(pattern=r"^[A-Z0-9]+(\|[A-Z0-9]+)*$")
    name: str | None = None  # the name asked for, or a domain it is under
    answered: bool = True  # the lookup must have got at least one record of the type
    contains: str | None = None  # ...and one of them must contain this text (e.g. "v=spf1")
    # False: lookups the lab's own servers made do not count (its MTAs ask MX themselves
    # when they relay, its resolver asks on a student's behalf), only a student's host's.
    by_servers: bool = True


@register("dns-lookup")
class DnsLookup(Check):
    """A query of the given type (for the name) to a lab DNS server, and its answer; an ANY
    query or a zone transfer counts when its answer holds records of the type."""

    Params = LookupParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        p = self.params
        suffix = p.name.rstrip(".").lower() + "." if p.name else None
        qtypes = p.qtype.split("|")
        shown_type = " or ".join(qtypes)
        asked = []
        for message in ctx.capture.dns_messages():
            qname = (message.qname or "").lower()
            if not message.is_response or message.qtype not in (*qtypes, *SHOW_EVERY_TYPE):
                continue
            if not p.by_servers and ctx.is_lab_server(message.client.ip):
                continue
            if suffix and not (qname == suffix or qname.endswith("." + suffix)):
                continue
            records = [r for r in message.answers if r.type in qtypes and (p.contains is None or p.contains in r.value)]
            if records or (not p.answered and message.qtype in qtypes):
                shown = "; ".join(r.value for r in records) or message.rcode
                return True, f"{message.qname} {message.qtype} answered by {message.server.ip}: {shown}"
            asked.append(f"{message.qname} ({message.rcode})")
        target = f" for {p.name}" if p.name else ""
        if asked:
            wanted = f"{shown_type} record" + (f" with {p.contains!r}" if p.contains else "")
            return False, f"{shown_type} lookups{target} got no {wanted}: {', '.join(asked)}"
        return False, f"the capture has no {shown_type} lookup{target}"
