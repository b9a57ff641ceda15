"""The delivery worker survives its own bugs and a relay peer that resets: nothing is lost."""
from __future__ import annotations

import json
import smtplib

from labctl.mailserver import maildir, relay
from labctl.mailserver.config import Retry
from labctl.mailserver.relay import Exchanger, Parcel, send_batch
from labctl.mailserver.spool import QueuedMessage, Recipient

from .conftest import POP, RunningServer, make_config, maildir_files, raw_session, wait_for


def events(config, kind):
    with open(config.log_file) as handle:
        return [e for e in map(json.loads, handle) if e["event"] == kind]


def test_unexpected_error_in_local_delivery_is_logged_and_retried(tmp_path, monkeypatch):
    real_deliver = maildir.deliver
    calls = []

    def arrival_failing(*args):
        raise RuntimeError("bug in local delivery")

    def deliver_failing_once(*args):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("bug in local delivery")
        return real_deliver(*args)

    # A bug in the delivery on arrival, then in the queue's first attempt.
    monkeypatch.setattr(maildir, "deliver_fresh", arrival_failing)  # a lone client's, on the loop
    monkeypatch.setattr(maildir, "stage", arrival_failing)  # staged for the commit helper
    monkeypatch.setattr(maildir, "deliver", deliver_failing_once)
    config = make_config(tmp_path, retry=Retry(initial=0.2, max_interval=1, give_up_after=60))
    with RunningServer(config) as server:
        with raw_session(server.smtp_port) as client:
            client.command("MAIL FROM:<sender@elsewhere.example>")
            assert client.command(f"RCPT TO:<{POP}>") == "250 2.1.5 Ok"
            client.command("DATA")
            assert client.command("Subject: retried\r\n\r\nbody\r\n.").startswith("250 2.0.0 Ok: queued as ")
        [path] = wait_for(lambda: maildir_files(config, "alumnopop"))
        wait_for(lambda: not server.service.worker.messages)
        assert not server.service.worker._in_flight
    assert "Subject: retried" in path.read_text()
    assert [e["where"] for e in events(config, "internal_error")] == ["maildir", "maildir"]
    assert all("bug in local delivery" in e["error"] for e in events(config, "internal_error"))
    attempts = [(e["status"], e["reply"].split(" internal")[0], e["attempt"]) for e in events(config, "delivery")]
    assert attempts == [("deferred", "451 4.3.0", 1), ("delivered", "250 2.0.0 delivered to maildir", 2)]
    assert not list((tmp_path / "mail").rglob("tmp/*")), "a failed write left a file behind"


class _ResetAfterEhlo:
    """An smtplib.SMTP whose peer resets right after EHLO: every later socket call fails."""

    def __init__(self, host, port, local_hostname, timeout):
        self.sock = self
        self.closed = False

    def ehlo(self):
        return 250, b"ok"

    def settimeout(self, seconds):
        pass

    def getpeername(self):
        raise OSError(107, "Transport endpoint is not connected")

    def has_extn(self, name):
        return False

    def mail(self, *args):
        raise smtplib.SMTPServerDisconnected("Connection reset by peer")

    def close(self):
        self.closed = True


def test_relay_peer_reset_after_ehlo_defers_instead_of_raising(monkeypatch):
    monkeypatch.setattr(relay, "MtaClient", _ResetAfterEhlo)
    recipients = [Recipient("a@remote.example"), Recipient("b@remote.example")]
    message = QueuedMessage(queue_id="Q1", mail_from=POP, recipients=recipients, arrival=0, size=1)
    outcomes = send_batch([Exchanger("mx.remote.example", "192.0.2.1")], 25, "mail.example",
                          [Parcel(message, recipients, lambda: b"x\r\n")], 5, 5)
    assert [outcomes[id(r)].text for r in recipients] == [
        "451 4.4.2 lost connection with mx.remote.example[192.0.2.1]: Connection reset by peer"] * 2
    assert {outcomes[id(r)].remote_mta for r in recipients} == {"mx.remote.example"}



def test_a_local_delivery_logs_who_handed_it_over_and_what_it_says(tmp_path):
    """The log is evidence that outlives the Maildir (POP3 RETR + DELE empties it)."""
    config = make_config(tmp_path)
    nested = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(1000))
    with RunningServer(config) as server:
        with raw_session(server.smtp_port) as client:
            for subject, rest in (("foto", "Message-ID: <1@cliente>\r\n\r\nhola\r\n"), ("hostil", nested)):
                client.command("MAIL FROM:<alumnoimap@redes.unlp.edu.ar>")
                client.command(f"RCPT TO:<{POP}>")
                client.command("DATA")
                reply = client.command(f"From: alumnoimap@redes.unlp.edu.ar\r\nSubject: {subject}\r\n{rest}.")
                assert reply.startswith("250 2.0.0 Ok: queued as ")
        wait_for(lambda: len(maildir_files(config, "alumnopop")) == 2)
        wait_for(lambda: len(events(config, "delivery")) == 2)
    # Two delivery tasks may finish in either order.
    hostile, readable = sorted(events(config, "delivery"), key=lambda e: "subject" in e["summary"])
    assert (readable["client_ip"], readable["auth_user"]) == ("127.0.0.1", "")
    assert readable["summary"]["subject"] == "foto" and readable["summary"]["message_id"] == "<1@cliente>"
    assert readable["summary"]["senders"] == ["alumnoimap@redes.unlp.edu.ar"]
    assert hostile["status"] == "delivered" and "more than 100 nested" in hostile["summary"]["unreadable"]
