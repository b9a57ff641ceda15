"""The webmail in a real browser: Roundcube (Debian) over HTTPS with the lab CA's certificate for
webmail.<domain>, logging in over IMAP, reading, and sending through submission with AUTH."""
from __future__ import annotations

import email
import imaplib
import smtplib
import subprocess
import time
import uuid

import pytest
import yaml

from labctl.paths import tls_dir
from labctl.render.tls import CA_CERT
from labctl.runtime import project
from labctl.spec.loader import load_lab

from webmail_browser import browser, login, open_message, send, trusting_home

INSTANCE = "webmail-test"
DOMAIN = "redes2024.com.ar"
SUBNET = "172.31.218"
MAIL_IP, WEBMAIL_IP = f"{SUBNET}.111", f"{SUBNET}.8"
WEBMAIL = f"webmail.{DOMAIN}"
USER, PASSWORD = "alumno", "alumnopass"


def _lab_file(folder) -> str:
    data = {
        "name": "webmail-test",
        "title": "webmail test",
        "network": {"name": "wmnet", "subnet": f"{SUBNET}.0/24", "gateway": f"{SUBNET}.1"},
        "resolver": "ns1",
        "services": {
            "ns1": {"role": "dns", "ip": f"{SUBNET}.65", "hostname": f"ns1.{DOMAIN}", "zones": [DOMAIN]},
            "mail": {"role": "mail", "ip": MAIL_IP, "hostname": f"mail.{DOMAIN}", "mail_domains": [DOMAIN]},
            "correo": {"role": "webmail", "ip": WEBMAIL_IP, "hostname": f"correo.{DOMAIN}", "mail_service": "mail"},
        },
        "zones": {DOMAIN: {
            "ttl": 300,
            "soa": {"mname": f"ns1.{DOMAIN}.", "rname": f"root.{DOMAIN}.", "serial": 1, "refresh": 60,
                    "retry": 60, "expire": 600, "negative": 60},
            "records": [{"name": "@", "type": "NS", "value": "ns1"}, {"name": "ns1", "type": "A", "value": f"{SUBNET}.65"},
                        {"name": "@", "type": "MX", "priority": 10, "value": "mail"},
                        {"name": "mail", "type": "A", "value": MAIL_IP},
                        {"name": "webmail", "type": "A", "value": WEBMAIL_IP}],
        }},
        "mail_domains": {DOMAIN: {"accounts": [{"user": USER, "password": PASSWORD},
                                               {"user": "redes", "password": "redespass"}]}},
    }
    path = folder / "lab.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def webmail_lab(engine, tmp_path_factory):
    lab = load_lab(_lab_file(tmp_path_factory.mktemp("webmail-lab")))
    project.down(engine, INSTANCE)
    project.up(engine, lab, INSTANCE)
    try:
        yield lab
    finally:
        project.down(engine, INSTANCE)


def _imap_messages(user: str, password: str) -> list[email.message.Message]:
    with imaplib.IMAP4(MAIL_IP, 143) as imap:
        imap.login(user, password)
        imap.select("INBOX", readonly=True)
        _, numbers = imap.search(None, "ALL")
        found = []
        for number in numbers[0].split():
            _, data = imap.fetch(number, "(RFC822)")
            found.append(email.message_from_bytes(data[0][1]))
        return found


def test_certificate_chains_to_the_lab_ca_for_the_webmail_name(webmail_lab, tmp_path):
    chain = subprocess.run(["openssl", "s_client", "-connect", f"{WEBMAIL_IP}:443", "-servername", WEBMAIL,
                            "-showcerts"], input=b"", capture_output=True, timeout=20).stdout.decode()
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(chain[chain.index("-----BEGIN CERTIFICATE-----"):chain.index("-----END CERTIFICATE-----") + 25])
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(tls_dir(INSTANCE) / CA_CERT),
                               "-verify_hostname", WEBMAIL, str(leaf)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    wrong_name = subprocess.run(["openssl", "verify", "-CAfile", str(tls_dir(INSTANCE) / CA_CERT),
                                 "-verify_hostname", f"mail.{DOMAIN}", str(leaf)], capture_output=True, text=True)
    assert wrong_name.returncode != 0


def test_login_read_and_send_in_a_browser_that_trusts_the_lab_ca(webmail_lab, tmp_path):
    token = uuid.uuid4().hex[:8]
    incoming = f"Bienvenida {token}"
    with smtplib.SMTP(MAIL_IP, 25) as smtp:
        smtp.sendmail(f"redes@{DOMAIN}", [f"{USER}@{DOMAIN}"],
                      f"From: redes@{DOMAIN}\r\nTo: {USER}@{DOMAIN}\r\nSubject: {incoming}\r\n\r\n"
                      f"Cuerpo del mensaje {token}.\r\n".encode())
    home = trusting_home(tmp_path / "home", tls_dir(INSTANCE) / CA_CERT)
    with browser(home, {WEBMAIL: WEBMAIL_IP}) as chromium:
        # No ignore_https_errors: the page loads only because the certificate chains to the lab CA.
        page = chromium.new_page()
        login(page, WEBMAIL, USER, PASSWORD)
        # Read: the message list and the message come from Dovecot over IMAP.
        open_message(page, incoming)
        assert page.get_by_text(f"Cuerpo del mensaje {token}.").first.is_visible()
        page.screenshot(path=str(tmp_path / "webmail-read.png"), full_page=True)
        # Send: Roundcube hands the message to the MSA (587) with AUTH as the logged-in user.
        outgoing = f"Desde el webmail {token}"
        send(page, WEBMAIL, f"redes@{DOMAIN}", outgoing, f"Enviado con Roundcube {token}.")
        page.screenshot(path=str(tmp_path / "webmail-sent.png"), full_page=True)
    deadline = time.monotonic() + 20
    while not (sent := [m for m in _imap_messages("redes", "redespass") if m["Subject"] == outgoing]):
        assert time.monotonic() < deadline, "the mail sent from the webmail never reached redes"
        time.sleep(0.5)
    message = sent[0]
    assert message["From"].endswith(f"<{USER}@{DOMAIN}>") or message["From"] == f"{USER}@{DOMAIN}"
    received = message.get_all("Received")[0]
    # Our MSA names the webmail's address and AUTH in its trace field (RFC 3848 ESMTPA).
    assert f"[{WEBMAIL_IP}]" in received and "with ESMTPA" in received
    for name in ("webmail-read.png", "webmail-sent.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    print(f"screenshots in {tmp_path}")


def test_what_the_webmail_writes_is_bounded_not_the_hosts_disk(webmail_lab, engine):
    """Roundcube (www-data) keeps a student's uploads in its temp folder, logs every failed
    login and stores a session for every request without a cookie; nginx buffers request
    bodies; PHP its uploads: each folder is a tmpfs of a fixed size, and the container's own
    layer (the host's disk, unbounded) gets none of it. Before: 1198 requests for the login
    page in 10 s grew the layer by 1 MB (Roundcube's database, 380 MB an hour)."""
    import re
    import ssl
    import urllib.request
    from pathlib import Path

    from labctl.render.plan import WEBMAIL_DATABASE_DIR

    webmail = engine.containers.get(f"{INSTANCE}-correo")
    upper = Path(webmail.attrs["GraphDriver"]["Data"]["UpperDir"])

    def layer() -> int:
        return sum(p.stat().st_size for p in upper.rglob("*") if p.is_file() and not p.is_symlink())

    before = layer()
    trusting = ssl.create_default_context(cafile=str(tls_dir(INSTANCE) / CA_CERT))
    trusting.check_hostname = False  # reached by address (the host does not resolve the lab's names)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=trusting))
    for _ in range(600):  # a new session each: no cookie is kept
        with opener.open(f"https://{WEBMAIL_IP}/", timeout=10) as page:
            assert re.search(rb'name="_token"', page.read())
    for folder, bound_mib in (("/var/lib/roundcube/temp", 32), (WEBMAIL_DATABASE_DIR, 16), ("/var/log/roundcube", 4), ("/tmp", 16)):
        code, output = webmail.exec_run(["setpriv", "--reuid=33", "--regid=33", "--clear-groups", "sh", "-c",
                                         f"dd if=/dev/zero of={folder}/relleno bs=1M count=200 2>&1; s=$?; du -m {folder}/relleno; rm {folder}/relleno; exit $s"])
        text = output.decode()
        assert code != 0 and "No space left on device" in text, (folder, text)
        assert int(text.split()[-2]) <= bound_mib, (folder, text)
    grown = layer() - before
    print(f"webmail layer after 600 new sessions and 200 MB written per folder: {grown / 1024:+.0f} KiB")
    assert grown < 100 << 10
