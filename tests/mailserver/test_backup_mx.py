"""A backup MX: accepts mail for the domains of its setting file, queues it while the primary is
down, and forwards it to the better-preference MX within its retry interval once it returns."""
from __future__ import annotations

import json
import smtplib
import socket
import time
from dataclasses import replace

import pytest

from labctl.mailserver.backup_mx import load_backup_setting
from labctl.mailserver.config import Account, ConfigError, Listener, Retry

from .conftest import RunningServer, make_config, maildir_files, wait_for

DOMAIN = "redes2024.com.ar"
USER = f"alumno@{DOMAIN}"
CLOUD = "mx.nube.example"
RETRY = 0.5  # the lab uses 30 s; the mechanism is the same


def events(config, kind):
    with open(config.log_file) as handle:
        return [e for e in map(json.loads, handle) if e["event"] == kind]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def primary_config(tmp_path, port: int):
    return make_config(tmp_path / "primary", hostname=f"mail.{DOMAIN}", local_domains=[DOMAIN],
                       accounts=[Account(USER, "alumno", "pw")],
                       listeners=[Listener("smtp", "127.0.0.1", port, "mta")])


def cloud_config(tmp_path, dns_stub, primary_port: int, setting_file):
    return make_config(tmp_path / "cloud", hostname=CLOUD, local_domains=["nube.example"], accounts=[],
                       listeners=[Listener("smtp", "127.0.0.1", 0, "mta")],
                       resolver_port=dns_stub.port, relay_port=primary_port, relay_domains_file=str(setting_file),
                       retry=Retry(initial=RETRY, max_interval=RETRY, give_up_after=600))


@pytest.fixture
def zone(dns_stub):
    dns_stub.set(DOMAIN, "MX", [f"10 mail.{DOMAIN}.", f"20 {CLOUD}."])
    dns_stub.set(f"mail.{DOMAIN}", "A", ["127.0.0.1"])
    dns_stub.set(CLOUD, "A", ["127.0.0.1"])
    return dns_stub


def send(server, to: str = USER) -> None:
    client = smtplib.SMTP("127.0.0.1", server.smtp_port)
    try:
        client.sendmail("remitente@proveedor.example", [to], b"Subject: via backup\r\n\r\nbody\r\n")
    finally:
        client.close()


def test_backup_queues_while_the_primary_is_down_and_forwards_when_it_returns(tmp_path, zone):
    setting = tmp_path / "respaldo-mx.yaml"
    setting.write_text(f"# el servidor en la nube es MX de respaldo de:\nbackup_for: [{DOMAIN}]\n")
    primary_port = free_port()
    with RunningServer(cloud_config(tmp_path, zone, primary_port, setting)) as cloud:
        send(cloud)
        deferred = wait_for(lambda: [e for e in events(cloud.config, "delivery") if e["status"] == "deferred"])
        # It went for the primary (the better MX), never for itself.
        assert deferred[0]["reply"].startswith(f"451 4.4.1 connect to mail.{DOMAIN}[127.0.0.1]:{primary_port}: Connection refused")
        assert [c["hosts"] for c in events(cloud.config, "relay_connect")][0] == ["127.0.0.1"]
        with RunningServer(primary_config(tmp_path, primary_port)) as primary:
            returned = time.monotonic()
            [path] = wait_for(lambda: maildir_files(primary.config, "alumno", DOMAIN), timeout=10)
            delay = time.monotonic() - returned
        relayed = [e for e in events(cloud.config, "delivery") if e["status"] == "relayed"]
    assert len(relayed) == 1 and relayed[0]["reply"].startswith("250 2.0.0 Ok: queued as")
    text = path.read_text()
    assert f"by {CLOUD} (Postfix) with ESMTP" in text and "Subject: via backup" in text
    print(f"forwarded {delay:.2f} s after the primary returned (retry interval {RETRY} s)")
    assert delay < RETRY + 5  # within its retry interval, plus a queue run's own time


def test_a_backup_named_in_the_domains_own_zone_knows_itself_by_address(tmp_path, dns_stub):
    """The student's zone may name the cloud server with a name of its own (respaldo.<domain>
    A <the cloud's address>), which b and m accept: the cloud is then in the MX list by an
    address, not by its host name. As Postfix, it knows its own address: it queues the mail
    for the better MX instead of relaying to itself (each hop a new queue entry, in a loop)."""
    port = free_port()  # both listen on it, at two loopback addresses, as two lab hosts on port 25
    dns_stub.set(DOMAIN, "MX", [f"10 mail.{DOMAIN}.", f"20 respaldo.{DOMAIN}."])
    dns_stub.set(f"mail.{DOMAIN}", "A", ["127.0.0.2"])
    dns_stub.set(f"respaldo.{DOMAIN}", "A", ["127.0.0.1"])
    setting = tmp_path / "respaldo-mx.yaml"
    setting.write_text(f"backup_for: [{DOMAIN}]\n")
    config = replace(cloud_config(tmp_path, dns_stub, port, setting), listeners=[Listener("smtp", "127.0.0.1", port, "mta")])
    with RunningServer(config) as cloud:
        send(cloud)
        deferred = wait_for(lambda: [e for e in events(cloud.config, "delivery") if e["status"] == "deferred"])
        assert deferred[0]["reply"].startswith(f"451 4.4.1 connect to mail.{DOMAIN}[127.0.0.2]:{port}: Connection refused")
        assert [c["hosts"] for c in events(cloud.config, "relay_connect")][0] == ["127.0.0.2"]
        primary = replace(primary_config(tmp_path, port), listeners=[Listener("smtp", "127.0.0.2", port, "mta")])
        with RunningServer(primary):
            [path] = wait_for(lambda: maildir_files(primary, "alumno", DOMAIN), timeout=10)
        relayed = [e for e in events(cloud.config, "delivery") if e["status"] == "relayed"]
    assert len(relayed) == 1 and len(events(cloud.config, "queued")) == 1
    assert f"by {CLOUD} (Postfix) with ESMTP" in path.read_text()


def test_only_the_domains_of_the_setting_file_and_it_is_reread_when_it_changes(tmp_path, zone):
    setting = tmp_path / "respaldo-mx.yaml"
    setting.write_text("backup_for: []\n")
    with RunningServer(cloud_config(tmp_path, zone, free_port(), setting)) as cloud:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            send(cloud)
        assert refused.value.recipients[USER] == (454, f"4.7.1 <{USER}>: Relay access denied".encode())
        setting.write_text(f"backup_for:\n  - {DOMAIN.upper()}.\n")
        send(cloud)
        # A broken edit keeps the last good setting, and says why in the log.
        setting.write_text("backup_for: [no es un dominio]\n")
        send(cloud)
        [error] = wait_for(lambda: events(cloud.config, "config_error"))  # logged after the reply
        assert error["kept"] == [DOMAIN] and "backup_for[0]: expected a domain name" in error["error"]
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            send(cloud, to="alguien@otro.example")


def test_a_domain_whose_best_mx_is_ourselves_bounces_as_a_loop(tmp_path, dns_stub):
    dns_stub.set(DOMAIN, "MX", [f"20 {CLOUD}."])
    dns_stub.set(CLOUD, "A", ["127.0.0.1"])
    setting = tmp_path / "respaldo-mx.yaml"
    setting.write_text(f"backup_for: [{DOMAIN}]\n")
    with RunningServer(cloud_config(tmp_path, dns_stub, free_port(), setting)) as cloud:
        send(cloud)
        [failed] = wait_for(lambda: [e for e in events(cloud.config, "delivery")
                                     if e["status"] == "failed" and e["recipient"] == USER])
    assert failed["reply"] == f"554 5.4.6 mail for {DOMAIN} loops back to myself"


@pytest.mark.parametrize("text, message", [
    ("backup_for: redes2024.com.ar\n", "backup_for: expected a list of domains, got 'redes2024.com.ar'"),
    ("respaldo: [a.com.ar]\n", "respaldo: unknown field (only backup_for)"),
    ("backup_for: [a.com.ar, 7]\n", "backup_for[1]: expected a domain name like redes2024.com.ar, got 7"),
    ("backup_for: [a.com.ar\n", "invalid YAML: while parsing a flow sequence"),
    ("- a.com.ar\n", "expected a mapping with the field backup_for, got ['a.com.ar']"),
])
def test_setting_file_errors_are_one_line_naming_file_and_field(tmp_path, text, message):
    path = tmp_path / "respaldo-mx.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_backup_setting(path)
    assert str(error.value) == f"{path}: {message}"
    assert "\n" not in str(error.value)


def test_an_empty_setting_is_no_domains(tmp_path):
    path = tmp_path / "respaldo-mx.yaml"
    path.write_text("# sin dominios todavía\n")
    assert load_backup_setting(path).backup_for == ()
