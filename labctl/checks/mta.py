"""The MTA's queue: mail that cannot be relayed stays deferred, with the reason."""
from __future__ import annotations

from pydantic import Field

from labctl.checks.base import Check, Params, register
from labctl.checks.context import CheckContext, split_address


class DeferredParams(Params):
    domain: str = Field(pattern=r"^[A-Za-z0-9.-]+$")  # recipients' domain
    server: str = "mail"  # the MTA holding the mail
    reason: str | None = None  # a substring of the deferral reason (the remote's or our own)


@register("mta-deferred")
class MtaDeferred(Check):
    """Mail to a domain was tried at least once and stays deferred in the server's queue."""

    Params = DeferredParams

    def run(self, ctx: CheckContext) -> tuple[bool, str]:
        p = self.params
        recipients = [r for entry in ctx.queue(p.server) for r in entry["recipients"]
                      if split_address(r["address"])[1].lower() == p.domain.lower()]
        deferred = [r for r in recipients if r["status"] == "deferred" and r["attempts"] >= 1]
        if p.reason:
            deferred = [r for r in deferred if p.reason.lower() in (r["reason"] or "").lower()]
        if deferred:
            r = deferred[-1]
            return True, f"{r['address']} deferred after {r['attempts']} attempt(s): {r['reason']}"
        states = ", ".join(f"{r['address']} {r['status']}" for r in recipients) or "none queued"
        wanted = f" with a reason containing {p.reason!r}" if p.reason else ""
        return False, f"no mail to @{p.domain} deferred{wanted} in the queue of {p.server} ({states})"
