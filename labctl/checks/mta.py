"""What the MTA did with mail: deferrals (its queue and its log) and submissions that were
delivered (its log: who authenticated on which listener, what was queued, where it went).
The log keeps what the queue and the mailboxes lose: mail that later bounced, was
delivered, or was downloaded and deleted over POP3."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from labctl.checks.base import Check, Params, register
from labctl.checks.context import CheckContext, split_address
from labctl.checks.mailbox import ADDRESS
from labctl.checks.sessions import clock


class DeferredParams(Params):
    domain: str = Field(pattern=r"^[A-Za-z0-9.-]+$")  # recipients' domain
    server: str = "mail"  # the MTA holding the mail
    reason: str | None = None  # a substring of the deferral reason (the remote's or our own)


@register("mta-deferred")
class MtaDeferred(Check):
    """Mail to a domain was tried at least once and deferred: still in the queue, or, in the
    MTA's log, deferred before it was retried, delivered or bounced."""

    Params = DeferredParams

    def _in_domain(self, address: str) -> bool:
        return split_address(address)[1].lower() == self.params.domain.lower()

    def _for_reason(self, reason: str | None) -> bool:
        return self.params.reason is None or self.params.reason.lower() in (reason or "").lower()

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        p = self.params
        queued = [r for entry in ctx.queue(p.server) for r in entry["recipients"] if self._in_domain(r["address"])]
        waiting = [r for r in queued if r["status"] == "deferred" and r["attempts"] >= 1 and self._for_reason(r["reason"])]
        if waiting:
            r = waiting[-1]
            return True, f"{r['address']} deferred in the queue after {r['attempts']} attempt(s): {r['reason']}"
        attempts = [e for e in ctx.mta_events(p.server) if e.get("event") == "delivery" and self._in_domain(str(e.get("recipient", "")))]
        deferred = [e for e in attempts if e.get("status") == "deferred" and self._for_reason(e.get("reply"))]
        if deferred:
            e = deferred[-1]
            since = [a["status"] for a in attempts if a.get("queue_id") == e.get("queue_id") and a["ts"] > e["ts"]]
            after = f"; later {since[-1]}" if since and since[-1] != "deferred" else ""
            return True, f"{e['recipient']} deferred at {clock(e['ts'])} (MTA log, attempt {e.get('attempt')}): {e.get('reply')}{after}"
        states = ", ".join(f"{e['recipient']} {e['status']}" for e in attempts) or "no attempt to deliver there"
        wanted = f" with a reason containing {p.reason!r}" if p.reason else ""
        return False, f"no mail to @{p.domain} was deferred{wanted} by {p.server} ({states})"


class SubmittedParams(Params):
    server: str = "mail"  # the MTA/MSA
    port: int | Literal["smtp", "submission"] = "submission"  # the listener, by number or name
    accounts: list[Annotated[str, Field(pattern=ADDRESS)]] = Field(min_length=2)  # from one (authenticated) to another


@register("mta-submitted-delivered")
class MtaSubmittedDelivered(Check):
    """A message submitted on a listener by one of the accounts, authenticated, was delivered
    to another of them (either direction: the statement names no sender)."""

    Params = SubmittedParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        p = self.params
        port = ctx.port(p.server, p.port)
        listener = next((name for name in ("smtp", "submission") if getattr(ctx.service(p.server).ports, name) == port), None)
        accounts = {a.lower() for a in p.accounts}
        events = ctx.mta_events(p.server)
        server_ip = str(ctx.service(p.server).ip)
        on_listener = {e["session"] for e in events if e.get("event") == "connect" and e.get("listener") == listener
                       and not ctx.is_probe(int((e.get("peer") or ["", 0])[1]), server_ip, port, e["ts"])}
        authenticated = {e["session"] for e in events if e.get("event") == "auth" and e.get("success") and e.get("session") in on_listener}
        queued = {e["queue_id"]: e for e in events if e.get("event") == "queued" and e.get("session") in authenticated
                  and str(e.get("mail_from", "")).lower() in accounts}
        seen = []
        for e in events:
            submitted = queued.get(e.get("queue_id"))
            if e.get("event") != "delivery" or submitted is None:
                continue
            # The mailbox it went to: alumnoimap@mail.redes.unlp.edu.ar is alumnoimap's (mydestination).
            sender, recipient = submitted["mail_from"].lower(), str(e.get("mailbox") or e.get("recipient", "")).lower()
            if e.get("status") == "delivered" and recipient in accounts and recipient != sender:
                return True, (f"{submitted['mail_from']} submitted on port {port} at {clock(submitted['ts'])} "
                              f"(authenticated), delivered to {e['recipient']} (queue id {e['queue_id']})")
            seen.append(f"{sender} → {recipient} {e.get('status')}")
        who = " or ".join(sorted(accounts))
        if not queued:
            return False, (f"no message from {who} was submitted with authentication on port {port} "
                           f"({len(on_listener)} session(s) on that port, {len(authenticated)} authenticated)")
        return False, f"of the messages submitted on port {port}, none from one of {who} was delivered to another: {'; '.join(seen)}"
