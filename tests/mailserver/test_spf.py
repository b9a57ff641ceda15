"""SPF of incoming mail (pyspf against a DNS stub): the result marked and logged, a fail rejected per domain."""
from __future__ import annotations

import email
import json
import smtplib

import pytest

from labctl.mailserver.config import ConfigError, SpfPolicy, load_config

from .conftest import DOMAIN, IMAP, POP, RunningServer, make_config, maildir_files, wait_for

SENDER_DOMAIN = "redes2024.com.ar"
SENDER = f"alumno@{SENDER_DOMAIN}"
MAIL_HOST = "127.0.0.1"  # "mail.<domain>": the only host its SPF record authorises
FORGER = "127.0.0.2"  # another loopback address: a host the record does not name


def spf_events(config) -> list[dict]:
    with open(config.log_file) as handle:
        return [e for e in map(json.loads, handle) if e["event"] == "spf"]


def spf_field(path) -> str | None:
    """The Received-SPF field of a delivered message, unfolded."""
    value = email.message_from_bytes(path.read_bytes())["Received-SPF"]
    return None if value is None else " ".join(value.split())


def send(server, source: str, mail_from: str = SENDER, to: str = POP) -> None:
    client = smtplib.SMTP("127.0.0.1", server.smtp_port, local_hostname="mail.redes2024.com.ar",
                          source_address=(source, 0))
    try:
        client.sendmail(mail_from, [to], b"Subject: spf\r\n\r\nbody\r\n")
    finally:
        client.close()


@pytest.fixture
def sender_zone(dns_stub):
    dns_stub.set(SENDER_DOMAIN, "TXT", ['"v=spf1 a:mail.redes2024.com.ar -all"'])
    dns_stub.set(f"mail.{SENDER_DOMAIN}", "A", [MAIL_HOST])
    return dns_stub


def provider(tmp_path, dns_stub, policy: SpfPolicy) -> RunningServer:
    return RunningServer(make_config(tmp_path, resolver_port=dns_stub.port, spf=policy))


def test_mail_from_the_authorised_host_passes_and_is_marked(tmp_path, sender_zone):
    with provider(tmp_path, sender_zone, SpfPolicy(default="reject")) as server:
        send(server, MAIL_HOST)
        [path] = wait_for(lambda: maildir_files(server.config, "alumnopop"))
    lines = path.read_text().splitlines()
    received = next(i for i, line in enumerate(lines) if line.startswith("Received: from "))
    # policyd-spf's field comes right below the receiving MTA's own Received:.
    spf_line = next(i for i, line in enumerate(lines) if line.startswith("Received-SPF: "))
    assert spf_line == received + 3
    field = " ".join(line.strip() for line in lines[spf_line:spf_line + 4])
    assert field.startswith("Received-SPF: Pass (mail.redes.unlp.edu.ar: domain of redes2024.com.ar "
                            "designates 127.0.0.1 as permitted sender)")
    assert "client-ip=127.0.0.1;" in field and "envelope-from=" in field
    assert all(len(line) <= 80 for line in lines[spf_line:spf_line + 4])
    [event] = spf_events(server.config)
    assert (event["result"], event["client_ip"], event["mail_from"]) == ("pass", MAIL_HOST, SENDER)


def test_forged_mail_fails_and_a_rejecting_domain_refuses_it_like_policyd_spf(tmp_path, sender_zone):
    with provider(tmp_path, sender_zone, SpfPolicy(default="mark", domains={DOMAIN: "reject"})) as server:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            send(server, FORGER)
        code, text = refused.value.recipients[POP]
        assert code == 550
        assert text.decode().startswith(f"5.7.23 <{POP}>: Recipient address rejected: "
                                        "Message rejected due to: SPF fail - not authorized.")
        [event] = spf_events(server.config)
        assert (event["result"], event["client_ip"]) == ("fail", FORGER)
        assert not maildir_files(server.config, "alumnopop")


def test_a_marking_domain_keeps_forged_mail_with_a_fail_mark(tmp_path, sender_zone):
    with provider(tmp_path, sender_zone, SpfPolicy(default="reject", domains={DOMAIN: "mark"})) as server:
        send(server, FORGER)
        [path] = wait_for(lambda: maildir_files(server.config, "alumnopop"))
    assert spf_field(path).startswith("Fail (mail.redes.unlp.edu.ar: domain of redes2024.com.ar does not designate "
                                      "127.0.0.2 as permitted sender) client-ip=127.0.0.2;")
    assert [e["result"] for e in spf_events(server.config)] == ["fail"]


@pytest.mark.parametrize("record, result", [
    ('"v=spf1 a:mail.redes2024.com.ar ~all"', "softfail"),
    ('"v=spf1 a:mail.redes2024.com.ar ?all"', "neutral"),
    (None, "none"),
    ('"v=spf1 a:mail.redes2024.com.ar bogus:x -all"', "permerror"),
])
def test_only_a_fail_is_rejected(tmp_path, dns_stub, record, result):
    dns_stub.set(f"mail.{SENDER_DOMAIN}", "A", [MAIL_HOST])
    if record:
        dns_stub.set(SENDER_DOMAIN, "TXT", [record])
    with provider(tmp_path, dns_stub, SpfPolicy(default="reject")) as server:
        send(server, FORGER)
        [path] = wait_for(lambda: maildir_files(server.config, "alumnopop"))
    assert spf_field(path).split()[0].lower() == result
    assert [e["result"] for e in spf_events(server.config)] == [result]


def test_one_evaluation_per_transaction_and_none_when_off_or_authenticated(tmp_path, sender_zone):
    policy = SpfPolicy(default="off", domains={DOMAIN: "mark"})
    with provider(tmp_path, sender_zone, policy) as server:
        client = smtplib.SMTP("127.0.0.1", server.smtp_port, source_address=(MAIL_HOST, 0))
        client.sendmail(SENDER, [POP, IMAP], b"Subject: two\r\n\r\nx\r\n")
        client.quit()
        # An authenticated submission is the domain's own mail: SPF is for MTAs.
        client = smtplib.SMTP("127.0.0.1", server.submission_port)
        client.login("alumnopop", "alumnopoppass")
        client.sendmail(POP, [IMAP], b"Subject: submitted\r\n\r\nx\r\n")
        client.quit()
        wait_for(lambda: len(maildir_files(server.config, "alumnoimap")) == 2)
    assert [e["result"] for e in spf_events(server.config)] == ["pass"]
    texts = sorted(p.read_text() for p in maildir_files(server.config, "alumnoimap"))
    assert sum("Received-SPF:" in text for text in texts) == 1


def test_hostile_explanation_cannot_break_the_reply_or_the_header(tmp_path, dns_stub):
    dns_stub.set(SENDER_DOMAIN, "TXT", ['"v=spf1 -all exp=why.redes2024.com.ar"'])
    dns_stub.set(f"why.{SENDER_DOMAIN}", "TXT", ['"bad\\013\\010Injected: yes"'])
    with provider(tmp_path, dns_stub, SpfPolicy(default="reject")) as server:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            send(server, FORGER)
    code, text = refused.value.recipients[POP]
    assert code == 550 and b"\n" not in text and b"\r" not in text
    [event] = spf_events(server.config)
    assert "\n" not in event["explanation"] and event["explanation"].startswith("bad??Injected")


def test_spf_policy_is_validated_with_one_line(tmp_path):
    path = tmp_path / "mta.yaml"
    path.write_text(
        "hostname: mx\nbanner: mx\nlocal_domains: [a.example]\naccounts: []\nspool_dir: /s\nmaildir_root: /m\n"
        "log_file: /l\nlisteners: [{name: smtp, host: 0.0.0.0, port: 25, kind: mta}]\n"
        "spf: {default: mark, domains: {A.example: rechazar}}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == f"{path}: spf.domains.a.example: must be one of off, mark, reject, got 'rechazar'"
    path.write_text(path.read_text().replace("rechazar", "reject"))
    assert load_config(path).spf.action_for("a.EXAMPLE") == "reject"
