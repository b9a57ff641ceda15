"""Our MSA (port 587: exercise 8, Thunderbird, the webmail) against Debian's Postfix 3.7 with
Dovecot 2.3's SASL (bench/postfix-submission): Debian's own submission entry of master.cf, with
TLS offered but not required, as the lab has it (the course logs in over plaintext on 110/143).

Each dialogue is sent to both, and every reply must be the same, line for line: the banner
(Postfix is given ours), the EHLO list (less SMTPUTF8, which the course's server does not
offer), MAIL and RCPT without AUTH, AUTH PLAIN and LOGIN with and without an initial
response, cancelled with "*", with bad base64, an unknown mechanism, AUTH twice, AUTH before
EHLO, and AUTH after STARTTLS.
"""
from __future__ import annotations

import base64
import re
import ssl
from pathlib import Path

import pytest

from .conftest import (IMAP, POP, POSTFIX_SUBMISSION, RawClient, RunningServer, make_config, maildir_files,
                       postfix_container, wait_for)

pytestmark = pytest.mark.docker


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


PLAIN = b64("\0alumnopop\0alumnopoppass")
WRONG = b64("\0alumnopop\0wrong")
STARTTLS = "STARTTLS"  # a step that is answered and then wraps the connection in TLS

# (the command lines sent) per session; each line is answered by one reply. Few wrong passwords
# per case: each one is answered late (Dovecot's auth_failure_delay, our throttle).
DIALOGUES = {
    "MAIL and RCPT without AUTH": [
        "EHLO pc", f"MAIL FROM:<{POP}>", f"RCPT TO:<{IMAP}>", "RCPT TO:<alguien@otro.example>", "RCPT TO:<nadie>",
        "DATA", "VRFY alumnoimap", "VRFY postmaster", "RCPT TO:<Postmaster>", "RSET", "QUIT"],
    "AUTH PLAIN with an initial response, then a transaction": [
        "EHLO pc", f"AUTH PLAIN {PLAIN}", "AUTH PLAIN", f"MAIL FROM:<{IMAP}>", "AUTH LOGIN",
        "RCPT TO:<alguien@otro.example>", "RCPT TO:<nadie@redes.unlp.edu.ar>", "RCPT TO:<alumnoimap>",
        "VRFY nadie", "QUIT"],
    "AUTH before EHLO": [f"AUTH PLAIN {PLAIN}", "EHLO pc", "QUIT"],
    "AUTH after HELO": ["HELO pc", f"AUTH PLAIN {PLAIN}", "QUIT"],
    "a wrong password, then the right one": ["EHLO pc", f"AUTH PLAIN {WRONG}", f"AUTH PLAIN {PLAIN}", "QUIT"],
    "AUTH PLAIN without an initial response; cancelled; bad base64": [
        "EHLO pc", "AUTH PLAIN", "*", "AUTH PLAIN", "%%%", "AUTH PLAIN", "=", "AUTH PLAIN ###", "AUTH PLAIN AGFsd",
        "AUTH PLAIN", PLAIN, "QUIT"],
    "mechanisms and arguments": [
        "EHLO pc", "AUTH FOO", "AUTH", "AUTH PLAIN a b", "AUTH CRAM-MD5", "auth plain =", "QUIT"],
    "AUTH LOGIN: prompts, an initial response, '=', cancelled": [
        "EHLO pc", "AUTH LOGIN", b64("alumnopop"), "*", "AUTH LOGIN =", b64("alumnopop"), "*", "AUTH LOGIN ###",
        "AUTH LOGIN", "###", f"AUTH LOGIN {b64('alumnoimap@redes.unlp.edu.ar')}", b64("alumnoimappass"), "QUIT"],
    "AUTH LOGIN with an empty user name or password": [
        "EHLO pc", "AUTH LOGIN", "", b64("alumnopoppass"), "AUTH LOGIN", b64("alumnopop"), "", "QUIT"],
    "AUTH PLAIN as someone else, without NULs, with the user as authzid": [
        "EHLO pc", f"AUTH PLAIN {b64('alumnoimap' + chr(0) + 'alumnopop' + chr(0) + 'alumnopoppass')}",
        f"AUTH PLAIN {b64('alumnopop')}", f"AUTH PLAIN {b64('ALUMNOPOP@redes.unlp.edu.ar' + chr(0) + 'alumnopop' + chr(0) + 'alumnopoppass')}",
        f"AUTH PLAIN {b64('alumnopop' + chr(0) + 'ALUMNOPOP' + chr(0) + 'alumnopoppass')}",
        f"AUTH PLAIN {b64('alumnopop@redes.unlp.edu.ar' + chr(0) + 'ALUMNOPOP' + chr(0) + 'alumnopoppass')}", "QUIT"],
    "AUTH PLAIN with the same authzid as sent": [
        "EHLO pc", f"AUTH PLAIN {b64('ALUMNOPOP' + chr(0) + 'ALUMNOPOP' + chr(0) + 'alumnopoppass')}", "QUIT"],
    "logins: unknown, another realm, the full address in capitals": [
        "EHLO pc", f"AUTH PLAIN {b64(chr(0) + 'nadie' + chr(0) + 'x')}",
        f"AUTH PLAIN {b64(chr(0) + 'alumnopop@otro.example' + chr(0) + 'alumnopoppass')}",
        f"AUTH PLAIN {b64(chr(0) + 'ALUMNOPOP@REDES.UNLP.EDU.AR' + chr(0) + 'alumnopoppass')}", "QUIT"],
    "a response and an initial response past Postfix's 2048 octets": [
        "EHLO pc", "AUTH PLAIN", "QUFB" * 3000, "AUTH PLAIN " + "QUFB" * 600, f"AUTH PLAIN {PLAIN}", "QUIT"],
    "AUTH after STARTTLS": ["EHLO pc", STARTTLS, "EHLO pc", f"AUTH PLAIN {PLAIN}", "STARTTLS", "QUIT"],
}


def replies(port: int, steps: list[str]) -> list[str]:
    client = RawClient(port)
    try:
        answers = [client.reply()]
        for step in steps:
            reply = client.command(step)
            if step == STARTTLS and reply.startswith("220 "):
                context = ssl.create_default_context()
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
                client.sock = context.wrap_socket(client.sock)
            # Debian's 3.7 offers SMTPUTF8; the course's server and ours do not.
            answers.append(reply.replace("250-SMTPUTF8\n", ""))
        return answers
    finally:
        client.close()


@pytest.fixture(scope="module")
def postfix_submission(engine, test_label, certificate):
    cert, _ = certificate
    setup = ("postconf -e 'smtpd_banner = $myhostname ESMTP Postfix (Lihuen-4.01/GNU)' "
             "'smtpd_tls_cert_file = /etc/peer-tls/cert.pem' 'smtpd_tls_key_file = /etc/peer-tls/key.pem' && "
             "postconf -P submission/inet/smtpd_tls_security_level=may submission/inet/smtpd_tls_auth_only=no")
    with postfix_container(engine, {test_label: "postfix-submission-parity"}, setup, peer=POSTFIX_SUBMISSION, port=587,
                           volumes={str(Path(cert).parent): {"bind": "/etc/peer-tls", "mode": "ro"}}) as (_, port):
        yield port


@pytest.fixture(scope="module")
def ours(tmp_path_factory, certificate):
    cert, key = certificate
    with RunningServer(make_config(tmp_path_factory.mktemp("submission"), tls_cert=cert, tls_key=key)) as server:
        yield server.submission_port


@pytest.mark.parametrize("case", DIALOGUES)
def test_submission_replies_match_postfix_with_dovecot_sasl(postfix_submission, ours, case):
    expected = replies(postfix_submission, DIALOGUES[case])
    assert replies(ours, DIALOGUES[case]) == expected


def test_unauthenticated_recipients_are_refused_as_debian_submission_refuses_them(postfix_submission):
    """What the parity above rests on, read from the real Postfix: MAIL is taken, every
    recipient but the bare postmaster is refused, a login then lets the same client send."""
    assert replies(postfix_submission, DIALOGUES["MAIL and RCPT without AUTH"])[2:5] == [
        "250 2.1.0 Ok", f"554 5.7.1 <{IMAP}>: Recipient address rejected: Access denied",
        "554 5.7.1 <alguien@otro.example>: Recipient address rejected: Access denied"]
    assert replies(postfix_submission, DIALOGUES["AUTH PLAIN with an initial response, then a transaction"])[6:9] == [
        "250 2.1.5 Ok"] * 3


def test_an_authenticated_mail_to_an_unknown_local_user_bounces(tmp_path):
    """Debian's submission takes it (smtpd_reject_unlisted_recipient = no); the sender gets
    the bounce, the other recipient the mail."""
    import smtplib

    with RunningServer(make_config(tmp_path)) as server:
        with smtplib.SMTP("127.0.0.1", server.submission_port) as client:
            client.login("alumnopop", "alumnopoppass")
            refused = client.sendmail(POP, ["nadie@redes.unlp.edu.ar", IMAP], b"Subject: a nadie\r\n\r\nhola\r\n")
        assert refused == {}
        wait_for(lambda: maildir_files(server.config, "alumnoimap"))
        [bounce] = wait_for(lambda: maildir_files(server.config, "alumnopop"))
        text = bounce.read_text()
        assert "Final-Recipient: rfc822; nadie@redes.unlp.edu.ar" in text
        assert re.search(r"Action: failed\nStatus: 5\.1\.1", text)
