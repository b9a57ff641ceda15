"""The capture sidecar of a real lab: what crosses the lab bridge (host <-> container
included, as Wireshark on 172.28.0.1 sees it) is in the pcap files, from the
services' startup on, and the dialogues read from it match tshark byte for byte."""
from __future__ import annotations

import imaplib
import json
import poplib
import shutil
import smtplib
import subprocess
import time
import urllib.request
import uuid

import dns.resolver
import pytest

from capturewait import wait_for_stream
from labctl.capture import dialogue, lab_capture_files, load_capture
from labctl.capture.tshark import follow_streams
from labctl.runtime import project
from labctl.spec.loader import load_lab

MAIL = "172.28.0.90"
HOST = "172.28.0.1"


def _student_traffic(tag: str) -> None:
    with smtplib.SMTP(MAIL, 25, timeout=10) as smtp:
        smtp.sendmail("alumnopop@redes.unlp.edu.ar", ["alumnoimap@redes.unlp.edu.ar"], f"Subject: captura {tag}\r\n\r\nhola\r\n".encode())
    pop = poplib.POP3(MAIL, 110, timeout=10)
    pop.user("alumnopop")
    pop.pass_("alumnopoppass")
    pop.stat()
    pop.quit()
    with imaplib.IMAP4(MAIL, 143) as imap:
        imap.login("alumnoimap", "alumnoimappass")
        imap.select("INBOX")
        imap.noop()
    with urllib.request.urlopen("http://172.28.0.50/", timeout=5) as response:
        response.read()
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["172.28.0.29"]
    resolver.resolve("saludo.redes.unlp.edu.ar", "TXT")


def _capture_until(predicate, instance: str = "practica4", deadline: float = 10.0):
    end = time.monotonic() + deadline
    while True:
        capture = load_capture(lab_capture_files(instance))
        if predicate(capture) or time.monotonic() > end:
            return capture
        time.sleep(0.3)


@pytest.fixture(scope="module")
def captured(practica4):
    tag = uuid.uuid4().hex[:8]
    _student_traffic(tag)

    def has_everything(capture) -> bool:
        smtp = [s for s in capture.tcp_streams("smtp") if f"captura {tag}".encode() in s.client_bytes()]
        # The DNS answer, not only the query: the test reads the response.
        return bool(smtp) and capture.tcp_streams("http") and any(
            m.qname == "saludo.redes.unlp.edu.ar." and m.is_response for m in capture.dns_messages())

    return tag, _capture_until(has_everything)


def test_host_smtp_dialogue_is_captured_as_the_course_shows(captured):
    tag, capture = captured
    stream = next(s for s in capture.tcp_streams("smtp") if f"captura {tag}".encode() in s.client_bytes())
    assert (stream.client.ip, stream.server.ip, stream.server.port) == (HOST, MAIL, 25)
    exchanges = dialogue(stream)
    verbs = [e.command_text.split()[0].split(":")[0].upper() for e in exchanges if e.command_text.strip()]
    assert verbs[:2] == ["EHLO", "MAIL"] and "RCPT" in verbs and "DATA" in verbs and verbs[-1] == "QUIT"
    assert exchanges[0].reply_text.startswith("220 mail.redes.unlp.edu.ar ESMTP")
    replies = [e.reply_text.strip() for e in exchanges]
    assert "250 2.1.0 Ok" in replies and "250 2.1.5 Ok" in replies and "221 2.0.0 Bye" in replies


def test_pop_imap_http_and_dns_are_captured(captured):
    _, capture = captured
    pop = capture.tcp_streams("pop")
    assert any(b"+OK Dovecot ready." in s.server_bytes() and b"STAT" in s.client_bytes() for s in pop)
    assert any(b"LOGIN" in s.client_bytes().upper() for s in capture.tcp_streams("imap"))
    assert any(s.server_bytes().startswith(b"HTTP/1.1 200") for s in capture.tcp_streams("http"))
    answers = [m for m in capture.dns_messages() if m.qname == "saludo.redes.unlp.edu.ar." and m.is_response]
    assert answers and answers[0].client.ip == HOST


def test_startup_traffic_is_in_the_capture(captured):
    """The sidecar starts before the services: labctl's own readiness probes (SOA
    queries from the host at startup) are in the capture."""
    _, capture = captured
    assert any(m.qtype == "SOA" and m.qname == "redes.unlp.edu.ar." for m in capture.dns_messages())


def test_readiness_probes_ask_without_recursion(captured):
    """The SOA queries of `up` ask whether the zone is loaded (dig +norec): a recursive one
    that named failed before loading its zones had the resolver answer SERVFAIL from its
    cache for a second (servfail-ttl), to the next probes and to a student's dig alike."""
    _, capture = captured
    probes = [m for m in capture.dns_messages() if m.qtype == "SOA" and m.qname == "redes.unlp.edu.ar." and not m.is_response]
    assert probes and all("RD" not in m.flags for m in probes)


def test_follow_leaves_out_the_soa_queries_of_up_but_not_the_students(captured):
    """The readiness probes' SOA queries come from the host, as a student's dig does: they
    are known by their recorded source port, and shown only with --probes."""
    from typer.testing import CliRunner

    from labctl.cli import app

    def asked(*options: str) -> list[tuple[str, str]]:
        result = CliRunner().invoke(app, ["capture", "follow", "--lab", "practica4", "--proto", "dns", "--json", *options])
        assert result.exit_code == 0, result.output
        return [(m["questions"][0]["type"], m["questions"][0]["name"]) for m in json.loads(result.output)["dns"]]

    shown, everything = asked(), asked("--probes")
    soa = ("SOA", "redes.unlp.edu.ar.")
    assert soa in everything and soa not in shown
    assert ("TXT", "saludo.redes.unlp.edu.ar.") in shown  # the student's lookup


def test_follow_matches_tshark_byte_for_byte(captured, tmp_path):
    _, capture = captured
    merged = tmp_path / "lab.pcap"
    files = lab_capture_files("practica4")
    if len(files) == 1:
        shutil.copy(files[0], merged)
    else:
        subprocess.run(["mergecap", "-w", str(merged), *map(str, files)], check=True)
    ours = load_capture([merged])
    indices = [s.index for s in ours.streams if s.handshake_seen][:40]
    assert len(indices) >= 5
    theirs = follow_streams(merged, indices)
    for index in indices:
        stream = ours.stream(index)
        follow = theirs[index]
        assert follow.bytes_from(f"{stream.client.ip}:{stream.client.port}") == stream.client_bytes(), stream.title
        assert follow.bytes_from(f"{stream.server.ip}:{stream.server.port}") == stream.server_bytes(), stream.title


def test_capture_sidecar_is_not_privileged(practica4, engine):
    capture = engine.containers.list(filters={"label": ["labctl.lab=practica4", "labctl.service=capture"]})[0]
    host_config = capture.attrs["HostConfig"]
    assert host_config["Privileged"] is False
    # Every capability dropped but the packet socket and -Z root's user switch (no NET_ADMIN).
    assert host_config["CapDrop"] == ["ALL"] and sorted(host_config["CapAdd"]) == ["NET_RAW", "SETGID", "SETUID"]


def test_rotation_keeps_at_most_the_configured_files(engine, make_mini_lab, tmp_path):
    """A capture pushed past its size limit keeps at most `files` pcap files."""
    path = make_mini_lab(tmp_path, name="rotate", capture={"file_size_mb": 1, "files": 2})
    project.down(engine, "rotate")
    project.up(engine, load_lab(path), "rotate")
    try:
        body = b"x" * 76 + b"\r\n"
        message = b"Subject: grande\r\n\r\n" + body * 12_000  # ~0.9 MB a message
        with smtplib.SMTP("172.31.213.20", 25, timeout=30) as smtp:
            for _ in range(5):
                smtp.sendmail("x@mini.test", ["ana@mini.test"], message)
        files = lab_capture_files("rotate")
        sizes = [f.stat().st_size for f in files]
        assert 1 <= len(files) <= 2, [f.name for f in files]
        assert all(size <= 1_100_000 for size in sizes), sizes
        assert sum(sizes) >= 1_000_000  # the ring really turned over
    finally:
        project.down(engine, "rotate")


def test_follow_knows_the_msa_port_of_exercise_8(engine):
    """`capture follow --proto smtp` reads the lab's own ports: 2525 in exercise 8."""
    from typer.testing import CliRunner

    from labctl.cli import app

    runner = CliRunner()
    project.down(engine, "cap8")
    result = runner.invoke(app, ["up", "practica4", "--exercise", "8", "--instance", "cap8", "--subnet", "172.29.88.0/24"])
    assert result.exit_code == 0, result.output
    try:
        with smtplib.SMTP("172.29.88.90", 2525, timeout=10) as msa:
            msa.login("alumnopop", "alumnopoppass")
            msa.sendmail("alumnopop@redes.unlp.edu.ar", ["alumnoimap@redes.unlp.edu.ar"], b"Subject: 2525\r\n\r\nhola\r\n")
        wait_for_stream("cap8", b"AUTH PLAIN", b"QUIT")
        follow = runner.invoke(app, ["capture", "follow", "--instance", "cap8", "--proto", "smtp"])
        assert follow.exit_code == 0, follow.output
        assert "smtp 172.29.88.1:" in follow.output and "-> 172.29.88.90:2525" in follow.output
        assert "C: AUTH PLAIN " in follow.output  # smtplib prefers PLAIN
    finally:
        project.down(engine, "cap8")
