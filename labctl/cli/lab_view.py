"""What `labctl up` shows of a lab: its services, the Thunderbird settings, the hosts lines."""
from __future__ import annotations

from rich.table import Table

from labctl.cli.output import cells, console, table as new_table
from labctl.paths import tls_dir, workspace_dir
from labctl.render.plan import LabPlan
from labctl.render.templating import render as render_template
from labctl.render.tls import CA_CERT
from labctl.spec.models import Role


def _hosts_text(plan: LabPlan) -> str:
    from labctl.render.configs import resolver_ip

    return render_template("host/hosts.j2", instance=plan.instance, resolver_ip=resolver_ip(plan.lab), containers=plan.containers)


def print_lab(plan: LabPlan) -> None:
    table = new_table(f"lab {plan.instance}" + (f" — exercise {plan.exercise}" if plan.exercise else ""), "service", "hostname", "IP", "ports")
    for c in plan.containers:
        ports = ", ".join(f"{name} {port}" for name, port in c.ports.items())
        table.add_row(*cells(c.service, c.hostname if c.ip else "", c.ip or f"host network ({plan.network.bridge})", ports))
    console.print(table)
    for name, svc in plan.lab.by_role(Role.mail).items():
        # Two columns that never wrap: in an 80-column terminal (or a pipe) rich would cut
        # an address or a password with "…"; what is the same for every account is the title.
        accounts = Table(title=f"Thunderbird settings: {svc.hostname}, no SSL, normal password, user name = "
                               f"the address before @; incoming POP3 {svc.ports.pop3} / IMAP {svc.ports.imap}, "
                               f"outgoing SMTP {svc.ports.smtp} (submission {svc.ports.submission})")
        for column in ("address", "password"):
            accounts.add_column(column, no_wrap=True)
        for domain in svc.mail_domains:
            for a in plan.lab.mail_domains[domain].accounts:
                accounts.add_row(*cells(f"{a.user}@{domain}", a.password))
        console.print(accounts)
    if plan.lab.by_role(Role.mail):
        ca = tls_dir(plan.instance) / CA_CERT
        console.print(f"STARTTLS (SMTP, submission, POP3 STLS, IMAP STARTTLS) is signed by the lab CA: import {ca} into Thunderbird to trust it.",
                      markup=False, highlight=False, soft_wrap=True)
    if plan.lab.workspace is not None:
        console.print(f"Your workspace (zone, BIND, registration, answers): {workspace_dir(plan.instance)} — edit, then 'labctl apply'.", markup=False, highlight=False, soft_wrap=True)
    console.print(f"Host gateway: {plan.lab.network.gateway}. Name resolution from the host, either line:")
    # Lines to copy into /etc/hosts: rich must not break them (a broken comment is a bad entry).
    console.print(_hosts_text(plan), highlight=False, markup=False, soft_wrap=True)
