"""What `labctl up` prints for the student: every account's address and password whole, also
in an 80-column terminal or a pipe (rich cut them with "…": «alumnoimappa…»)."""
from __future__ import annotations

import ipaddress

from labctl.cli.lab_view import print_lab
from labctl.render.plan import plan_lab
from labctl.spec.loader import load_lab


def test_accounts_are_printed_whole_on_one_line_each_in_80_columns(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    lab = load_lab("practica4", exercise="7")
    print_lab(plan_lab(lab, "qa-print", tmp_path, [], "7"))
    lines = capsys.readouterr().out.splitlines()
    assert not [line for line in lines if "…" in line]
    for name, domain in lab.mail_domains.items():
        for account in domain.accounts:
            assert [line for line in lines if f"{account.user}@{name}" in line and account.password in line]


def test_hosts_lines_are_never_broken(tmp_path, capsys, monkeypatch):
    # They are copied into /etc/hosts as printed: a comment wrapped onto a second line
    # would be an entry of its own there.
    monkeypatch.setenv("COLUMNS", "80")
    lab = load_lab("practica4", subnet="172.30.3.0/24")
    print_lab(plan_lab(lab, "qa-print", tmp_path, []))
    printed = capsys.readouterr().out
    hosts = printed[printed.index("# labctl lab qa-print"):].splitlines()
    entries = [line.split() for line in hosts if line.strip() and not line.startswith("#")]
    assert entries and all(len(e) == 2 and ipaddress.ip_address(e[0]) in lab.network.subnet for e in entries), hosts
    assert "labs/qa-print/tls/ca.pem into Thunderbird" in printed
