"""STARTTLS in a real lab, verified strictly by every client students use, and
Dovecot as the course's server shows itself (PLAIN only, a typo does not lock the
host out). The lab is practica4 on its own subnet and instance."""
from __future__ import annotations

import base64
import imaplib
import poplib
import smtplib
import socket
import ssl
import uuid

import pytest

from labctl.paths import tls_dir
from labctl.render.tls import CA_CERT
from labctl.runtime import containers as ctr

INSTANCE = "h9tls"
NET = "172.31.231"
MAIL = f"{NET}.90"
HOSTNAME = "mail.redes.unlp.edu.ar"
POP = ("alumnopop", "alumnopoppass")
IMAP = ("alumnoimap", "alumnoimappass")
# The course server's POP3 CAPA reply (practica4-student-answers.txt, frame 110: 89 bytes).
COURSE_CAPA = (b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
               b"STLS\r\nUSER\r\nSASL PLAIN\r\n.\r\n")
# Debian's Dovecot 2.3 with STARTTLS and plaintext login allowed, PLAIN only.
COURSE_IMAP_GREETING = (b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
                        b"STARTTLS AUTH=PLAIN] Dovecot ready.\r\n")


@pytest.fixture(scope="module")
def lab(moved_practica4):
    return moved_practica4


@pytest.fixture(scope="module")
def client(lab, engine):
    return ctr.find_containers(engine, INSTANCE)["client"]


def _in_client(client, *command: str) -> str:
    code, output = client.exec_run(list(command))
    text = output.decode(errors="replace")
    assert code == 0, f"{command[:3]} exited {code}: {text[-1500:]}"
    return text


def _strict_context() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls_dir(INSTANCE) / CA_CERT))
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default
    return context


# --- strict STARTTLS from the host (Python ssl, as Python 3.13 verifies) ----------------

@pytest.mark.parametrize("port", [25, 587])
def test_smtp_starttls_verifies_strictly(lab, port):
    with smtplib.SMTP(MAIL, port, timeout=10) as smtp:
        smtp.starttls(context=_strict_context())
        assert smtp.sock.getpeercert()["subject"] == ((("commonName", HOSTNAME),),)
        assert smtp.noop()[0] == 250


def test_imap_starttls_verifies_strictly(lab):
    with imaplib.IMAP4(MAIL, 143, timeout=10) as imap:
        imap.starttls(ssl_context=_strict_context())
        assert imap.login(*IMAP)[0] == "OK"


def test_pop3_stls_verifies_strictly(lab):
    pop = poplib.POP3(MAIL, 110, timeout=10)
    pop.stls(context=_strict_context())
    pop.user(POP[0])
    assert pop.pass_(POP[1]).startswith(b"+OK")
    pop.quit()


def test_a_strict_client_refuses_a_name_the_certificate_does_not_carry(lab):
    """The verification is real: the same CA, another name, is refused."""
    with socket.create_connection((MAIL, 587), timeout=10) as raw:
        raw.recv(512)
        raw.sendall(b"EHLO x\r\n")
        raw.recv(512)
        raw.sendall(b"STARTTLS\r\n")
        assert raw.recv(512).startswith(b"220")
        with pytest.raises(ssl.SSLCertVerificationError, match="match"):
            _strict_context().wrap_socket(raw, server_hostname="www.redes.unlp.edu.ar")


# --- the client container trusts the lab CA: every student tool verifies -----------------

def test_swaks_sends_over_starttls(client):
    subject = f"tls-{uuid.uuid4().hex[:8]}"
    out = _in_client(client, "swaks", "--server", HOSTNAME, "--port", "587", "--tls", "--tls-verify",
                     "--auth", "PLAIN", "--auth-user", POP[0], "--auth-password", POP[1],
                     "--from", f"{POP[0]}@redes.unlp.edu.ar", "--to", f"{IMAP[0]}@redes.unlp.edu.ar",
                     "--header", f"Subject: {subject}")
    assert "TLS started" in out and "250 2.0.0 Ok: queued" in out


@pytest.mark.parametrize("url", [f"smtp://{HOSTNAME}:587", f"imap://{HOSTNAME}/INBOX", f"pop3://{HOSTNAME}/"])
def test_curl_verifies_starttls(client, url):
    user = POP if url.startswith("pop3") else IMAP
    command = ["curl", "-sS", "--ssl-reqd", "-u", ":".join(user), url]
    if url.startswith("smtp"):  # a bare EHLO/QUIT: curl's SMTP needs something to do
        command += ["-X", "NOOP"]
    _in_client(client, *command)


@pytest.mark.parametrize("protocol, port", [("smtp", "25"), ("smtp", "587"), ("imap", "143"), ("pop3", "110")])
def test_openssl_s_client_verifies_with_the_system_store(client, protocol, port):
    out = _in_client(client, "sh", "-c", f"echo QUIT | openssl s_client -starttls {protocol} -connect {HOSTNAME}:{port} "
                     f"-verify_return_error -verify_hostname {HOSTNAME} -x509_strict 2>&1")
    assert "Verify return code: 0 (ok)" in out


def test_mutt_sends_over_starttls(client):
    """mutt reads Debian's /etc/Muttrc (ssl_ca_certificates_file: the system store) and
    refuses an untrusted certificate in batch mode."""
    settings = (f"set smtp_url=smtp://{POP[0]}:{POP[1]}@{HOSTNAME}:587/ ssl_force_tls=yes ssl_starttls=yes "
                f"from={POP[0]}@redes.unlp.edu.ar")
    _in_client(client, "sh", "-c", f"echo hola | mutt -e '{settings}' -s mutt-tls {IMAP[0]}@redes.unlp.edu.ar 2>&1")


def test_python_in_the_client_verifies_strictly(client):
    script = (
        "import smtplib, ssl\n"
        "ctx = ssl.create_default_context()\n"
        "ctx.verify_flags |= ssl.VERIFY_X509_STRICT\n"
        f"s = smtplib.SMTP('{HOSTNAME}', 587, timeout=10)\n"
        "s.starttls(context=ctx)\n"
        "print(s.sock.version())\n"
        "s.quit()\n"
    )
    assert _in_client(client, "python3", "-c", script).startswith("TLS")


# --- Dovecot as the course's server shows itself --------------------------------------------

def _read_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def test_pop3_capa_is_the_course_servers_byte_for_byte(lab):
    with socket.create_connection((MAIL, 110), timeout=10) as sock:
        assert _read_until(sock, b"\r\n") == b"+OK Dovecot ready.\r\n"
        sock.sendall(b"CAPA\r\n")
        assert _read_until(sock, b"\r\n.\r\n") == COURSE_CAPA


def test_imap_greeting_offers_auth_plain_only(lab):
    with socket.create_connection((MAIL, 143), timeout=10) as sock:
        assert _read_until(sock, b"\r\n") == COURSE_IMAP_GREETING


def test_auth_login_is_not_offered(lab):
    with socket.create_connection((MAIL, 110), timeout=10) as sock:
        _read_until(sock, b"\r\n")
        sock.sendall(b"AUTH LOGIN\r\n")
        assert _read_until(sock, b"\r\n").startswith(b"-ERR")
        plain = base64.b64encode(f"\0{POP[0]}\0{POP[1]}".encode())
        sock.sendall(b"AUTH PLAIN " + plain + b"\r\n")
        assert _read_until(sock, b"\r\n") == b"+OK Logged in.\r\n"


def _wrong_pop3_logins(count: int) -> None:
    """Different typos: Dovecot does not raise its penalty for a repeated wrong password."""
    for typo in range(count):
        pop = poplib.POP3(MAIL, 110, timeout=30)
        pop.user(POP[0])
        with pytest.raises(poplib.error_proto, match="Authentication failed"):
            pop.pass_(f"{POP[1]}-typo{typo}")
        pop.quit()


def test_typos_from_the_host_leave_no_penalty_on_its_address(lab, engine):
    """Every Thunderbird of the course connects from the host gateway: Dovecot's per-IP
    penalty (up to 15 s before every login, the right one included) must not build up
    there. Each failure is still answered after auth_failure_delay."""
    _wrong_pop3_logins(5)
    mail = ctr.find_containers(engine, INSTANCE)["mail"]
    code, output = mail.exec_run(["doveadm", "-c", "/etc/labctl/mail/dovecot.conf", "penalty"])
    assert code == 0, output.decode()
    assert str(lab.network.gateway) not in output.decode()
    pop = poplib.POP3(MAIL, 110, timeout=30)
    pop.user(POP[0])
    assert pop.pass_(POP[1]).startswith(b"+OK")
    pop.quit()
