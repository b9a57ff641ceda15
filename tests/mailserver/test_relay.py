"""MSA -> MX lookup -> remote MTA -> Maildir, with two servers and a DNS stub on loopback."""
from __future__ import annotations

import base64
import json
import smtplib
import socket
import threading
from dataclasses import replace

import pytest

from labctl.mailserver.config import Account, Listener, Retry
from labctl.mailserver.relay import DestinationError, Exchanger, _connect

from .conftest import POP, RunningServer, make_config, maildir_files, raw_session, wait_for

SINK = "sink.example"

REMOTE = "remote.example"


def events(config, kind):
    with open(config.log_file) as handle:
        return [e for e in map(json.loads, handle) if e["event"] == kind]


@pytest.fixture
def remote_mta(tmp_path, dns_stub):
    """The MX of remote.example: another instance of our server, MTA listener only."""
    dns_stub.set(REMOTE, "MX", ["20 backup.remote.example.", "10 mx.remote.example."])
    dns_stub.set("mx.remote.example", "A", ["127.0.0.1"])
    dns_stub.set("backup.remote.example", "A", ["127.0.0.2"])  # never used: the lower preference answers
    config = make_config(tmp_path / "remote", hostname=f"mx.{REMOTE}", local_domains=[REMOTE],
                         accounts=[Account(f"user@{REMOTE}", "user", "pw"), Account(f"other@{REMOTE}", "other", "pw")],
                         listeners=[Listener("smtp", "127.0.0.1", 0, "mta")])
    with RunningServer(config) as server:
        yield server


def sending_server(tmp_path, dns_stub, remote_mta, **overrides):
    config = make_config(tmp_path / "local", resolver_port=dns_stub.port, relay_port=remote_mta.smtp_port)
    return RunningServer(replace(config, **overrides))


def submit(server, recipients, subject="hello", **options):
    client = smtplib.SMTP("127.0.0.1", server.submission_port)
    client.login("alumnopop", "alumnopoppass")
    client.sendmail(POP, recipients, f"Subject: {subject}\r\n\r\nbody of {subject}\r\n".encode(), **options)
    client.quit()


def test_submission_is_relayed_to_the_mx_and_delivered(tmp_path, dns_stub, remote_mta):
    with sending_server(tmp_path, dns_stub, remote_mta) as local:
        submit(local, [f"user@{REMOTE}"])
        [path] = wait_for(lambda: maildir_files(remote_mta.config, "user", REMOTE))
        text = path.read_text()
        assert f"Return-Path: <{POP}>\nX-Original-To: user@{REMOTE}\nDelivered-To: user@{REMOTE}\n" in text
        assert text.count("Received: from ") == 2
        assert "by mail.redes.unlp.edu.ar (Postfix) with ESMTPA id" in text
        assert "Received: from mail.redes.unlp.edu.ar (unknown [127.0.0.1])" in text
        wait_for(lambda: not local.service.worker.messages)


def test_several_messages_share_one_connection(tmp_path, dns_stub, remote_mta):
    dns_stub.failing = True  # hold the mail in the queue first
    with sending_server(tmp_path, dns_stub, remote_mta, etrn_domains=[REMOTE]) as local:
        for n in range(3):
            submit(local, [f"user@{REMOTE}", f"other@{REMOTE}"], subject=f"m{n}")
        # All three attempts settled (deferred, next try scheduled) before ETRN.
        wait_for(lambda: len(events(local.config, "delivery")) == 6 and not local.busy())
        assert {e["status"] for e in events(local.config, "delivery")} == {"deferred"}
        dns_stub.failing = False
        with raw_session(local.smtp_port) as client:
            assert client.command(f"ETRN {REMOTE}") == "250 Queuing started"
        wait_for(lambda: len(maildir_files(remote_mta.config, "user", REMOTE)) == 3
                 and len(maildir_files(remote_mta.config, "other", REMOTE)) == 3)
    [batch] = events(local.config, "relay_connect")
    assert len(batch["queue_ids"]) == 3
    assert len(events(remote_mta.config, "connect")) == 1
    assert len(events(remote_mta.config, "queued")) == 3


def test_4xx_reply_is_retried_with_backoff(tmp_path, dns_stub, remote_mta):
    # The remote takes one recipient per transaction; the second RCPT gets 452 4.5.3.
    remote_mta.service.config = replace(remote_mta.config, max_recipients=1)
    with sending_server(tmp_path, dns_stub, remote_mta, retry=Retry(initial=0.2, max_interval=1, give_up_after=60)) as local:
        submit(local, [f"user@{REMOTE}", f"other@{REMOTE}"])
        wait_for(lambda: maildir_files(remote_mta.config, "user", REMOTE) and maildir_files(remote_mta.config, "other", REMOTE))
        # The remote delivers before it answers 250: the relay's outcome is logged a moment later.
        wait_for(lambda: not local.service.worker.messages)
    attempts = [(e["recipient"], e["status"]) for e in events(local.config, "delivery")]
    assert attempts[:2] == [(f"user@{REMOTE}", "relayed"), (f"other@{REMOTE}", "deferred")]
    assert attempts[2:] == [(f"other@{REMOTE}", "relayed")]
    assert maildir_files(local.config, "alumnopop") == []  # no bounce


def test_5xx_reply_bounces_with_a_dsn(tmp_path, dns_stub, remote_mta):
    with sending_server(tmp_path, dns_stub, remote_mta) as local:
        submit(local, [f"nobody@{REMOTE}", f"user@{REMOTE}"], subject="half wrong", mail_options=["ENVID=q1"],
               rcpt_options=["NOTIFY=FAILURE"])
        [bounce] = wait_for(lambda: maildir_files(local.config, "alumnopop"))
        wait_for(lambda: maildir_files(remote_mta.config, "user", REMOTE))
    text = bounce.read_text()
    assert "Return-Path: <>" in text
    assert "Subject: Undelivered Mail Returned to Sender" in text
    assert "Original-Envelope-Id: q1" in text
    assert (f"Final-Recipient: rfc822; nobody@{REMOTE}\nOriginal-Recipient: rfc822;nobody@{REMOTE}\n"
            "Action: failed\nStatus: 5.1.1\n"
            "Remote-MTA: dns; mx.remote.example\nDiagnostic-Code: smtp; 550 5.1.1 <nobody@remote.example>") in text
    assert f"user@{REMOTE}" not in text.split("Content-Type: message/delivery-status")[1].split("Content-Description: Undelivered Message")[0]
    assert "Content-Type: message/rfc822" in text and "body of half wrong" in text


def test_null_mx_and_giving_up_bounce(tmp_path, dns_stub, remote_mta):
    dns_stub.set("nullmx.example", "MX", ["0 ."])
    dns_stub.set("down.example", "MX", ["10 mx.remote.example."])
    overrides = dict(relay_port=1, retry=Retry(initial=0.1, max_interval=0.2, give_up_after=0.5))
    with sending_server(tmp_path, dns_stub, remote_mta, **overrides) as local:
        submit(local, ["someone@nullmx.example"], subject="null")
        submit(local, ["someone@down.example"], subject="down")
        wait_for(lambda: len(maildir_files(local.config, "alumnopop")) == 2)
        texts = [p.read_text() for p in maildir_files(local.config, "alumnopop")]
    assert any("Status: 5.1.10" in t and "null MX" in t for t in texts)
    assert any("Action: failed\nStatus: 4.4.1" in t and "gave up after" in t for t in texts)


class SmtpSink:
    """A bare SMTP server on loopback that records every octet its one client sends, as a capture would."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.sock = socket.create_server((host, port))
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        conn.sendall(b"220 sink.example ESMTP\r\n")
        pending, in_data = b"", False
        while not self.done.is_set():
            chunk = conn.recv(65536)
            if not chunk:
                break
            self.received += chunk
            pending += chunk
            while True:
                if in_data:
                    end = pending.find(b"\r\n.\r\n")
                    if end < 0:
                        break
                    pending, in_data = pending[end + 5:], False
                    conn.sendall(b"250 2.0.0 Ok: queued as SINK\r\n")
                    continue
                line, separator, pending = pending.partition(b"\r\n")
                if not separator:
                    pending = line
                    break
                verb = line[:4].upper()
                if verb == b"EHLO":
                    conn.sendall(b"250-sink.example\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    in_data = True
                    conn.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    self.done.set()
                else:
                    conn.sendall(b"250 2.1.0 Ok\r\n")
        conn.close()

    def close(self) -> None:
        self.sock.close()


def send_to_sink(port: int, content: bytes, *, params: str = "", login: bool = True) -> None:
    """alumnopop's message to user@sink.example, through a raw session (after AUTH, on the MSA)."""
    with raw_session(port) as client:
        if login:
            token = base64.b64encode(b"\0alumnopop\0alumnopoppass").decode()
            assert client.command(f"AUTH PLAIN {token}").startswith("235 ")
        assert client.command(f"MAIL FROM:<{POP}>{params}") == "250 2.1.0 Ok"
        assert client.command(f"RCPT TO:<user@{SINK}>") == "250 2.1.5 Ok"
        assert client.command("DATA").startswith("354 ")
        client.send(content + b".\r\n")
        assert client.reply().startswith("250 2.0.0 Ok: queued as ")


def test_relayed_dialogue_is_upper_case_crlf_dot_stuffed_and_line_limited(tmp_path, dns_stub):
    """What students read in an MTA-to-MTA capture: Postfix-like commands; and content no server can misread."""
    sink = SmtpSink()
    dns_stub.set(SINK, "MX", ["10 mx.sink.example."])
    dns_stub.set("mx.sink.example", "A", ["127.0.0.1"])
    config = make_config(tmp_path, resolver_port=dns_stub.port, relay_port=sink.port)
    # Bare LFs (a fake end of data among them), a dot line and an overlong line, sent over a CRLF session.
    content = (b"Subject: to the sink\r\n\r\nhello\n.\nMAIL FROM:<x@evil.example>\r\n"
               b"..\r\n..starts with a dot\r\n" + b"z" * 2500 + b"\r\nend\r\n")
    with RunningServer(config) as local:
        send_to_sink(local.submission_port, content)
        assert sink.done.wait(10)
        wait_for(lambda: not local.service.worker.messages)
    sink.close()
    wire = bytes(sink.received)
    head, _, rest = wire.partition(b"DATA\r\n")
    size = next(e for e in events(config, "queued"))["size"]
    assert head.split(b"\r\n") == [
        b"EHLO mail.redes.unlp.edu.ar", f"MAIL FROM:<{POP}> SIZE={size}".encode(),  # no BODY= declared, none passed on
        f"RCPT TO:<user@{SINK}>".encode(), b""]
    data, _, tail = rest.partition(b"\r\n.\r\n")
    assert tail == b"QUIT\r\n"
    lines = data.split(b"\r\n")
    assert not [line for line in lines if b"\n" in line or b"\r" in line]  # CRLF only
    assert max(map(len, lines)) <= 998
    # The bare-LF ".", unstuffed as Postfix does, is an empty line; the stored "." lines go out stuffed.
    assert lines[lines.index(b"hello"):][:5] == [b"hello", b"", b"MAIL FROM:<x@evil.example>", b"..",
                                                   b"..starts with a dot"]
    assert b"".join(line.removeprefix(b" ") for line in lines if line.strip(b"z ") == b"") == b"z" * 2500


def test_a_refused_connection_is_worded_as_postfix_words_it():
    # Exercise 9 has students read the queue: Postfix's text, not Python's "[Errno 111]".
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: the connection is refused
        with pytest.raises(DestinationError) as failure:
            _connect([Exchanger("mail.otro.unlp.edu.ar", "127.0.0.1")], port, "mail.redes.unlp.edu.ar", 2.0, 2.0)
    assert failure.value.outcome.text == f"451 4.4.1 connect to mail.otro.unlp.edu.ar[127.0.0.1]:{port}: Connection refused"
