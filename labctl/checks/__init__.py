"""Automated checks of the exercises: each check kind is a small class, registered by
name; the exercises of lab.yaml pick kinds and give their parameters.

    checks = build_checks(lab, "3")
    results = [check.execute(ctx) for check in checks]
"""
from labctl.checks.base import REGISTRY, Check, CheckResult, Status, build_checks
from labctl.checks.context import CheckContext

# Importing the modules registers their kinds.
from labctl.checks import captured_mail, dialogue, dns, domain, handin, logins, mail_outage, mailbox, mta, ports, spf  # noqa: E402,F401

__all__ = ["REGISTRY", "Check", "CheckContext", "CheckResult", "Status", "build_checks"]
