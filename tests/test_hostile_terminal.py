"""What anyone sends a real lab never drives the terminal of whoever reads it: an ESC
sequence in an SMTP command, a C1 CSI (U+009B) in a POP3 login name or a Subject reach
`labctl mail log`, `labctl logs mail` and `labctl check` as escapes, never raw."""
from __future__ import annotations

import socket
import time

import pytest
from typer.testing import CliRunner

from labctl.cli import app

INSTANCE = "hostile-term"
NET = "172.31.242"
MAIL = f"{NET}.90"
runner = CliRunner()
# Sets the window title, clears the screen; then the 8-bit CSI a UTF-8 terminal may act on too.
SEQUENCE = "\x1b]0;PWNED\x07\x1b[2J\x9b31m"
RAW = ("\x1b", "\x07", "\x9b")


@pytest.fixture(scope="module")
def lab(engine):
    runner.invoke(app, ["down", "--instance", INSTANCE])  # a previous run killed half-way
    result = runner.invoke(app, ["up", "--instance", INSTANCE, "--subnet", f"{NET}.0/24"])
    assert result.exit_code == 0, result.output
    _send_hostile_input()
    yield
    assert runner.invoke(app, ["down", "--instance", INSTANCE, "--purge"]).exit_code == 0


def _dialogue(port: int, lines: list[str]) -> bytes:
    """Each line sent after the previous reply, as a client typing them."""
    with socket.create_connection((MAIL, port), timeout=10) as conn:
        received = conn.recv(4096)
        for line in lines:
            conn.sendall(line.encode("utf-8") + b"\r\n")
            received += conn.recv(65536)
    return received


def _send_hostile_input() -> None:
    smtp = _dialogue(25, [f"EHLO evil{SEQUENCE}", "EHLO cliente", "MAIL FROM:<alumnopop@redes.unlp.edu.ar>",
                          "RCPT TO:<alumnoimap@redes.unlp.edu.ar>", "DATA",
                          f"From: <alumnopop@redes.unlp.edu.ar>\r\nSubject: hola {SEQUENCE}\r\n\r\ncuerpo\r\n.", "QUIT"])
    assert b"250 2.0.0 Ok: queued as" in smtp, smtp
    pop = _dialogue(110, [f"USER alumno{SEQUENCE}pop", "PASS x", "QUIT"])
    assert b"-ERR [AUTH]" in pop, pop


def _output_of(*args: str) -> str:
    result = runner.invoke(app, [*args, "--instance", INSTANCE])
    assert isinstance(result.exception, (SystemExit, type(None))), result.exception
    return result.output


def test_mail_log_shows_a_hostile_command_as_escapes(lab):
    text = _output_of("mail", "log")
    assert not any(c in text for c in RAW)
    assert "line=EHLO evil\\x1b]0;PWNED\\x07\\x1b[2J" in text


def test_service_log_shows_a_hostile_login_name_as_escapes(lab):
    deadline = time.monotonic() + 10
    while "Authentication failed" not in (text := _output_of("logs", "mail")) and "auth failed" not in text:
        assert time.monotonic() < deadline, text  # Dovecot logs the failure once its delay is over
        time.sleep(0.5)
    assert not any(c in text for c in RAW)
    assert "\\x9b31mpop" in text  # Dovecot writes the ESC and BEL as '?', the C1 CSI as it came


@pytest.mark.parametrize("as_json", [False, True])
def test_check_shows_a_hostile_subject_without_its_controls(lab, as_json):
    text = _output_of("check", "--exercise", "5", *(["--json"] if as_json else []))
    assert "hola" in text  # the detail names the message found
    assert not any(c in text for c in RAW)
