"""Our MTA and Debian's Postfix 3.7 (bench/postfix) as peers, as in exercises 7, 9 and 10 l): each
relays to the other, the recipients of one domain travel in one connection, a recipient the peer
refuses comes back to the sender as a bounce in the peer's words, and mail the peer cannot take
yet waits in the queue and arrives once it answers again.

Postfix reaches our in-process server at the gateway of a network this test creates; our
server reaches Postfix through the 127.0.0.1 port its container publishes, found by MX.
"""
from __future__ import annotations

import re
import smtplib

import pytest

from labctl.mailserver.config import Account, Listener, Retry

from .conftest import RunningServer, make_config, maildir_files, postfix_container, read_log, wait_for
from .test_durability import free_port

pytestmark = pytest.mark.docker

POSTFIX_DOMAIN = "redes.unlp.edu.ar"  # the bench image's local domain; users alumnoimap, alumnopop
OURS = "otro.unlp.edu.ar"
SUBNET, GATEWAY = "10.247.93.0/24", "10.247.93.1"  # no lab or class pool uses it
UNKNOWN = "Recipient address rejected: User unknown in local recipient table"


def our_config(tmp_path, **overrides):
    return make_config(tmp_path, hostname=f"mail.{OURS}", banner=f"mail.{OURS} ESMTP Postfix (Debian/GNU)",
                       local_domains=[OURS], accounts=[Account(f"ana@{OURS}", "ana", "anapass"),
                                                       Account(f"luis@{OURS}", "luis", "luispass")],
                       retry=Retry(initial=0.5, max_interval=1, give_up_after=600), **overrides)


def postfix_mail(container, user: str) -> list[str]:
    """The messages in a Maildir of the Postfix container, oldest first."""
    code, out = container.exec_run(["sh", "-c", f"ls -tr /home/{user}/Maildir/new/ 2>/dev/null"])
    names = out.decode().split()
    return [container.exec_run(["cat", f"/home/{user}/Maildir/new/{name}"]).output.decode() for name in names]


def postfix_queue(container) -> str:
    return container.exec_run(["postqueue", "-p"]).output.decode()


def test_our_mta_relays_to_postfix_found_by_mx(engine, test_label, tmp_path, dns_stub):
    # Postfix first answers every recipient 450 (a server that cannot take mail now), then takes them.
    setup = ("useradd -m alumnopop && postconf -e 'mynetworks = 127.0.0.0/8' "
             "'smtpd_recipient_restrictions = defer'")
    with postfix_container(engine, {test_label: "postfix-peer"}, setup) as (postfix, port):
        dns_stub.set(POSTFIX_DOMAIN, "MX", [f"5 mail.{POSTFIX_DOMAIN}."])
        dns_stub.set(f"mail.{POSTFIX_DOMAIN}", "A", ["127.0.0.1"])
        config = our_config(tmp_path, resolver_port=dns_stub.port, relay_port=port)
        with RunningServer(config) as ours:
            client = smtplib.SMTP("127.0.0.1", ours.submission_port)
            client.login("ana", "anapass")
            recipients = [f"alumnoimap@{POSTFIX_DOMAIN}", f"alumnopop@{POSTFIX_DOMAIN}", f"nadie@{POSTFIX_DOMAIN}"]
            client.sendmail(f"ana@{OURS}", recipients, b"Subject: a Postfix\r\n\r\nhola\r\n")
            client.quit()
            deliveries = lambda: [e for e in read_log(config) if e["event"] == "delivery"]  # noqa: E731
            wait_for(lambda: len(deliveries()) >= 3, timeout=30)
            assert [e["status"] for e in deliveries()[:3]] == ["deferred"] * 3
            assert [e["reply"] for e in deliveries()[:3]] == [
                f"450 4.3.2 <{r}>: Recipient address rejected: Try again later" for r in recipients]
            postfix.exec_run(["sh", "-c", "postconf -e 'smtpd_recipient_restrictions =' && postfix reload"])
            [imap] = wait_for(lambda: postfix_mail(postfix, "alumnoimap"), timeout=60)
            [pop] = wait_for(lambda: postfix_mail(postfix, "alumnopop"), timeout=30)
            [bounce] = wait_for(lambda: maildir_files(config, "ana", OURS), timeout=30)
            wait_for(lambda: not ours.service.worker.messages)
        relayed = [e for e in deliveries() if e["status"] == "relayed"]
        assert sorted(e["recipient"] for e in relayed) == recipients[:2]
        # Every attempt carried the three recipients in one connection, as an MTA does for one domain.
        connects = [e for e in read_log(config) if e["event"] == "relay_connect"]
        assert len(connects) == len({e["attempt"] for e in deliveries()}) and all(len(e["queue_ids"]) == 1 for e in connects)
    for text in (imap, pop):
        assert f"Return-Path: <ana@{OURS}>" in text and "Subject: a Postfix" in text
        assert f"Received: from mail.{OURS} (" in text  # Postfix names our HELO
    bounce_text = bounce.read_text()
    assert "Subject: Undelivered Mail Returned to Sender" in bounce_text
    assert (f"Final-Recipient: rfc822; nadie@{POSTFIX_DOMAIN}\nOriginal-Recipient: rfc822;nadie@{POSTFIX_DOMAIN}\n"
            "Action: failed\nStatus: 5.1.1\n"
            f"Remote-MTA: dns; mail.{POSTFIX_DOMAIN}\nDiagnostic-Code: smtp; 550 5.1.1 <nadie@{POSTFIX_DOMAIN}>: {UNKNOWN}") in bounce_text


@pytest.fixture
def peer_network(engine, test_label):
    import docker.types

    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=SUBNET, gateway=GATEWAY)])
    network = engine.networks.create("labctl-test-postfix-peer", driver="bridge", ipam=ipam,
                                     labels={test_label: "postfix-peer"})
    try:
        yield network
    finally:
        network.remove()


def test_postfix_relays_to_our_mta(engine, test_label, tmp_path, peer_network):
    port = free_port()  # nobody listens there yet: Postfix must queue the mail and retry
    setup = f"postconf -e 'mynetworks = 127.0.0.0/8' 'relayhost = [{GATEWAY}]:{port}'"
    with postfix_container(engine, {test_label: "postfix-peer"}, setup, network=peer_network.name) as (postfix, _):
        recipients = [f"ana@{OURS}", f"luis@{OURS}", f"nadie@{OURS}"]
        sent = postfix.exec_run(["sh", "-c", f"printf 'Subject: desde Postfix\\n\\nhola\\n' | "
                                             f"sendmail -f alumnoimap@{POSTFIX_DOMAIN} {' '.join(recipients)}"])
        assert sent.exit_code == 0, sent.output
        wait_for(lambda: "Connection refused" in postfix_queue(postfix), timeout=30)
        config = our_config(tmp_path, listeners=[Listener("smtp", GATEWAY, port, "mta")])
        with RunningServer(config):
            postfix.exec_run(["postqueue", "-f"])
            [ana] = wait_for(lambda: maildir_files(config, "ana", OURS), timeout=60)
            [luis] = wait_for(lambda: maildir_files(config, "luis", OURS))
            [bounce] = wait_for(lambda: postfix_mail(postfix, "alumnoimap"), timeout=30)
        log = read_log(config)
    [connect] = [e for e in log if e["event"] == "connect"]  # the three recipients in one connection
    assert connect["peer"][0] != GATEWAY
    [queued] = [e for e in log if e["event"] == "queued"]
    assert queued["recipients"] == recipients[:2]
    for path, user in ((ana, "ana"), (luis, "luis")):
        text = path.read_text()
        assert text.startswith(f"Return-Path: <alumnoimap@{POSTFIX_DOMAIN}>\nX-Original-To: {user}@{OURS}\n")
        assert f"Received: from mail.{POSTFIX_DOMAIN} (unknown [{connect['peer'][0]}])" in text
        assert "Subject: desde Postfix" in text
    # Postfix's bounce quotes our refusal, as it would quote its own kind.
    assert "Subject: Undelivered Mail Returned to Sender" in bounce
    assert f"550 5.1.1 <nadie@{OURS}>: {UNKNOWN}" in " ".join(bounce.split())


def notice_outline(text: str) -> dict:
    """What a reader of a bounce sees, apart from names, ids and dates: the header fields the
    notice is made of (in order) and their values where the two servers must agree, the
    explanation above the recipients, the parts' descriptions and the delivery-status fields."""
    head, _, body = text.partition("\n\n")
    fields = [line.split(":", 1) for line in head.split("\n") if line and not line[0].isspace()]
    values = {name: value.strip() for name, value in fields}
    notification = body.split("Content-Type: text/plain; charset=us-ascii\n\n", 1)[1]
    status = body.split("Content-Type: message/delivery-status\n\n", 1)[1].split("\n--", 1)[0]
    return {
        # The notice's own Received: too ("by <host> (Postfix) id ..."); the delivery's fields differ by recipient.
        "fields": [name for name, _ in fields if name not in ("Return-Path", "X-Original-To", "Delivered-To")],
        "received": re.sub(r"by \S+ ", "by <host> ", values["Received"]),  # its first line
        "from": values["From"].split("<")[0].strip(),
        "subject": values["Subject"],
        "auto-submitted": values["Auto-Submitted"],
        "explanation": re.sub(r"at host \S+", "at host <host>", notification.split("\n<", 1)[0]),
        "descriptions": [line for line in body.split("\n") if line.startswith("Content-Description: ")],
        # Postfix names itself in X-Postfix-* fields, and we in X-Labctl-*.
        "status fields": [line.split(":")[0] for line in status.split("\n") if ":" in line and not line.startswith("X-")],
        # The returned message as it was queued, with its Return-Path: first.
        "returned": body.split("Content-Type: message/rfc822\n\n", 1)[1].split(":", 1)[0],
    }


def test_our_bounce_reads_as_postfix_bounce(engine, test_label, tmp_path, dns_stub):
    """Exercise 10 g): webmail mail that the provider refuses for SPF comes back to the student as a
    bounce; from the course's Postfix it reads one way, and from ours it must read the same."""
    # The course's server offers no SMTPUTF8 (COURSE.md), so its notices are us-ascii.
    setup = "postconf -e 'mynetworks = 127.0.0.0/8' 'smtputf8_enable = no' 'default_transport = error:refused'"
    with postfix_container(engine, {test_label: "postfix-peer"}, setup) as (postfix, _):
        sent = postfix.exec_run(["sh", "-c", f"printf 'Subject: rebota\\n\\nhola\\n' | "
                                             f"sendmail -f alumnoimap@{POSTFIX_DOMAIN} x@elsewhere.example"])
        assert sent.exit_code == 0, sent.output
        [theirs] = wait_for(lambda: postfix_mail(postfix, "alumnoimap"), timeout=30)
    dns_stub.set("elsewhere.example", "MX", ["0 ."])  # refused at once: RFC 7505 null MX
    config = our_config(tmp_path, resolver_port=dns_stub.port)
    with RunningServer(config) as ours:
        client = smtplib.SMTP("127.0.0.1", ours.submission_port)
        client.login("ana", "anapass")
        client.sendmail(f"ana@{OURS}", ["x@elsewhere.example"], b"Subject: rebota\r\n\r\nhola\r\n")
        client.quit()
        [bounce] = wait_for(lambda: maildir_files(config, "ana", OURS), timeout=30)
    assert notice_outline(bounce.read_text()) == notice_outline(theirs)
