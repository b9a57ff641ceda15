"""Local mail is delivered before the 250, by the commit helper process; nothing is lost when
the helper dies or the client leaves before its answer."""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
from pathlib import Path

from .conftest import IMAP, POP, maildir_files, raw_session, wait_for


def events(config, kind):
    with open(config.log_file) as handle:
        return [e for e in map(json.loads, handle) if e["event"] == kind]


def send(client, subject: str, recipients=(IMAP,)) -> str:
    client.command(f"MAIL FROM:<{POP}>")
    for recipient in recipients:
        assert client.command(f"RCPT TO:<{recipient}>") == "250 2.1.5 Ok"
    assert client.command("DATA").startswith("354 ")
    return client.command(f"Subject: {subject}\r\n\r\nbody\r\n.")


def test_local_mail_is_in_place_in_new_at_the_250_and_never_spooled(server):
    with raw_session(server.smtp_port) as client:
        reply = send(client, "at once", recipients=(IMAP, POP))
        # Nothing waited for: the files were fsynced and renamed before the reply left.
        assert reply.startswith("250 2.0.0 Ok: queued as ")
        for user in ("alumnoimap", "alumnopop"):
            [path] = maildir_files(server.config, user)
            assert path.parent.name == "new" and "Subject: at once" in path.read_text()
            assert not list(path.parent.parent.joinpath("tmp").iterdir())
    assert not list(Path(server.config.spool_dir).iterdir())
    delivered = wait_for(lambda: events(server.config, "delivery"))
    assert {(e["recipient"], e["status"], e["attempt"]) for e in delivered} == {(IMAP, "delivered", 1),
                                                                                (POP, "delivered", 1)}
    assert delivered[0]["summary"]["subject"] == "at once"
    assert not server.service.worker.messages


def test_a_helper_dying_with_a_message_in_hand_costs_no_mail_and_is_started_again(server):
    first = server.service.committer._process
    os.kill(first.pid, signal.SIGSTOP)  # it holds the next message until it is killed
    replies = []
    with raw_session(server.smtp_port) as client:
        sending = threading.Thread(target=lambda: replies.append(send(client, "in hand")))
        sending.start()
        wait_for(lambda: server.service.committer._pending)
        os.kill(first.pid, signal.SIGKILL)
        sending.join(10)
        # Not delivered by the helper: queued instead, and the 250 only then.
        assert replies[0].startswith("250 2.0.0 Ok: queued as ")
        assert send(client, "next").startswith("250 2.0.0 Ok: queued as ")
    first.wait(10)
    wait_for(lambda: len(maildir_files(server.config, "alumnoimap")) == 2)
    [error] = events(server.config, "internal_error")
    assert error["where"] == "commit" and "commit helper exited" in error["error"]
    delivered = wait_for(lambda: len(events(server.config, "delivery")) == 2 and events(server.config, "delivery"))
    assert {e["status"] for e in delivered} == {"delivered"}
    assert server.service.committer._process.pid != first.pid  # the next message started a new one
    assert server.service.committer._process.poll() is None


def test_a_client_gone_before_its_250_still_has_its_message_delivered_and_logged(server):
    sock = socket.create_connection(("127.0.0.1", server.smtp_port))
    # nc -q0 with a session typed in a file: everything at once, then the connection closes.
    sock.sendall(f"EHLO cliente\r\nMAIL FROM:<{POP}>\r\nRCPT TO:<{IMAP}>\r\nDATA\r\n".encode())
    answered = b""
    while b"354 " not in answered:
        answered += sock.recv(4096)
    sock.sendall(b"Subject: left early\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    sock.close()
    [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    assert "Subject: left early" in path.read_text()
    [delivery] = wait_for(lambda: events(server.config, "delivery"))
    assert delivery["status"] == "delivered" and delivery["summary"]["subject"] == "left early"
    [queued] = events(server.config, "queued")
    assert queued["queue_id"] == delivery["queue_id"]
