"""The reference network, up on the real engine, used from the host as a student would."""
from __future__ import annotations

import email.message
import imaplib
import json
import poplib
import smtplib
import time
import urllib.request
import uuid

import dns.message
import dns.query
import dns.rdatatype
import dns.resolver
import dns.zone
import pytest
from typer.testing import CliRunner

from labctl.cli import app
from labctl.runtime import project

MAIL = "172.28.0.90"
DNS = "172.28.0.29"
DNS_PRACTICA = "172.28.0.120"
DOMAIN = "redes.unlp.edu.ar"


def _send(sender: str, rcpt: str, subject: str, body: str = "estoy probando") -> None:
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, rcpt, subject
    msg.set_content(body)
    with smtplib.SMTP(MAIL, 25, timeout=10) as smtp:
        smtp.send_message(msg)


def _poll(fetch, deadline: float = 15.0):
    end = time.monotonic() + deadline
    while True:
        found = fetch()
        if found or time.monotonic() > end:
            return found
        time.sleep(0.2)


def test_smtp_then_imap(practica4):
    subject = f"prueba imap {uuid.uuid4().hex[:8]}"
    _send(f"alumnopop@{DOMAIN}", f"alumnoimap@{DOMAIN}", subject)

    def fetch():
        with imaplib.IMAP4(MAIL, 143) as imap:
            imap.login("alumnoimap", "alumnoimappass")
            imap.select("INBOX")
            _, data = imap.search(None, "SUBJECT", f'"{subject}"')
            if not data[0]:
                return None
            _, parts = imap.fetch(data[0].split()[0], "(RFC822)")
            return parts[0][1]

    raw = _poll(fetch)
    assert raw is not None, "the message never reached alumnoimap's INBOX"
    assert f"Subject: {subject}".encode() in raw
    assert f"Delivered-To: alumnoimap@{DOMAIN}".encode() in raw
    assert b"Return-Path: <alumnopop@redes.unlp.edu.ar>" in raw


def test_smtp_then_pop3_retr(practica4):
    subject = f"prueba pop {uuid.uuid4().hex[:8]}"
    _send(f"alumnoimap@{DOMAIN}", f"alumnopop@{DOMAIN}", subject)

    def fetch():
        pop = poplib.POP3(MAIL, 110, timeout=10)
        try:
            assert pop.getwelcome() == b"+OK Dovecot ready."
            pop.user("alumnopop")
            pop.pass_("alumnopoppass")
            for n in range(len(pop.list()[1]), 0, -1):
                lines = pop.retr(n)[1]
                if f"Subject: {subject}".encode() in lines:
                    return lines
            return None
        finally:
            pop.quit()

    assert _poll(fetch) is not None, "RETR never returned the message"


def test_smtp_banner_is_the_course_server(practica4):
    with smtplib.SMTP(MAIL, 25, timeout=10) as smtp:
        code, banner = smtp.ehlo("[172.28.0.1]")
        assert code == 250
    assert banner.split(b"\n")[0] == b"mail.redes.unlp.edu.ar"


def _query(server: str, name: str, rdtype: str):
    return dns.query.udp(dns.message.make_query(name, rdtype), server, timeout=3)


@pytest.mark.parametrize(
    ("name", "rdtype", "expected"),
    [
        (DOMAIN, "MX", {"5 mail.redes.unlp.edu.ar.", "10 mail2.redes.unlp.edu.ar."}),
        (DOMAIN, "NS", {"ns-sv-a.redes.unlp.edu.ar.", "ns-sv-b.redes.unlp.edu.ar."}),
        (f"ns-sv-a.{DOMAIN}", "A", {"172.28.0.30"}),
        (f"ns-sv-b.{DOMAIN}", "A", {"172.28.0.29"}),
        (f"mail.{DOMAIN}", "A", {"172.28.0.90"}),
        (f"mail2.{DOMAIN}", "A", {"172.28.0.91"}),
        (f"www.{DOMAIN}", "A", {"172.28.0.50"}),
        (f"ftp.{DOMAIN}", "CNAME", {"www.redes.unlp.edu.ar."}),
        (f"saludo.{DOMAIN}", "TXT", {'"HOLA"'}),
    ],
)
def test_course_records(practica4, name, rdtype, expected):
    answer = _query(DNS, name, rdtype)
    rrset = answer.find_rrset(answer.answer, dns.name.from_text(name), dns.rdataclass.IN, dns.rdatatype.from_text(rdtype))
    assert {r.to_text() for r in rrset} == expected


def test_ttls_and_soa(practica4):
    www = _query(DNS, f"www.{DOMAIN}", "A").answer[0]
    assert www.ttl == 300
    soa = _query(DNS, DOMAIN, "SOA").answer[0][0]
    assert (soa.mname.to_text(), soa.rname.to_text(), soa.serial) == ("ns-sv-b.redes.unlp.edu.ar.", "root.redes.unlp.edu.ar.", 2020031700)


def test_axfr_allowed(practica4):
    zone = dns.zone.from_xfr(dns.query.xfr(DNS, DOMAIN, timeout=5))
    names = {n.to_text() for n in zone.nodes}
    assert {"@", "www", "ftp", "mail", "mail2", "saludo", "practica", "ns-sv-a", "ns-sv-b"} <= names


def test_delegation_to_practica(practica4):
    answer = _query(DNS_PRACTICA, f"practica.{DOMAIN}", "MX")
    assert sorted(r.to_text() for r in answer.answer[0]) == ["10 mx2.practica.redes.unlp.edu.ar.", "15 mx3.practica.redes.unlp.edu.ar.", "5 mx1.practica.redes.unlp.edu.ar."]
    www = _query(DNS_PRACTICA, f"www.practica.{DOMAIN}", "A").answer[0]
    assert (www.ttl, www[0].address) == (60, "172.28.0.10")
    # The course resolver recurses into the delegated zone.
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [DNS]
    assert [r.address for r in resolver.resolve(f"smtp.practica.{DOMAIN}", "A")] == ["172.28.0.200"]


def test_web_site_answers(practica4):
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [DNS]
    ip = resolver.resolve(f"www.{DOMAIN}", "A")[0].address
    request = urllib.request.Request(f"http://{ip}/", headers={"Host": f"www.{DOMAIN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        assert "Redes y Comunicaciones" in response.read().decode()


def test_containers_resolve_through_lab_dns(practica4, engine):
    from labctl.runtime.containers import find_containers

    client = find_containers(engine, "practica4")["client"]
    code, out = client.exec_run(["dig", f"www.{DOMAIN}"])
    assert code == 0
    assert b"SERVER: 172.28.0.29#53" in out
    assert b"127.0.0.11" not in out
    assert b"172.28.0.50" in out


def test_second_up_changes_nothing(practica4, engine):
    from labctl.spec.loader import load_lab

    before = {c.id for c in engine.containers.list(filters={"label": "labctl.lab=practica4"})}
    result = project.up(engine, load_lab("practica4"), "practica4")
    assert not result.changed
    assert len(result.unchanged) == len(practica4.containers)
    after = {c.id for c in engine.containers.list(filters={"label": "labctl.lab=practica4"})}
    assert before == after
    cli = CliRunner().invoke(app, ["up"])
    assert cli.exit_code == 0 and "already up; nothing changed" in cli.output


def test_status_json(practica4):
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    services = {s["service"]: s for s in json.loads(result.output)["services"]}
    assert set(services) == {c.service for c in practica4.containers}
    assert services["mail"]["ip"] == MAIL and services["mail"]["state"] == "running"


def test_exec_and_logs(practica4):
    runner = CliRunner()
    result = runner.invoke(app, ["exec", "client", "--", "cat", "/etc/resolv.conf"])
    assert result.exit_code == 0 and "nameserver 172.28.0.29" in result.output
    assert runner.invoke(app, ["exec", "client", "--", "false"]).exit_code == 1
    logs = runner.invoke(app, ["logs", "dns-redes"])
    assert logs.exit_code == 0 and "zone redes.unlp.edu.ar/IN: loaded serial 2020031700" in logs.output
    missing = runner.invoke(app, ["logs", "nope"])
    assert missing.exit_code == 1 and "no service 'nope'" in missing.output


def test_swaks_from_the_client_container(practica4, engine):
    """The students' swaks, inside the lab, by name through the lab DNS."""
    from labctl.runtime.containers import find_containers

    client = find_containers(engine, "practica4")["client"]
    subject = f"swaks {uuid.uuid4().hex[:8]}"
    code, out = client.exec_run(
        ["swaks", "--server", "mail.redes.unlp.edu.ar", "--from", f"alumnopop@{DOMAIN}", "--to", f"alumnoimap@{DOMAIN}", "--header", f"Subject: {subject}"]
    )
    transcript = out.decode()
    assert code == 0, transcript
    assert "<-  220 mail.redes.unlp.edu.ar ESMTP" in transcript
    assert "<-  250 2.0.0 Ok: queued as " in transcript

    def fetch():
        with imaplib.IMAP4(MAIL, 143) as imap:
            imap.login("alumnoimap", "alumnoimappass")
            imap.select("INBOX")
            _, data = imap.search(None, "SUBJECT", f'"{subject}"')
            return imap.fetch(data[0].split()[0], "(BODY.PEEK[HEADER])")[1][0][1] if data[0] else None

    header = _poll(fetch)
    assert header is not None
    # The Received header names the client as the course server writes it.
    assert b"Received: from cliente.redes.unlp.edu.ar (unknown [172.28.0.100])\r\n\tby mail.redes.unlp.edu.ar" in header
    assert b"X-Original-To: alumnoimap@redes.unlp.edu.ar" in header
