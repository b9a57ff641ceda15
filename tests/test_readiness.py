"""Readiness probing without the engine: a DNS query with no answer is sent again soon
(on the same socket), a service is probed only once its own start has returned, and a
mail port that greeted is not asked again."""
from __future__ import annotations

import socket
import threading
from concurrent.futures import Future
from dataclasses import replace

import dns.exception
import dns.message
import dns.rdatatype
import pytest
from docker.models.containers import Container

from labctl.render.plan import LABEL_SERVICE, plan_lab
from labctl.runtime import readiness
from labctl.runtime.engine import LabError
from labctl.runtime.project import _slow_to_answer_first
from labctl.spec.loader import load_lab


class SilentFirst:
    """A DNS server on loopback that drops the first `drop` queries and answers the rest."""

    def __init__(self, drop: int):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = self.sock.getsockname()
        self.drop = drop
        self.received: list[dns.message.Message] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            wire, client = self.sock.recvfrom(512)
            query = dns.message.from_wire(wire)
            self.received.append(query)
            if len(self.received) > self.drop:
                self.sock.sendto(dns.message.make_response(query).to_wire(), client)


def ask(server: SilentFirst) -> dns.message.Message:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(server.address)
        sock.setblocking(False)
        return readiness._ask(sock, server.address, dns.message.make_query("redes.unlp.edu.ar", dns.rdatatype.SOA, flags=0))


def test_a_lost_query_is_sent_again_on_the_same_socket():
    server = SilentFirst(drop=1)
    answer = ask(server)
    assert len(server.received) == 2 and server.received[0].id == server.received[1].id == answer.id


def test_a_server_that_never_answers_times_out_after_every_copy():
    server = SilentFirst(drop=99)
    with pytest.raises(dns.exception.Timeout):
        ask(server)
    assert len(server.received) == len(readiness.RESEND_AFTER)


def test_a_failed_start_fails_the_wait_with_its_own_error_and_nothing_is_probed(tmp_path, monkeypatch):
    plan = plan_lab(load_lab("practica4"), "qa-ready", tmp_path, [])
    probed: list[str] = []
    monkeypatch.setattr(readiness, "probe", lambda plan, container, seen, greeted: probed.append(container.service))
    failed: Future = Future()
    failed.set_exception(LabError("cannot start container 'qa-ready-mail': boom"))
    waiting = {c.service: Future() for c in plan.containers if c.service != "mail"}
    try:
        with pytest.raises(LabError, match="cannot start container 'qa-ready-mail'"):
            readiness.wait_ready(plan, 5, alive=lambda service: None, started={"mail": failed, **waiting})
        assert probed == []  # the others' starts have not returned: none of them is probed
    finally:
        for start in waiting.values():
            start.set_result(None)


def test_a_started_service_is_probed_while_another_still_starts(tmp_path, monkeypatch):
    plan = plan_lab(load_lab("practica4"), "qa-ready", tmp_path, [])
    still_starting: Future = Future()
    done: Future = Future()
    done.set_result(None)
    probed: list[str] = []

    def probe(plan, container, seen, greeted) -> None:
        probed.append(container.service)
        if container.service == "mail":
            assert not still_starting.done()
            still_starting.set_result(None)  # the engine returns the client's start later

    monkeypatch.setattr(readiness, "probe", probe)
    started = {c.service: done for c in plan.containers}
    readiness.wait_ready(plan, 5, alive=lambda service: None, started={**started, "mail": done, "client": still_starting})
    assert probed.index("mail") < probed.index("client")


def test_a_sidecar_started_alone_has_nothing_to_wait_for(tmp_path):
    """`labctl start capture`: the capture sidecar answers no probe (it shares a network
    namespace); waiting for it returned a traceback (a pool of no thread)."""
    plan = plan_lab(load_lab("practica4"), "qa-ready", tmp_path, [])
    sidecar = replace(plan, containers=tuple(c for c in plan.containers if c.service == "capture"))
    assert len(sidecar.containers) == 1 and sidecar.containers[0].network_mode is not None
    readiness.wait_ready(sidecar, 5, alive=lambda service: "it died")


def test_the_mail_server_is_started_first_the_others_in_plan_order(tmp_path):
    plan = plan_lab(load_lab("practica4"), "qa-ready", tmp_path, [])
    made = [Container(attrs={"Id": c.name, "Config": {"Labels": {LABEL_SERVICE: c.service}}}) for c in plan.containers]
    order = [c.labels[LABEL_SERVICE] for c in _slow_to_answer_first(plan, made)]
    assert order == ["mail", *[c.service for c in plan.containers if c.service != "mail"]]


class Greeter:
    """A TCP server on loopback that greets every connection with `banner`, counting them."""

    def __init__(self, banner: bytes):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.banner = banner
        self.sessions = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            connection, _ = self.sock.accept()
            self.sessions += 1
            with connection:
                connection.sendall(self.banner)


def test_the_mail_probe_greets_dovecot_first_and_never_asks_a_port_twice(tmp_path):
    """Dovecot answers while the MTA still starts: its ports greet the first attempts, and a
    later attempt (once the MTA listens) does not open one more session in Dovecot's log."""
    plan = plan_lab(load_lab("practica4"), "qa-ready", tmp_path, [])
    dovecot = {"pop3": Greeter(b"+OK Dovecot ready.\r\n"), "imap": Greeter(b"* OK Dovecot ready.\r\n")}
    submission = Greeter(b"220 mail ESMTP\r\n")
    with socket.socket() as closed:  # the MTA's smtp port, not listening yet
        closed.bind(("127.0.0.1", 0))
        smtp_port = closed.getsockname()[1]
    ports = {"pop3": dovecot["pop3"].port, "imap": dovecot["imap"].port, "smtp": smtp_port, "submission": submission.port}
    mail = replace(plan.container("mail"), ip="127.0.0.1", ports=ports)
    greeted: set[int] = set()
    with pytest.raises(ConnectionRefusedError):
        readiness.probe(plan, mail, [], greeted)
    assert greeted == {dovecot["pop3"].port, dovecot["imap"].port}
    smtp = socket.create_server(("127.0.0.1", smtp_port))
    with smtp:
        threading.Thread(target=lambda: smtp.accept()[0].sendall(b"220 mail ESMTP\r\n"), daemon=True).start()
        readiness.probe(plan, mail, [], greeted)
    assert [server.sessions for server in dovecot.values()] == [1, 1] and submission.sessions == 1
