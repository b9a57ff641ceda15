"""Local mail is delivered before the 250: by the commit helper process while other clients are
connected, on the event loop for a lone client; nothing is lost when the helper dies or the client
leaves before its answer."""
from __future__ import annotations

import errno
import json
import os
import signal
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest

from labctl.mailserver import durable
from labctl.mailserver.commit import SpareFiles, commit_batch
from labctl.mailserver.maildir import stage

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
    # Another client connected: the helper writes the copies (a lone client's are written on the loop).
    with raw_session(server.smtp_port) as client, raw_session(server.smtp_port):
        # The second message goes into the files the helper made ahead for these Maildirs.
        for count, subject in enumerate(("at once", "and again"), start=1):
            reply = send(client, subject, recipients=(IMAP, POP))
            # Nothing waited for: the files were fsynced and renamed before the reply left.
            assert reply.startswith("250 2.0.0 Ok: queued as ")
            for user in ("alumnoimap", "alumnopop"):
                paths = maildir_files(server.config, user)
                assert len(paths) == count and all(path.parent.name == "new" for path in paths)
                assert any(f"Subject: {subject}" in path.read_text() for path in paths)
                assert not list(paths[0].parent.parent.joinpath("tmp").iterdir())
    assert not list(Path(server.config.spool_dir).iterdir())
    delivered = wait_for(lambda: len(events(server.config, "delivery")) == 4 and events(server.config, "delivery"))
    assert {(e["recipient"], e["status"], e["attempt"], e["summary"]["subject"]) for e in delivered} == {
        (recipient, "delivered", 1, subject) for recipient in (IMAP, POP) for subject in ("at once", "and again")}
    assert not server.service.worker.messages
    assert server.service.committer._last_id == 2  # both messages went by the helper
    assert not events(server.config, "internal_error")


def test_a_lone_clients_mail_is_made_durable_on_the_loop_not_handed_to_the_helper(server):
    with raw_session(server.smtp_port) as client:
        for count, subject in enumerate(("alone", "still alone"), start=1):
            assert send(client, subject, recipients=(IMAP, POP)).startswith("250 2.0.0 Ok: queued as ")
            for user in ("alumnoimap", "alumnopop"):
                paths = maildir_files(server.config, user)
                assert len(paths) == count and all(path.parent.name == "new" for path in paths)
                assert any(f"Subject: {subject}" in path.read_text() for path in paths)
                assert not list(paths[0].parent.parent.joinpath("tmp").iterdir())
    assert server.service.committer._last_id == 0  # nothing went to the helper
    assert not list(Path(server.config.spool_dir).iterdir())
    delivered = wait_for(lambda: len(events(server.config, "delivery")) == 4 and events(server.config, "delivery"))
    assert {(e["recipient"], e["status"], e["attempt"], e["summary"]["subject"]) for e in delivered} == {
        (recipient, "delivered", 1, subject) for recipient in (IMAP, POP) for subject in ("alone", "still alone")}
    assert not server.service.worker.messages
    assert not events(server.config, "internal_error")


def test_a_file_made_ahead_is_the_next_message_and_nothing_unnamed_is_left(tmp_path):
    maildir = tmp_path / "Maildir"
    for sub in ("tmp", "new"):
        (maildir / sub).mkdir(parents=True)
    spares = SpareFiles()
    with ThreadPoolExecutor(2) as pool:
        first = commit_batch([(1, [stage(maildir, "one", b"Subject: one\r\n\r\nbody\r\n")])], pool, spares)
        spares.refill()
        made_ahead = os.fstat(spares._ready[maildir / "tmp"]).st_ino
        second = commit_batch([(2, [stage(maildir, "two", b"Subject: two\r\n\r\nbody\r\n"),
                                    stage(maildir, "three", b"Subject: three\r\n\r\nbody\r\n")])], pool, spares)
    assert first == [[1, [None]]] and second == [[2, [None, None]]]
    assert (maildir / "new" / "two").stat().st_ino == made_ahead  # the second batch's first file
    assert [(maildir / "new" / name).read_bytes() for name in ("one", "two", "three")] == [
        f"Subject: {name}\n\nbody\n".encode() for name in ("one", "two", "three")]
    assert not list((maildir / "tmp").iterdir())
    spares.refill()
    spares.take(tmp_path / "gone" / "tmp")
    spares.refill()  # a directory that cannot have one is skipped: its files are made when needed
    assert list(spares._ready) == [maildir / "tmp"]


def test_a_helper_dying_with_a_message_in_hand_costs_no_mail_and_is_started_again(server):
    first = server.service.committer._process
    os.kill(first.pid, signal.SIGSTOP)  # it holds the next message until it is killed
    replies = []
    # Another client connected: the message goes by the helper.
    with raw_session(server.smtp_port) as client, raw_session(server.smtp_port):
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


@pytest.mark.parametrize("others", [0, 1], ids=["alone", "by-the-helper"])
def test_a_client_gone_before_its_250_still_has_its_message_delivered_and_logged(server, others):
    with ExitStack() as other_clients:
        for _ in range(others):
            other_clients.enter_context(raw_session(server.smtp_port))
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


def test_a_maildir_where_a_file_made_ahead_cannot_be_placed_gets_none_again(tmp_path, monkeypatch):
    maildir = tmp_path / "Maildir"
    for sub in ("tmp", "new"):
        (maildir / sub).mkdir(parents=True)
    spares = SpareFiles()
    with ThreadPoolExecutor(2) as pool:
        commit_batch([(1, [stage(maildir, "one", b"one\r\n")])], pool, spares)
        spares.refill()

        def no_link(fd, final):
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(durable, "_link_unnamed", no_link)
        [[_, [error]]] = commit_batch([(2, [stage(maildir, "two", b"two\r\n")])], pool, spares)
        spares.refill()
        # Reported (the session queues the message), and the next one is made the usual way.
        assert error[0] == errno.EXDEV and not (maildir / "new" / "two").exists()
        assert spares.take(maildir / "tmp") is None
        assert commit_batch([(3, [stage(maildir, "three", b"three\r\n")])], pool, spares) == [[3, [None]]]
    assert sorted(p.name for p in (maildir / "new").iterdir()) == ["one", "three"]
    assert not list((maildir / "tmp").iterdir())


def test_a_forked_child_links_its_own_unnamed_file_not_its_parents(tmp_path):
    """The /proc/self/fd kept open for linking names the process that opened it: a child forked
    after the parent linked a file must link what its own descriptor holds."""
    maildir = tmp_path / "Maildir"
    for sub in ("tmp", "new"):
        (maildir / sub).mkdir(parents=True)
    durable.WrittenFile.filled(durable.open_unnamed(maildir / "tmp"), None, maildir / "new" / "parent's first",
                               lambda fd: os.write(fd, b"first")).place()
    parents = durable.open_unnamed(maildir / "tmp")
    os.write(parents, b"the parent's")
    child = os.fork()
    if child == 0:  # the child's file takes the parent's descriptor number
        code = 1
        try:
            own = durable.open_unnamed(maildir / "tmp")
            os.dup2(own, parents)
            os.close(own)
            durable.WrittenFile.filled(parents, None, maildir / "new" / "child's", lambda fd: os.write(fd, b"the child's")).place()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    os.close(parents)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (maildir / "new" / "child's").read_bytes() == b"the child's"
