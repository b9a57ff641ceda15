"""The mail server in containers: two lab domains, each with its MTA and MX
records; MUA → MSA → MX lookup → MTA → Maildir → IMAP, STARTTLS with the lab CA,
and the queue/log CLI."""
from __future__ import annotations

import email.message
import imaplib
import json
import smtplib
import ssl
import time
import uuid
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from labctl.cli import app
from labctl.mailserver import journal
from labctl.paths import tls_dir
from labctl.runtime import project
from labctl.spec.loader import load_lab

INSTANCE = "twodomains"
NET = "172.31.215"
SOA = {"mname": "ns.uno.test.", "rname": "root.uno.test.", "serial": 1, "refresh": 60, "retry": 60, "expire": 600, "negative": 60}


def _zone(mail_ip: str) -> dict:
    return {
        "ttl": 300,
        "soa": SOA,
        "records": [
            {"name": "@", "type": "NS", "value": "ns.uno.test."},
            {"name": "@", "type": "MX", "priority": 10, "value": "mail"},
            {"name": "mail", "type": "A", "value": mail_ip},
            {"name": "ns", "type": "A", "value": f"{NET}.10"},
        ],
    }


@pytest.fixture(scope="module")
def two_domains(engine, tmp_path_factory):
    lab = {
        "name": INSTANCE,
        "title": "two mail domains",
        "network": {"name": "net", "subnet": f"{NET}.0/24", "gateway": f"{NET}.1"},
        "resolver": "dns",
        "services": {
            "dns": {"role": "dns", "ip": f"{NET}.10", "hostname": "ns.uno.test", "zones": ["uno.test", "dos.test"], "recursion": True},
            "mail-uno": {"role": "mail", "ip": f"{NET}.20", "hostname": "mail.uno.test", "mail_domains": ["uno.test"]},
            "mail-dos": {"role": "mail", "ip": f"{NET}.30", "hostname": "mail.dos.test", "mail_domains": ["dos.test"]},
        },
        "zones": {"uno.test": _zone(f"{NET}.20"), "dos.test": _zone(f"{NET}.30")},
        "mail_domains": {
            "uno.test": {"accounts": [{"user": "ana", "password": "anapass"}]},
            "dos.test": {"accounts": [{"user": "beto", "password": "betopass"}, {"user": "carla", "password": "carlapass"}]},
        },
    }
    path = tmp_path_factory.mktemp("lab") / "lab.yaml"
    path.write_text(yaml.safe_dump(lab), encoding="utf-8")
    spec = load_lab(path)
    project.down(engine, INSTANCE)
    project.up(engine, spec, INSTANCE)
    yield spec
    project.down(engine, INSTANCE)


def _message(sender: str, rcpt: str, subject: str) -> email.message.EmailMessage:
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, rcpt, subject
    msg.set_content("entre dominios")
    return msg


def _imap_subjects(ip: str, user: str, password: str, deadline: float = 20.0) -> callable:
    def subjects() -> list[str]:
        with imaplib.IMAP4(ip, 143) as imap:
            imap.login(user, password)
            imap.select("INBOX")
            _, data = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])") if imap.select("INBOX")[1][0] != b"0" else (None, [])
            return [part[1].decode().strip() for part in data if isinstance(part, tuple)]

    return subjects


def _wait_for(predicate, deadline: float = 20.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    return predicate()


def test_mua_msa_mx_mta_maildir_imap(two_domains):
    subject = f"Subject: cruzado {uuid.uuid4().hex[:8]}"
    with smtplib.SMTP(f"{NET}.20", 587, timeout=10) as msa:
        msa.login("ana", "anapass")
        msa.send_message(_message("ana@uno.test", "beto@dos.test", subject.removeprefix("Subject: ")))
    subjects = _imap_subjects(f"{NET}.30", "beto", "betopass")
    assert _wait_for(lambda: subject in subjects()), "the message never reached beto@dos.test over IMAP"


def test_imap_lists_the_special_use_folders_as_debians_dovecot(two_domains):
    """RFC 6154 flags on the folders Debian's 15-mailboxes.conf names, once they exist; others have none."""
    with imaplib.IMAP4(f"{NET}.30", 143) as imap:
        imap.login("carla", "carlapass")
        assert b"SPECIAL-USE" in imap.capability()[1][0]
        for folder in ("Sent", "Trash", "Drafts", "Junk", "Recibidos"):
            imap.create(folder)
        listed = {line.rsplit(b" ", 1)[1].strip(b'"').decode(): line for line in imap.list()[1]}
        # Debian's default hierarchy separator for Maildir, ".": Thunderbird's IMAP under the Inbox is INBOX.IMAP.
        assert all(b') "." ' in line for line in listed.values()), listed
        assert imap.create("INBOX.IMAP")[0] == "OK" and imap.create("INBOX/IMAP")[0] == "NO"
        assert b"\\Sent" in listed["Sent"] and b"\\Trash" in listed["Trash"]
        assert b"\\Drafts" in listed["Drafts"] and b"\\Junk" in listed["Junk"]
        assert b"\\Sent" not in listed["Recibidos"] and b"\\Sent" not in listed["INBOX"]


def test_port_25_refuses_relay_to_the_other_domain(two_domains):
    with smtplib.SMTP(f"{NET}.20", 25, timeout=10) as mta:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            mta.send_message(_message("ana@uno.test", "beto@dos.test", "relay"))
    code, text = refused.value.recipients["beto@dos.test"]
    assert code == 454 and b"4.7.1" in text and b"Relay access denied" in text


def test_the_mail_servers_own_address_literal_is_local(two_domains):
    """As Postfix with inet_interfaces = all: ana@[uno's own address] is ana; the literal of
    the other domain's server is relaying, refused."""
    with smtplib.SMTP(f"{NET}.20", 25, timeout=10) as mta:
        mta.ehlo("pc")
        assert mta.mail("beto@dos.test")[0] == 250
        assert mta.rcpt(f"ana@[{NET}.20]") == (250, b"2.1.5 Ok")
        assert mta.rcpt(f"beto@[{NET}.30]")[0] == 454


def test_recipients_of_one_domain_share_one_mta_connection(two_domains):
    tag = uuid.uuid4().hex[:8]
    with smtplib.SMTP(f"{NET}.20", 587, timeout=10) as msa:
        msa.login("ana", "anapass")
        msa.send_message(_message("ana@uno.test", "beto@dos.test", f"dos destinatarios {tag}"), to_addrs=["beto@dos.test", "carla@dos.test"])
    for user in ("beto", "carla"):
        subjects = _imap_subjects(f"{NET}.30", user, f"{user}pass")
        assert _wait_for(lambda: any(tag in s for s in subjects())), f"{user} never got the message"
    result = CliRunner().invoke(app, ["mail", "log", "--json", "--lab", INSTANCE, "--service", "mail-dos"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    rcpts: dict[str, list[str]] = {}
    for e in events:
        if e.get("event") == "command" and e.get("line", "").lower().startswith("rcpt to:"):
            rcpts.setdefault(e["session"], []).append(e["line"].lower())
    assert any(len(lines) == 2 and any("carla" in line for line in lines) for lines in rcpts.values()), rcpts


def test_starttls_with_the_lab_ca(two_domains):
    ca = tls_dir(INSTANCE) / "ca.pem"
    context = ssl.create_default_context(cafile=str(ca))
    with smtplib.SMTP(f"{NET}.20", 587, timeout=10) as msa:
        msa._host = "mail.uno.test"  # verify the certificate against the lab hostname
        msa.starttls(context=context)
        assert msa.sock.getpeercert()["subject"] == ((("commonName", "mail.uno.test"),),)
        msa.login("ana", "anapass")


def test_queue_cli_shows_an_empty_queue_after_delivery(two_domains):
    result = CliRunner().invoke(app, ["mail", "queue", "--json", "--lab", INSTANCE, "--service", "mail-uno"])
    assert result.exit_code == 0, result.output
    pending = [m for m in json.loads(result.output) if any(r["status"] not in ("delivered",) for r in m["recipients"])]
    assert pending == [] or all(r["status"] == "deferred" for m in pending for r in m["recipients"])


def _subject_count(ip: str, user: str, password: str, subject: str) -> int | None:
    """How many messages in the INBOX carry `subject`; None while IMAP does not answer yet."""
    try:
        return sum(found == f"Subject: {subject}" for found in _imap_subjects(ip, user, password)())
    except (OSError, imaplib.IMAP4.error):
        return None


def _killed_and_started_again(engine, service: str) -> None:
    """`docker kill` (SIGKILL, nothing flushed or closed), then the container starts again."""
    container = engine.containers.get(f"{INSTANCE}-{service}")
    container.kill()
    container.wait(timeout=30)
    container.start()


def test_mail_accepted_with_250_survives_docker_kill_at_once(two_domains, engine):
    """Killed the moment the 250 arrives: the local message is in carla's Maildir once after the
    restart, and the one queued for the other domain (relayed by mail-uno) arrives too."""
    tag = uuid.uuid4().hex[:8]
    with smtplib.SMTP(f"{NET}.30", 25, timeout=10) as mta:
        mta.send_message(_message("ana@uno.test", "carla@dos.test", f"local {tag}"))
        _killed_and_started_again(engine, "mail-dos")
    with smtplib.SMTP(f"{NET}.20", 587, timeout=10) as msa:
        msa.login("ana", "anapass")
        msa.send_message(_message("ana@uno.test", "beto@dos.test", f"queued {tag}"))
        _killed_and_started_again(engine, "mail-uno")
    assert _wait_for(lambda: _subject_count(f"{NET}.30", "carla", "carlapass", f"local {tag}"), 30) == 1
    assert _wait_for(lambda: _subject_count(f"{NET}.30", "beto", "betopass", f"queued {tag}"), 60), \
        "the queued message never reached beto@dos.test"


def test_the_mail_volume_takes_the_one_flush_path_where_the_host_would(two_domains, engine):
    """The MTA inside the container tells its volume's filesystem as the host does (statfs, /proc/fs,
    /sys/dev/block): on ext4 (with or without a journal) and XFS a message is one flush, not two."""
    container = engine.containers.get(f"{INSTANCE}-mail-dos")
    [source] = [m["Source"] for m in container.attrs["Mounts"] if m["Destination"] == "/var/lib/labctl-mail"]
    code, output = container.exec_run(
        ["python3", "-c", "import sys; from pathlib import Path; from labctl.mailserver.journal import names_follow_file;"
                          "print(*(names_follow_file(Path(p)) for p in sys.argv[1:]))",
         "/var/lib/labctl-mail/spool", "/var/lib/labctl-mail/maildirs"], user="vmail")
    assert code == 0, output
    inside = output.decode().split()
    host = journal.names_follow_file(Path(source) / "spool")
    assert inside == [str(host)] * 2
    assert host or journal.filesystem_type(Path(source)) not in (journal.EXT4_SUPER_MAGIC, journal.XFS_SUPER_MAGIC)
