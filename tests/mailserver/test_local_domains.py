"""Several local domains: an account belongs to one domain, not to every local domain."""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from labctl.mailserver.config import Account
from labctl.mailserver.spool import QueuedMessage, Recipient, Spool

from .conftest import DOMAIN, RunningServer, make_config, maildir_files, raw_session, wait_for

OTHER = "otra.unlp.edu.ar"


@pytest.fixture
def two_domains(tmp_path):
    return make_config(tmp_path, local_domains=[DOMAIN, OTHER], accounts=[
        Account(f"ana@{DOMAIN}", "ana", "p1"),
        Account(f"luis@{OTHER}", "luis", "p2"),
        Account(f"pepe@{DOMAIN}", "pepe", "p3"),  # listed first: a lookup by local part alone finds it
        Account(f"Pepe@{OTHER}", "pepe.otra", "p4"),
    ])


def test_every_local_domain_takes_postmaster_into_a_mailbox_nobody_logs_in_to(two_domains):
    """RFC 5321 4.5.1, and Debian's Postfix (postmaster: root): in any case, for each domain."""
    with RunningServer(two_domains) as server:
        with raw_session(server.smtp_port) as client:
            assert client.command("MAIL FROM:<x@elsewhere.example>") == "250 2.1.0 Ok"
            assert client.command("RCPT TO:<Postmaster>") == "250 2.1.5 Ok"
            assert client.command(f"RCPT TO:<POSTMASTER@{OTHER}>") == "250 2.1.5 Ok"
            assert client.command("DATA").startswith("354 ")
            assert client.command("Subject: al postmaster\r\n\r\nx\r\n.").startswith("250 2.0.0 Ok: queued as ")
        wait_for(lambda: maildir_files(server.config, "postmaster") and maildir_files(server.config, "postmaster", OTHER))
        with raw_session(server.submission_port) as client:
            for login in ("postmaster", f"postmaster@{DOMAIN}"):
                token = base64.b64encode(f"\0{login}\0".encode()).decode()
                assert client.command(f"AUTH PLAIN {token}").startswith("535 5.7.8 ")


def test_rcpt_and_vrfy_check_the_account_in_the_address_domain(two_domains):
    unknown = "550 5.1.1 <{}>: Recipient address rejected: User unknown in local recipient table"
    with RunningServer(two_domains) as server, raw_session(server.smtp_port) as client:
        assert client.command("MAIL FROM:<x@elsewhere.example>") == "250 2.1.0 Ok"
        assert client.command(f"RCPT TO:<ana@{OTHER}>") == unknown.format(f"ana@{OTHER}")
        assert client.command(f"RCPT TO:<luis@{DOMAIN}>") == unknown.format(f"luis@{DOMAIN}")
        assert client.command(f"RCPT TO:<ana@{DOMAIN}>") == "250 2.1.5 Ok"
        assert client.command(f"RCPT TO:<LUIS@{OTHER.upper()}>") == "250 2.1.5 Ok"
        assert client.command(f"VRFY ana@{OTHER}") == unknown.format(f"ana@{OTHER}")
        assert client.command(f"VRFY luis@{OTHER}") == f"252 2.0.0 luis@{OTHER}"  # as typed, as Postfix


def test_same_local_part_in_two_domains_goes_to_each_domains_account(two_domains):
    with RunningServer(two_domains) as server, raw_session(server.smtp_port) as client:
        client.command("MAIL FROM:<x@elsewhere.example>")
        assert client.command(f"RCPT TO:<pepe@{OTHER}>") == "250 2.1.5 Ok"
        client.command("DATA")
        assert client.command("Subject: para pepe de otra\r\n\r\nx\r\n.").startswith("250 ")
        [path] = wait_for(lambda: maildir_files(two_domains, "pepe.otra", OTHER))
    assert f"Delivered-To: pepe@{OTHER}\n" in path.read_text()  # as the client wrote it, as Postfix's local(8)
    assert maildir_files(two_domains, "pepe", DOMAIN) == []


def test_queued_mail_for_an_account_of_another_domain_is_not_delivered_there(two_domains):
    # Queued before a restart with a config where ana@OTHER no longer exists.
    message = QueuedMessage(queue_id="0123456789", mail_from="", recipients=[Recipient(f"ana@{OTHER}")],
                            arrival=time.time(), size=3, is_dsn=True)
    Spool(two_domains.spool_dir).store(message, b"x\r\n")
    with RunningServer(two_domains):
        wait_for(lambda: not list(Path(two_domains.spool_dir).glob("*.msg")))
    assert maildir_files(two_domains, "ana", DOMAIN) == []
    with open(two_domains.log_file) as handle:
        [delivery] = [e for e in map(json.loads, handle) if e["event"] == "delivery"]
    assert (delivery["status"], delivery["reply"]) == ("failed", "550 5.1.1 User unknown in local recipient table")
