"""Exercise 10, items a) to c): the student's domain as the lab's DNS really
serves it (the registry's delegation, the lab resolver, ns1 and ns2), asked
with real DNS queries; nothing is compared with a table in the code."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
from pydantic import Field

from labctl.checks.base import Check, Params, Verdict, register
from labctl.checks.context import CheckContext
from labctl.spec.models import Workspace
from labctl.workspace import zonesync

QUERY_TIMEOUT = 1.5


def fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


def ask(ip: str, name: str, rdtype: str, recursive: bool = False) -> dns.message.Message:
    """One query to one server over UDP (TCP when truncated), as dig would."""
    query = dns.message.make_query(name, rdtype)
    if not recursive:
        query.flags &= ~dns.flags.RD
    try:
        response, _ = dns.query.udp_with_fallback(query, ip, timeout=QUERY_TIMEOUT)
    except (dns.exception.Timeout, OSError) as exc:
        raise Verdict(f"{ip} did not answer a DNS query for {name} {rdtype} ({exc.__class__.__name__})") from None
    return response


def records(section: list[dns.rrset.RRset], name: str, rdtype: str) -> list[str]:
    wanted = dns.rdatatype.from_text(rdtype)
    return [rdata.to_text() for rrset in section if rrset.rdtype == wanted and fqdn(rrset.name.to_text()) == fqdn(name) for rdata in rrset]


def workspace(ctx: CheckContext) -> Workspace:
    if ctx.lab.workspace is None:
        raise Verdict(f"lab {ctx.lab.name} has no student domain (workspace)")
    return ctx.lab.workspace


def name_servers(ctx: CheckContext) -> dict[str, str]:
    """The domain's name servers as the lab has them: host name -> address."""
    ws = workspace(ctx)
    return {fqdn(ctx.service(name).hostname): str(ctx.service(name).ip) for name in [ws.primary, *ws.secondaries]}


def rcode(response: dns.message.Message) -> str:
    return dns.rcode.to_text(response.rcode())


def stale_copy(ctx: CheckContext, questions: list[tuple[str, str]]) -> str | None:
    """zonesync.stale_copy for the lab's domain: its secondaries against its primary."""
    ws = workspace(ctx)
    secondaries = {name: str(ctx.service(name).ip) for name in ws.secondaries}
    return zonesync.stale_copy((ws.primary, str(ctx.service(ws.primary).ip)), secondaries,
                               [(fqdn(name), rdtype) for name, rdtype in questions])


class NoParams(Params):
    pass


@register("domain-delegation")
class Delegation(Check):
    """a) The registry's zone delegates the domain to ns1 and ns2, with glue."""

    Params = NoParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        ws = workspace(ctx)
        registry = str(ctx.service(ws.registry).ip)
        domain = fqdn(ws.domain)
        response = ask(registry, domain, "NS")
        delegated = records(response.authority, domain, "NS")
        if not delegated:
            return False, f"the registry ({registry}) does not delegate {domain}: {rcode(response)}, no NS records for it"
        expected = name_servers(ctx)
        got = sorted(fqdn(ns) for ns in delegated)
        if got != sorted(expected):
            return False, f"the registry delegates {domain} to {', '.join(got)}; expected {', '.join(sorted(expected))}"
        problems = []
        for host, ip in expected.items():
            if not host.endswith("." + domain):
                continue  # outside the domain: no glue needed
            glue = records(response.additional, host, "A")
            if glue != [ip]:
                problems.append(f"glue of {host} is {', '.join(glue) or 'missing'}, expected {ip}")
        if problems:
            return False, "; ".join(problems)
        return True, f"{domain} NS {', '.join(got)} with glue, at the registry {registry}"


@register("domain-resolution")
class Resolution(Check):
    """a) The lab resolver (which starts from the lab's root) resolves the domain."""

    Params = NoParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        ws = workspace(ctx)
        resolver = str(ctx.service(ctx.lab.resolver).ip)
        problems, found = [], []
        for host, ip in name_servers(ctx).items():
            response = ask(resolver, host, "A", recursive=True)
            got = records(response.answer, host, "A")
            if got != [ip]:
                problems.append(f"{host} A: {', '.join(got) or rcode(response)} (expected {ip})")
            found.append(f"{host} {', '.join(got)}")
        soa = ask(resolver, ws.domain, "SOA", recursive=True)
        if not records(soa.answer, ws.domain, "SOA"):
            problems.append(f"{ws.domain} SOA: {rcode(soa)}")
        if problems:
            return False, f"the lab resolver ({resolver}) does not resolve the domain: {'; '.join(problems)}"
        return True, f"the lab resolver answers {'; '.join(found)} and the SOA of {ws.domain}"


def _soa(ctx: CheckContext, service: str) -> tuple[str, dns.message.Message]:
    ip = str(ctx.service(service).ip)
    return ip, ask(ip, workspace(ctx).domain, "SOA")


def soa_advice(fields: list[str]) -> list[str]:
    """RFC 1912's advice on an SOA's timers (retry < refresh < expire), which a zone need
    not follow: BIND serves it all the same, and a secondary still follows its primary
    (NOTIFY brings each change at once, the refresh timer runs at refresh, and BIND raises
    an expire shorter than refresh + retry to that sum). Any serial (0 too) and any negative
    TTL are legal: the course's own practica zone and Debian's db.local, which students
    copy, keep a week's (BIND caps it at max-ncache-ttl anyway)."""
    refresh, retry, expire = (int(f) for f in fields[3:6])
    advice = []
    if not 0 < retry < refresh:
        advice.append(f"retry ({retry}) is usually shorter than refresh ({refresh})")
    if not refresh < expire:
        advice.append(f"expire ({expire}) is usually much longer than refresh ({refresh})")
    return advice


class ZoneParams(Params):
    # Name in the domain -> the lab service whose address it must have.
    addresses: dict[str, str]
    mx: str  # the service the MX must point at


@register("zone-records")
class ZoneRecords(Check):
    """b) The zone on the primary: an SOA naming the primary (its timers get RFC 1912's
    advice, never a failure), NS, A records of the servers, MX; every MX inside the domain
    names a host with an address of its own."""

    Params = ZoneParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        ws = workspace(ctx)
        domain = fqdn(ws.domain)
        ip, response = _soa(ctx, ws.primary)
        soa = records(response.answer, domain, "SOA")
        if not soa or not response.flags & dns.flags.AA:
            return False, f"{ws.primary} ({ip}) is not authoritative for {domain}: {rcode(response)}"
        problems = []
        primary = fqdn(ctx.service(ws.primary).hostname)
        mname = fqdn(soa[0].split()[0])
        if mname != primary:
            problems.append(f"the SOA names {mname} as the primary server, expected {primary}{relative_hint(mname, domain)}")
        ns = sorted(fqdn(n) for n in records(ask(ip, domain, "NS").answer, domain, "NS"))
        if ns != sorted(name_servers(ctx)):
            problems.append(f"NS {', '.join(ns) or 'none'}, expected {', '.join(sorted(name_servers(ctx)))}")
        for label, service in self.params.addresses.items():
            name = f"{label}.{domain}"
            target, got = self._address(ip, name)
            if got != [str(ctx.service(service).ip)]:
                why = (relative_hint(target, domain) or undotted_owner_hint(ip, name, domain)) if not got else ""
                problems.append(f"{name} resolves to {', '.join(got) or 'nothing'}, expected {ctx.service(service).ip}{why}")
        mx = records(ask(ip, domain, "MX").answer, domain, "MX")
        mail_ip = str(ctx.service(self.params.mx).ip)
        to_mail = set()  # the preferences of the MX records that reach the mail server
        told = len(problems)
        for record in mx:
            preference, exchange = record.split()
            target = fqdn(exchange)
            if not (target == domain or target.endswith("." + domain)):
                continue  # another domain's host (a backup MX): its own servers answer for it
            answer = ask(ip, target, "A").answer
            if records(answer, target, "CNAME"):
                problems.append(f"MX {preference} {target} is an alias (CNAME): an MX must name a host with "
                                "its own A record (RFC 2181 10.3; BIND logs it as illegal)")
            elif not records(answer, target, "A"):
                why = relative_hint(target, domain) or undotted_owner_hint(ip, target, domain)
                problems.append(f"MX {preference} {target} has no address in the zone{why}")
            elif sorted(records(answer, target, "A")) == [mail_ip]:
                to_mail.add(int(preference))
        if not to_mail:
            if len(problems) == told:  # an MX told above as unusable says enough
                problems.append(f"no MX points at the mail server {mail_ip} (MX: {', '.join(mx) or 'none'})")
        elif min(to_mail) > min(int(record.split()[0]) for record in mx):
            problems.append(f"the mail server's MX ({min(to_mail)}) is not the most preferred (MX: {', '.join(mx)}): "
                            "the lowest number is tried first")
        # Timers RFC 1912 advises against are told, never failed: BIND serves them (either reading of b).
        advice = soa_advice(soa[0].split())
        note = f" (advice, not required: {'; '.join(advice)}, RFC 1912)" if advice else ""
        if problems:
            return False, "; ".join(problems) + note
        return True, f"SOA serial {soa[0].split()[2]}, NS {', '.join(ns)}, MX {', '.join(mx)}, {len(self.params.addresses)} names resolve{note}"

    @staticmethod
    def _address(ip: str, name: str) -> tuple[str, list[str]]:
        """The name a CNAME the server answers with leads to (`name` itself without one), and its A records."""
        response = ask(ip, name, "A")
        target = fqdn(name)
        for _ in range(8):
            cname = records(response.answer, target, "CNAME")
            if not cname:
                break
            target = fqdn(cname[0])
            if not records(response.answer, target, "A"):
                response = ask(ip, target, "A")
        return target, sorted(records(response.answer, target, "A"))


def undotted_owner_hint(ip: str, name: str, domain: str) -> str:
    """A name of the zone with no records, whose records the server has one zone's name further
    down (mail.<domain>.<domain>): the student wrote it in full without its final dot."""
    doubled = name + domain
    if ask(ip, doubled, "A").answer:
        return f" (its records are at {doubled}: a full name written without the final dot gets the zone's name added)"
    return ""


def relative_hint(name: str, domain: str) -> str:
    """A name of the zone that reads as a whole name before the zone's own (mx.nube.com.ar.<domain>)
    was written without its final dot: BIND completed it with the zone's name."""
    prefix = name[: -len(domain)].rstrip(".") if name.endswith("." + domain) else ""
    if "." in prefix:
        return f" (written without the final dot, so BIND added the zone's name: did you mean {prefix}.?)"
    return ""


class AuthoritativeParams(Params):
    # Names of the zone (relative) whose addresses both servers must serve alike, beside
    # the apex's SOA, NS, MX and TXT.
    names: list[str] = []


@register("zone-authoritative")
class ZoneAuthoritative(Check):
    """b) ns1 and ns2 both answer for the zone with authority (aa), same serial, same records."""

    Params = AuthoritativeParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        ws = workspace(ctx)
        serials, problems = {}, []
        for service in [ws.primary, *ws.secondaries]:
            ip, response = _soa(ctx, service)
            soa = records(response.answer, ws.domain, "SOA")
            if not soa or not response.flags & dns.flags.AA:
                problems.append(f"{service} ({ip}) does not answer for {ws.domain} with authority ({rcode(response)})")
                continue
            serials[service] = int(soa[0].split()[2])
        if problems:
            return False, "; ".join(problems)
        shown = ", ".join(f"{s} {n}" for s, n in serials.items())
        if len(set(serials.values())) > 1:
            return False, f"the servers have different serials: {shown}"
        domain = fqdn(ws.domain)
        questions = [(domain, rdtype) for rdtype in zonesync.APEX_TYPES]
        stale = stale_copy(ctx, questions + [(f"{label}.{domain}", "A") for label in self.params.names])
        if stale:
            return False, f"same serial {next(iter(serials.values()))}, but {stale}"
        return True, f"authoritative answers (aa), serial {shown}, the same records"


LOG_TIME = r"(\d{2}-\w{3}-\d{4} \d{2}:\d{2}:\d{2}\.\d{3})"


@dataclass(frozen=True)
class LogEvent:
    at: datetime
    serial: int


def log_events(log: str, pattern: str) -> list[LogEvent]:
    # BIND logs a zone's name as named.conf spells it (zone "Redes2024.com.ar"): names are
    # compared without case, as DNS does.
    return [LogEvent(datetime.strptime(m.group(1), "%d-%b-%Y %H:%M:%S.%f"), int(m.group(2)))
            for m in re.finditer(LOG_TIME + pattern, log, re.IGNORECASE)]


class NotifyParams(Params):
    within: float = Field(10.0, gt=0)  # seconds from the primary's load to the secondary's copy


@register("zone-notify")
class ZoneNotify(Check):
    """b) A raised serial on the primary reaches each secondary by NOTIFY within seconds."""

    Params = NotifyParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        ws = workspace(ctx)
        zone = re.escape(ws.domain.rstrip("."))
        primary_ip = re.escape(str(ctx.service(ws.primary).ip))
        loaded = log_events(ctx.container(ws.primary).logs().decode(errors="replace"), rf".*zone {zone}/IN: loaded serial (\d+)")
        if not loaded:
            return False, f"{ws.primary} never loaded the zone {ws.domain}"
        current = loaded[-1]
        if len({event.serial for event in loaded}) < 2:
            return False, f"{ws.primary} has loaded only serial {current.serial}: raise the serial and apply again"
        for secondary in ws.secondaries:
            log = ctx.container(secondary).logs().decode(errors="replace")
            notified = [e for e in log_events(log, rf".*zone {zone}/IN: notify from {primary_ip}#\d+: serial (\d+)") if e.serial == current.serial]
            copied = [e for e in log_events(log, rf".*zone {zone}/IN: transferred serial (\d+)") if e.serial == current.serial]
            if not notified:
                return False, f"{secondary} got no NOTIFY from {ws.primary} for serial {current.serial}"
            if not copied:
                return False, f"{secondary} was notified of serial {current.serial} but did not copy the zone"
            delay = (copied[0].at - current.at).total_seconds()
            if delay > self.params.within:
                return False, f"{secondary} copied serial {current.serial} {delay:.0f} s after {ws.primary} loaded it (more than {self.params.within:.0f} s)"
        return True, f"serial {current.serial} reached {', '.join(ws.secondaries)} by NOTIFY"


class RecursionParams(Params):
    outside: str  # a name outside the domain that a recursive server could resolve


@register("no-recursion")
class NoRecursion(Check):
    """c) The domain's name servers refuse to resolve names outside their zone."""

    Params = RecursionParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        ws = workspace(ctx)
        recursive = []
        for service in [ws.primary, *ws.secondaries]:
            ip = str(ctx.service(service).ip)
            response = ask(ip, self.params.outside, "SOA", recursive=True)
            if response.answer or response.flags & dns.flags.RA:
                recursive.append(f"{service} ({ip}) resolves {self.params.outside} for others ({rcode(response)}, ra)")
        if recursive:
            return False, "; ".join(recursive)
        return True, f"{', '.join([ws.primary, *ws.secondaries])} refuse recursion for {self.params.outside}"
