"""The capture sidecar of a real lab under load and restarts: a burst of SMTP sessions loses
no packet (and tcpdump's own count says so), a restart keeps what the earlier start wrote,
and `capture follow` does not print TLS records after STARTTLS/STLS."""
from __future__ import annotations

import imaplib
import poplib
import smtplib
import ssl
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from typer.testing import CliRunner

from labctl.capture import lab_capture_files, load_capture
from labctl.capture.files import capture_stats, dropped_by_kernel
from labctl.capture.reader import read_frames
from labctl.checks.context import CheckContext
from labctl.cli import app
from labctl.render.plan import CAPTURE_SERVICE
from labctl.runtime import containers as ctr

INSTANCE = "h9cap"
NET = "172.31.233"
MAIL = f"{NET}.90"
SENDER, RCPT = "alumnopop@redes.unlp.edu.ar", "alumnoimap@redes.unlp.edu.ar"
DEADLINE = 20.0
runner = CliRunner()


@pytest.fixture(scope="module")
def lab(moved_practica4):
    return moved_practica4


def _send(ehlo: str, body: str = "hola\r\n") -> None:
    with smtplib.SMTP(MAIL, 25, local_hostname=ehlo, timeout=60) as smtp:
        smtp.sendmail(SENDER, [RCPT], f"Subject: {ehlo}\r\n\r\n{body}".encode())


def _captured(ehlo: str):
    """The capture once the SMTP session that said EHLO `ehlo` is complete in it."""
    end = time.monotonic() + DEADLINE
    while True:
        capture = load_capture(lab_capture_files(INSTANCE))
        if any(f"ehlo {ehlo}".encode() in s.client_bytes().lower() and b"221" in s.server_bytes() for s in capture.tcp_streams("smtp")):
            return capture
        assert time.monotonic() < end, f"the session of {ehlo} never reached the capture"
        time.sleep(0.2)


def test_a_burst_of_smtp_sessions_loses_no_packet(lab, engine):
    tag = uuid.uuid4().hex[:8]
    body = ("x" * 76 + "\r\n") * 840  # 64 KiB each
    # 40 at once: the MTA refuses more than 50 sessions per client, as Postfix does.
    with ThreadPoolExecutor(max_workers=40) as pool:
        list(pool.map(lambda i: _send(f"burst{i}-{tag}", body), range(60)))
    _send(f"after-{tag}")
    capture = _captured(f"after-{tag}")
    files = lab_capture_files(INSTANCE)
    frames = sum(1 for f in files for _ in read_frames(f))
    end = time.monotonic() + DEADLINE
    # tcpdump reports every second: wait for a report that counts what the files hold.
    while (stats := capture_stats(files[-1])) is None or stats.received < frames:
        assert time.monotonic() < end, f"tcpdump never reported {frames} packets: {stats}"
        time.sleep(0.2)
    assert stats.dropped == 0 and dropped_by_kernel(files) == 0
    assert CheckContext(engine, lab, INSTANCE).dropped_by_kernel == 0  # what a check's detail can cite
    burst = [s for s in capture.tcp_streams("smtp") if f"-{tag}".encode() in s.client_bytes()]
    assert len(burst) == 61
    assert all(s.missing_bytes == 0 for s in burst)
    listed = runner.invoke(app, ["capture", "list", "--lab", INSTANCE], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    assert "dropped by kernel" in listed.output
    assert [line.rstrip(" │").rsplit("│", 1)[-1].strip() for line in listed.output.splitlines() if ".pcap" in line] == ["0"] * len(files)


def test_a_restarted_capture_keeps_what_it_wrote_before(lab, engine):
    tag = uuid.uuid4().hex[:8]
    _send(f"before-{tag}")
    _captured(f"before-{tag}")
    before = {f.name: f.read_bytes() for f in lab_capture_files(INSTANCE)}
    sidecar = ctr.find_containers(engine, INSTANCE)[CAPTURE_SERVICE]
    starts = sidecar.logs().count(b"listening on")
    sidecar.restart(timeout=10)
    end = time.monotonic() + DEADLINE
    while sidecar.logs().count(b"listening on") == starts:
        assert time.monotonic() < end, "the capture did not start again"
        time.sleep(0.1)
    _send(f"after-{tag}")
    capture = _captured(f"after-{tag}")
    assert any(f"ehlo before-{tag}".encode() in s.client_bytes() for s in capture.tcp_streams("smtp"))
    now = {f.name: f for f in lab_capture_files(INSTANCE)}
    for name, content in before.items():  # the earlier start's files, untouched
        assert now[name].read_bytes()[:len(content)] == content
    assert len(now) > len(before)


def _strict_context() -> ssl.SSLContext:
    from labctl.paths import tls_dir
    from labctl.render.tls import CA_CERT

    return ssl.create_default_context(cafile=str(tls_dir(INSTANCE) / CA_CERT))


def test_follow_says_encrypted_instead_of_printing_tls_records(lab):
    tag = uuid.uuid4().hex[:8]
    with smtplib.SMTP(MAIL, 587, local_hostname=f"tls-{tag}", timeout=10) as smtp:
        smtp.starttls(context=_strict_context())
        smtp.ehlo(f"secret-{tag}")
    pop = poplib.POP3(MAIL, 110, timeout=10)
    pop.stls(context=_strict_context())
    pop.user(f"secret-{tag}")
    pop.quit()
    with imaplib.IMAP4(MAIL, 143, timeout=10) as imap:
        imap.starttls(ssl_context=_strict_context())
        imap.noop()
    _send(f"sync-{tag}")
    _captured(f"sync-{tag}")
    result = runner.invoke(app, ["capture", "follow", "--lab", INSTANCE])
    assert result.exit_code == 0, result.output
    streams = result.output.split("=== tcp stream")
    smtp = next(s for s in streams if f"ehlo tls-{tag}" in s)
    assert "S: 220 2.0.0 Ready to start TLS" in smtp
    encrypted = [s for s in streams if "-- encrypted (STARTTLS): " in s]
    assert smtp in encrypted and any("C: STLS" in s for s in encrypted) and any(" STARTTLS" in s and "imap" in s for s in encrypted)
    for stream in encrypted:
        shown = stream.split("-- encrypted (STARTTLS): ")[0]
        assert "\ufffd" not in shown and "\x16\x03" not in shown  # no TLS record reached the terminal
    assert f"secret-{tag}" not in result.output
