"""A mail server's outage as other MTAs lived it (items l, m): their event logs show mail for
the domain deferred, then handed over once the server was back, within the sender's retry
interval; a backup MX stands in meanwhile when the zone names one."""
from __future__ import annotations

import dns.exception
import dns.resolver
from pydantic import Field

from labctl.checks.base import Check, Params, register
from labctl.checks.context import CheckContext
from labctl.checks.domain import stale_copy
from labctl.render.configs import mta_retry, resolver_ip

# The queue run, the connection and the reply also take time after the interval has passed.
RETRY_SLACK = 10.0
UNREACHABLE = "451 4.4.1"  # relay.py: no exchanger answered


class RecoveryParams(Params):
    # The MTA(s) that held the mail: the remote provider (any remote MTA that sends to the
    # domain shows it: info's, with the account of item k), or the backup MX.
    sender: str | list[str]
    domain: str  # the recipients' domain
    server: str = "mail"  # the domain's server that was stopped and came back

    @property
    def senders(self) -> list[str]:
        return [self.sender] if isinstance(self.sender, str) else self.sender


@register("mta-deferred-then-delivered")
class MtaDeferredThenDelivered(Check):
    """A sender deferred mail for the domain while the server was down, and handed it to the
    server after it came back, within that sender's retry interval."""

    Params = RecoveryParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        # The furthest any sender got: delivered in time, delivered late or not yet, never deferred.
        outcomes = sorted((self._outcome(ctx, sender) for sender in self.params.senders), reverse=True)
        _, passed, detail = outcomes[0]
        return passed, detail

    def _outcome(self, ctx: CheckContext, sender: str) -> tuple[int, bool, str]:
        p = self.params
        interval = mta_retry(ctx.service(sender).mta).max_interval
        deliveries = [e for e in ctx.mta_events(sender) if e["event"] == "delivery"
                      and e["recipient"].lower().endswith("@" + p.domain.lower())]
        # Deferred because the server did not answer (stopped), not for a broken zone (4.4.3).
        unreachable = {}
        for event in deliveries:
            if event["status"] == "deferred" and event["reply"].startswith(UNREACHABLE):
                unreachable[event["queue_id"]] = event
        if not unreachable:
            server_ip = str(ctx.service(p.server).ip)
            others = sorted({host for e in ctx.mta_events(sender) if e["event"] == "relay_connect"
                             and e["domain"].lower() == p.domain.lower() for host in e["hosts"] if host != server_ip})
            backup = (f"; it may hand that mail to {', '.join(others)} too (another MX of the domain), which "
                      f"takes it while {p.server} is down: the backup MX of item m" if others else "")
            return 0, False, (f"{sender} never found {p.server} unreachable for mail to @{p.domain} "
                              f"(stop it while mail is sent){backup}")
        for event in deliveries:
            last_failure = unreachable.get(event["queue_id"])
            if event["status"] != "relayed" or last_failure is None:
                continue
            waited = event["ts"] - last_failure["ts"]
            if waited > interval + RETRY_SLACK:
                return 1, False, (f"{sender} delivered {event['recipient']} {waited:.0f} s after its last failed "
                                  f"attempt, more than its retry interval ({interval} s)")
            return 2, True, (f"{sender}: {event['recipient']} deferred ({last_failure['reply'][:90]}), delivered "
                             f"{waited:.0f} s after the last failed attempt (retry interval {interval} s)")
        return 1, False, (f"{sender} deferred mail for @{p.domain} ({len(unreachable)} message(s)) and has not "
                          f"delivered it yet: start {p.server} again")


class BackupMxParams(Params):
    domain: str
    primary: str = "mail"
    backup: str  # the cloud mail server
    min_records: int = Field(2, ge=2)


def _exchanger_ips(name: str, resolver: dns.resolver.Resolver) -> set[str]:
    """The exchanger's addresses; none when the name is an alias (RFC 2181 10.3: an MX
    names a host with its own address records, never a CNAME)."""
    try:
        answer = resolver.resolve(name, "A")
    except dns.exception.DNSException:
        return set()
    if answer.canonical_name != answer.qname:
        return set()
    return {r.address for r in answer}


@register("mx-backup")
class MxBackup(Check):
    """The domain's MX (asked to the lab's resolver) names the primary with the best preference
    and the backup with a higher preference number."""

    Params = BackupMxParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        p = self.params
        stale = stale_copy(ctx, [(p.domain, "MX")])
        if stale:
            return False, f"the MX other MTAs read depends on the server they ask: {stale}"
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [resolver_ip(ctx.lab)]
        resolver.lifetime = 5
        try:
            records = sorted(resolver.resolve(p.domain, "MX"), key=lambda r: r.preference)
        except dns.exception.DNSException as error:
            return False, f"MX of {p.domain}: {error.__class__.__name__}"
        primary_ip, backup_ip = str(ctx.service(p.primary).ip), str(ctx.service(p.backup).ip)
        found = [(r.preference, r.exchange.to_text(), _exchanger_ips(r.exchange.to_text(), resolver)) for r in records]
        shown = ", ".join(f"{pref} {name}" for pref, name, _ in found)
        primary = [pref for pref, _, ips in found if primary_ip in ips]
        backup = [pref for pref, _, ips in found if backup_ip in ips]
        if not primary or not backup:
            missing = p.primary if not primary else p.backup
            return False, (f"MX of {p.domain} ({shown}): none points at {missing} ({ctx.service(missing).ip})"
                           " by a name with its own A record (not an alias, CNAME)")
        if min(backup) <= min(primary):
            return False, (f"MX of {p.domain} ({shown}): {p.backup} must have a higher preference number "
                           f"than {p.primary} (the lower number is tried first)")
        return True, f"MX of {p.domain}: {shown}"
