"""SPF (item g): the domain's record authorises only its mail server, and the remote
provider's MTA, which evaluates SPF with pyspf, recorded pass and fail for real mail."""
from __future__ import annotations

import json
from ipaddress import IPv4Address
from typing import Literal

from pydantic import model_validator

from labctl.checks.base import Check, Params, register
from labctl.checks.context import CheckContext
from labctl.checks.domain import stale_copy
from labctl.render.configs import MTA_CONFIG

SpfResult = Literal["pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"]
REFUSED = ("fail", "softfail")
# What a result for the domain's own server says about its record (RFC 7208 2.6).
WHY = {"none": "no TXT record of the domain starts with v=spf1",
       "permerror": "the record is not valid SPF: a typing error, or more than one v=spf1 record (RFC 7208 4.5)",
       "temperror": "its name servers did not answer"}


class RecordParams(Params):
    domain: str  # the student's domain
    sender: str = "mail"  # the only service that may send for it
    evaluator: str  # the mail service whose MTA evaluates (the remote provider)


@register("spf-record")
class SpfRecord(Check):
    """The domain's SPF gives pass to the sender's address and fail/softfail to every other lab host."""

    Params = RecordParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        p = self.params
        stale = stale_copy(ctx, [(p.domain, "TXT")])
        if stale:
            return False, f"the SPF other MTAs read depends on the server they ask: {stale}"
        sender_ip = ctx.service(p.sender).ip
        allowed = str(sender_ip)
        others = {str(svc.ip): name for name, svc in ctx.lab.services.items() if name != p.sender}
        # Every network wider than the one address (ip4:…/30, a mask typed by habit) holds the
        # address that differs from it in the last bit, even where no lab host has it.
        others.setdefault(str(IPv4Address(int(sender_ip) ^ 1)), f"the address next to {p.sender}")
        command = ["python3", "-m", "labctl.mailserver.spf_check", "--config", MTA_CONFIG,
                   "--sender", f"postmaster@{p.domain}", "--ip", allowed]
        for ip in others:
            command += ["--ip", ip]
        results = json.loads(ctx.exec(p.evaluator, command))
        if results[allowed] != "pass":
            why = f" ({WHY[results[allowed]]})" if results[allowed] in WHY else ""
            return False, f"SPF of {p.domain} for {p.sender} ({allowed}): {results[allowed]}{why}, pass wanted"
        let_through = [f"{others[ip]} ({ip}): {result}" for ip, result in results.items()
                       if ip in others and result not in REFUSED]
        if let_through:
            return False, f"SPF of {p.domain} does not refuse other hosts: {', '.join(let_through)}"
        return True, f"SPF of {p.domain}: pass for {p.sender} ({allowed}), fail for the other {len(others)} addresses tried"


class ResultParams(Params):
    evaluator: str  # the mail service whose MTA evaluated
    result: SpfResult
    domain: str  # of the MAIL FROM
    client: str | None = None  # the service that connected (mail for pass, the forging host for fail)...
    other_than: str | None = None  # ...or any host but this service (a forgery from any host but mail)

    @model_validator(mode="after")
    def _one_client(self) -> "ResultParams":
        if (self.client is None) == (self.other_than is None):
            raise ValueError("give either client (the host that sent) or other_than (any host but this one)")
        return self


@register("mta-spf-result")
class MtaSpfResult(Check):
    """The evaluating MTA logged this SPF result for mail from the domain sent by the client
    (or by any host but `other_than`)."""

    Params = ResultParams

    def _sent_by(self, ctx: CheckContext, ip: str) -> bool:
        p = self.params
        if p.client is not None:
            return ip == str(ctx.service(p.client).ip)
        return ip != str(ctx.service(p.other_than).ip)

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        p = self.params
        hosts = {str(svc.ip): name for name, svc in ctx.lab.services.items()}
        spf = [e for e in ctx.mta_events(p.evaluator) if e["event"] == "spf"
               and e.get("mail_from", "").lower().endswith("@" + p.domain.lower())]
        for event in spf:
            if event["result"] == p.result and self._sent_by(ctx, event["client_ip"]):
                return True, (f"{p.evaluator} evaluated SPF of <{event['mail_from']}> from "
                              f"{hosts.get(event['client_ip'], 'a host')} ({event['client_ip']}): {event['result']}")
        if p.client is not None:
            wanted = f"{p.client} ({ctx.service(p.client).ip})"
        else:
            wanted = f"a host other than {p.other_than} ({ctx.service(p.other_than).ip})"
        seen = ", ".join(f"{e['result']} from {e['client_ip']}" for e in spf) or "none"
        softened = (" (~all gives softfail, which the provider only marks and accepts; -all gives fail)"
                    if p.result == "fail" and any(e["result"] == "softfail" for e in spf) else "")
        return False, (f"{p.evaluator} has no SPF {p.result} for mail from @{p.domain} sent by {wanted}; "
                       f"results for @{p.domain}: {seen}{softened}")


class ThroughParams(Params):
    evaluator: str  # the mail service whose MTA evaluated
    result: SpfResult
    relay: str = "mail"  # the domain's server, which relayed the message to the evaluator
    via: str  # the host that submitted the message to the relay (the webmail)


@register("relayed-spf-result")
class RelayedSpfResult(Check):
    """A message that `via` submitted to `relay` was relayed to the evaluator, which recorded
    `result` for it: the two MTAs' logs, matched by sender and time."""

    Params = ThroughParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        p = self.params
        via_ip, relay_ip = str(ctx.service(p.via).ip), str(ctx.service(p.relay).ip)
        relay_log = ctx.mta_events(p.relay)
        peers = {e["session"]: e["peer"][0] for e in relay_log if e["event"] == "connect" and e.get("peer")}
        submitted = {e["queue_id"]: e for e in relay_log
                     if e["event"] == "queued" and peers.get(e.get("session")) == via_ip}
        relayed = [e for e in relay_log if e["event"] == "delivery" and e["status"] == "relayed"
                   and e["queue_id"] in submitted]
        if not relayed:
            return False, f"no mail that {p.via} ({via_ip}) submitted to {p.relay} has been relayed to another domain"
        verdicts = [e for e in ctx.mta_events(p.evaluator) if e["event"] == "spf" and e["client_ip"] == relay_ip]
        seen = []
        for delivery in relayed:
            queued = submitted[delivery["queue_id"]]
            for verdict in verdicts:
                if verdict["mail_from"].lower() == queued["mail_from"].lower() and queued["ts"] <= verdict["ts"] <= delivery["ts"]:
                    if verdict["result"] == p.result:
                        return True, (f"<{queued['mail_from']}> from {p.via} through {p.relay} to {delivery['recipient']}: "
                                      f"{p.evaluator} evaluated SPF {verdict['result']}")
                    seen.append(f"{delivery['recipient']}: {verdict['result']}")
        found = ", ".join(seen) or f"none of it reached {p.evaluator}"
        return False, f"mail from {p.via} through {p.relay}, SPF {p.result} wanted at {p.evaluator}: {found}"
