"""Our replies against Debian's Postfix (bench/postfix: bookworm's 3.7, set up like the course server)
for what students type by hand: bare LF lines (nc without -C), MAIL before EHLO, an address without
domain, an unknown user, a long body line, tab-separated words, blanks before a command, lower case,
commands out of order, the server's own names as domain, VRFY, ETRN, STARTTLS where there is no TLS,
NOOP (and a loop of it), HELP and a made-up command.

Postfix listens on a 127.0.0.1 port published from its container; ours runs in-process.
Queue ids are the only thing that differs by design and are masked.
"""
from __future__ import annotations

import re
import ssl
from pathlib import Path

import pytest

from .conftest import POP, RawClient, RunningServer, make_config, postfix_container

pytestmark = pytest.mark.docker

# (what is sent, as the client's octets) per step; each step is answered by one reply.
DIALOGUES = {
    "typed with bare LF": [
        b"EHLO alumno\n", f"MAIL FROM:<{POP}>\n".encode(), b"RCPT TO:<alumnoimap>\n", b"DATA\n",
        b"Subject: a mano\n\nhola\n.\n", b"QUIT\n"],
    "MAIL before EHLO, addresses without domain": [
        b"MAIL FROM:<alumnopop>\r\n", b"RCPT TO:<nadie>\r\n", b"RCPT TO:<alumnoimap>\r\n", b"DATA\r\n",
        b"Subject: sin saludo\r\n\r\nx\r\n.\r\n", b"QUIT\r\n"],
    "long body line": [
        b"EHLO alumno\r\n", f"MAIL FROM:<{POP}>\r\n".encode(), b"RCPT TO:<alumnoimap@redes.unlp.edu.ar>\r\n",
        b"DATA\r\n", b"Subject: larga\r\n\r\n" + b"a" * 5000 + b"\r\n.\r\n", b"QUIT\r\n"],
    "tab between words": [
        b"EHLO alumno\r\n", f"MAIL\tFROM:<{POP}>\r\n".encode(), b"RSET\r\n", b"QUIT\r\n"],
    "lower case, a space after the colon, no angle brackets": [
        b"ehlo alumno\r\n", f"mail from: <{POP}>\r\n".encode(), b"rcpt to: alumnoimap@redes.unlp.edu.ar\r\n",
        b"data\r\n", b"Subject: minusculas\r\n\r\nhola\r\n.\r\n", b"quit\r\n"],
    "commands out of order": [
        b"EHLO alumno\r\n", b"RCPT TO:<alumnoimap@redes.unlp.edu.ar>\r\n", b"DATA\r\n", f"MAIL FROM:<{POP}>\r\n".encode(),
        f"MAIL FROM:<{POP}>\r\n".encode(), b"DATA\r\n", b"RCPT TO:<nadie@redes.unlp.edu.ar>\r\n", b"DATA\r\n", b"QUIT\r\n"],
    "relay to another domain, and VRFY of it": [
        b"EHLO alumno\r\n", f"MAIL FROM:<{POP}>\r\n".encode(), b"RCPT TO:<uno@otro.unlp.edu.ar>\r\n",
        b"VRFY uno@otro.unlp.edu.ar\r\n", b"QUIT\r\n"],
    "arguments left out": [
        b"EHLO\r\n", b"HELO\r\n", b"EHLO alumno\r\n", b"MAIL FROM:\r\n", b"MAIL\r\n", b"MAIL FROM:<>\r\n",
        b"RCPT TO:<>\r\n", b"RCPT TO:\r\n", b"RCPT\r\n", b"AUTH PLAIN\r\n", b"QUIT\r\n"],
    # Thunderbird's parameters (and a DSN request), after HELO too, and what a student mistypes;
    # each case stays under Postfix's smtpd_soft_error_limit (10), past which it sleeps per error.
    "ESMTP parameters on MAIL": [
        b"HELO alumno\r\n", f"MAIL FROM:<{POP}> SIZE=10\r\n".encode(), b"RSET\r\n", b"EHLO alumno\r\n",
        f"MAIL FROM:<{POP}> body=8bitmime SIZE=300 RET=HDRS ENVID=abc+2Bdef AUTH=<>\r\n".encode(), b"RSET\r\n",
        f"MAIL FROM:<{POP}> BODY=BINARYMIME\r\n".encode(), f"MAIL FROM:<{POP}> SIZE=abc\r\n".encode(),
        f"MAIL FROM:<{POP}> SIZE\r\n".encode(), f"MAIL FROM:<{POP}> RET=HDRS RET=FULL\r\n".encode(),
        f"MAIL FROM:<{POP}> ENVID=ab+2\r\n".encode(), f"MAIL FROM:<{POP}> ENVID=a=b\r\n".encode(), b"RSET\r\n",
        # Last: Postfix keeps a refused SIZE until RSET, and would refuse the next MAIL with it.
        f"MAIL FROM:<{POP}> SIZE=99999999 FOO=bar\r\n".encode(), f"MAIL FROM:<{POP}> SIZE=99999999\r\n".encode(),
        b"QUIT\r\n"],
    "ESMTP parameters on RCPT": [
        b"EHLO alumno\r\n", f"MAIL FROM:<{POP}>\r\n".encode(),
        b"RCPT TO:<alumnoimap@redes.unlp.edu.ar> NOTIFY=success,failure ORCPT=rfc822;alumnoimap@redes.unlp.edu.ar\r\n",
        b"RCPT TO:<alumnoimap@redes.unlp.edu.ar> NOTIFY=NEVER,SUCCESS\r\n", b"RCPT TO:<alumnoimap@redes.unlp.edu.ar> NOTIFY\r\n",
        b"RCPT TO:<alumnoimap@redes.unlp.edu.ar> NOTIFY=DELAY NOTIFY=NEVER\r\n",
        b"RCPT TO:<alumnoimap@redes.unlp.edu.ar> ORCPT=rfc822\r\n", b"RCPT TO:<alumnoimap@redes.unlp.edu.ar> ORCPT=x;a+2\r\n",
        b"RCPT TO:<alumnoimap@redes.unlp.edu.ar> FOO=bar\r\n", b"RCPT TO:<alumnoimap@redes.unlp.edu.ar> NOTIFY=NEVER,NEVER\r\n",
        b"QUIT\r\n"],
    "blanks before a command, blank lines, words after QUIT": [
        b"EHLO alumno\r\n", b" NOOP\r\n", b"\tRSET\r\n", b" \r\n", b"\t\r\n", b"QUIT ahora\r\n"],
    "VRFY answers with the address as typed": [
        b"HELO alumno\r\n", b"VRFY <alumnoimap>\r\n", b"VRFY ALUMNOIMAP\r\n", b"VRFY alumnoimap@redes.unlp.edu.ar\r\n",
        b"VRFY <alumnoimap@redes.unlp.edu.ar>\r\n", b"VRFY nadie\r\n", b"VRFY <nadie@redes.unlp.edu.ar>\r\n", b"VRFY a b\r\n",
        b"VRFY <>\r\n", b"QUIT\r\n"],
    # ETRN is in the EHLO list students read; Postfix answers it without enhanced codes.
    "ETRN before HELO, without a domain, in a transaction": [
        b"ETRN redes.unlp.edu.ar\r\n", b"EHLO alumno\r\n", b"ETRN\r\n", b"ETRN uno dos\r\n", b"ETRN #otro.example\r\n",
        b"ETRN @otro.example\r\n", f"MAIL FROM:<{POP}>\r\n".encode(), b"ETRN otro.example\r\n", b"QUIT\r\n"],
    # Debian's mydestination: the host name and localhost are ours too; a final dot and quotes change nothing.
    "the server's own names, a final dot, a quoted local part": [
        b"EHLO alumno\r\n", f"MAIL FROM:<{POP}>\r\n".encode(), b"RCPT TO:<alumnoimap@mail.redes.unlp.edu.ar>\r\n",
        b"RCPT TO:<nadie@mail.redes.unlp.edu.ar>\r\n", b"RCPT TO:<alumnoimap@localhost>\r\n",
        b"RCPT TO:<alumnoimap@redes.unlp.edu.ar.>\r\n", b'RCPT TO:<"alumnoimap"@redes.unlp.edu.ar>\r\n',
        b"RCPT TO:<x%otro.example@redes.unlp.edu.ar>\r\n", b"RCPT TO:<otro.example!x@mail.redes.unlp.edu.ar>\r\n",
        b"DATA\r\n", b"Subject: nombres\r\n\r\nx\r\n.\r\n", b"QUIT\r\n"],
    # Postfix drops blanks inside the brackets, takes dots anywhere in a local part, and names a
    # quoted local part unquoted in its replies.
    "blanks inside the brackets, misplaced dots, quoted local parts": [
        b"EHLO alumno\r\n", f"MAIL FROM:< {POP} >\r\n".encode(), b"RCPT TO:<\t alumnoimap@redes.unlp.edu.ar >\r\n",
        b"RCPT TO:<alumno..imap@redes.unlp.edu.ar>\r\n", b"RCPT TO:<.alumnoimap@redes.unlp.edu.ar>\r\n",
        b"RCPT TO:<alumnoimap.@redes.unlp.edu.ar>\r\n", b"RCPT TO:<a..b@otro.example>\r\n",
        b'RCPT TO:<"alumno imap"@redes.unlp.edu.ar>\r\n', b'RCPT TO:<"x"@otro.example>\r\n', b"DATA\r\n",
        b"Subject: espacios\r\n\r\nx\r\n.\r\n", b"QUIT\r\n"],
    # Postfix's own addresses are local (inet_interfaces = all): 127.0.0.1 is in both hosts.
    "the server's own address literal": [
        b"EHLO alumno\r\n", f"MAIL FROM:<{POP}>\r\n".encode(), b"RCPT TO:<alumnoimap@[127.0.0.1]>\r\n",
        b"RCPT TO:<alumnoimap@[192.0.2.99]>\r\n", b"RCPT TO:<alumnoimap@[127.0.0.2]>\r\n", b"DATA\r\n",
        b"Subject: literal\r\n\r\nx\r\n.\r\n", b"QUIT\r\n"],
    # RFC 3030: after a refused chunk the later ones are dropped up to LAST; a count that is no
    # number leaves no way to find the next command, and Postfix hangs up.
    "BDAT: a chunk over the size limit, what the client pipelined after it, a count that is no number": [
        b"EHLO alumno\r\n", f"MAIL FROM:<{POP}>\r\n".encode(), b"RCPT TO:<alumnoimap@redes.unlp.edu.ar>\r\n",
        b"BDAT 4\r\nab\r\n", b"BDAT 10240001\r\n" + b"x" * 10240001, b"BDAT 3\r\nabc",
        b"RCPT TO:<alumnoimap@redes.unlp.edu.ar>\r\n", b"DATA\r\n", b"BDAT 3 LAST\r\nabc",
        b"RCPT TO:<alumnoimap@redes.unlp.edu.ar>\r\n", b"BDAT x\r\n"],
    # BDAT LAST is answered with the size taken: bare LFs made CRLF, CRs before a line end
    # dropped, a last line ended.
    "BDAT: the size in the reply": [
        b"EHLO alumno\r\n", f"MAIL FROM:<{POP}>\r\n".encode(), b"RCPT TO:<alumnoimap@redes.unlp.edu.ar>\r\n",
        b"BDAT 4\r\nab\r\n", b"BDAT 3 LAST\r\nabc", f"MAIL FROM:<{POP}>\r\n".encode(),
        b"RCPT TO:<alumnoimap@redes.unlp.edu.ar>\r\n", b"BDAT 11 LAST\r\nab\r\r\nc\nd\r\ne", f"MAIL FROM:<{POP}>\r\n".encode(),
        b"RCPT TO:<alumnoimap@redes.unlp.edu.ar>\r\n", b"BDAT 0 LAST\r\n", b"QUIT\r\n"],
    # "openssl s_client -crlf" or "nc -C" fed a file that has CRLF already: CR CR LF. Postfix takes
    # every CR before the LF as the line end, in commands and in DATA.
    "CR CR LF line ends": [
        b"EHLO alumno\r\r\n", f"MAIL FROM:<{POP}>\r\r\n".encode(), b"RCPT TO:<alumnoimap@redes.unlp.edu.ar>\r\r\r\n",
        b"DATA\r\r\n", b"Subject: crcr\r\r\n\r\r\nlinea\r\r\n.\r\r\n", b"NOOP\r\r\n", b"RSET \r\r\n", b"QUIT\r\r\n"],
    # RFC 5321 4.5.1: every domain takes postmaster, in any case (Debian's Postfix: to root).
    "postmaster": [
        b"EHLO alumno\r\n", b"VRFY postmaster\r\n", f"MAIL FROM:<{POP}>\r\n".encode(), b"RCPT TO:<postmaster>\r\n",
        b"RCPT TO:<Postmaster@redes.unlp.edu.ar>\r\n", b"RCPT TO:<POSTMASTER@mail.redes.unlp.edu.ar>\r\n",
        b"DATA\r\n", b"Subject: al postmaster\r\n\r\nx\r\n.\r\n", b"QUIT\r\n"],
    "STARTTLS on a server without a certificate": [b"EHLO alumno\r\n", b"STARTTLS\r\n", b"QUIT\r\n"],
    # Past 100 NOOPs each one is an error (smtpd_junk_command_limit); past 10 errors every reply
    # waits a second (smtpd_error_sleep_time); at 20 the session ends: the 121st NOOP gets 421.
    "a client looping on NOOP": [b"EHLO alumno\r\n"] + [b"NOOP\r\n"] * 121,
    # Postfix's line_length_limit (2048): longer commands are cut there, the rest of the line dropped.
    "command lines of 1001 to 2048 octets, and longer": [
        b"EHLO " + b"b" * 1500 + b"\r\n", f"MAIL FROM:<{POP}> ENVID={'x' * 1900}\r\n".encode(), b"RSET\r\n",
        b"NOOP " + b"a" * 2043 + b"\r\n", b"NOOP " + b"a" * 3000 + b"\r\n", b"MAIL FROM:<" + b"a" * 2100 + b"@redes.unlp.edu.ar>\r\n",
        f"MAIL FROM:<{POP}>".encode() + b" " * 3000 + b"SIZE=10\r\n",
        b"RCPT TO:<alumnoimap@redes.unlp.edu.ar> " + b" ".join([b"NOTIFY=SUCCESS"] * 100) + b"\r\n",
        b"RCPT TO:<" + b"a" * 2100 + b"@redes.unlp.edu.ar>\n", b"QUIT\r\n"],
    # Postfix hangs up on a message header sent as a command, and on HTTP (smtpd_forbidden_commands).
    "a message header typed before DATA": [b"EHLO alumno\r\n", f"MAIL FROM:<{POP}>\r\n".encode(), b"Subject: hola\r\n"],
    "the message sent after a refused DATA": [
        b"EHLO alumno\r\n", f"MAIL FROM:<{POP}>\r\n".encode(), b"RCPT TO:<nadie@redes.unlp.edu.ar>\r\n", b"DATA\r\n",
        b"Subject: x\r\n\r\nhola\r\n.\r\n"],
    "a browser on port 25": [b"GET / HTTP/1.1\r\n"],
    "words like a header that are none": [b"EHLO alumno\r\n", b"From alumno\r\n", b"X-Foo : bar\r\n", b"Subject\r\n", b"QUIT\r\n"],
    # smtpd_recipient_limit (1000) counts every RCPT answered 250, the same address again too.
    "more recipients than the limit": [
        b"EHLO alumno\r\n", f"MAIL FROM:<{POP}>\r\n".encode()] + [b"RCPT TO:<alumnoimap@redes.unlp.edu.ar>\r\n"] * 1001 + [
        b"RSET\r\n", b"QUIT\r\n"],
    # Debian's recipient_delimiter = +: alumnoimap+algo@ is alumnoimap's (the address a student gives a web site).
    "an address extension": [
        b"EHLO alumno\r\n", f"MAIL FROM:<{POP}>\r\n".encode(), b"RCPT TO:<alumnoimap+algo@redes.unlp.edu.ar>\r\n",
        b"RCPT TO:<nadie+algo@redes.unlp.edu.ar>\r\n", b"RCPT TO:<+algo@redes.unlp.edu.ar>\r\n", b"VRFY alumnoimap+x\r\n",
        b"DATA\r\n", b"Subject: extension\r\n\r\nx\r\n.\r\n", b"QUIT\r\n"],
    # An address literal Postfix cannot read is bad syntax, not another host.
    "address literals that are no address": [
        b"EHLO alumno\r\n", f"MAIL FROM:<{POP}>\r\n".encode(), b"RCPT TO:<a@[1.2.3]>\r\n", b"RCPT TO:<a@[300.1.1.1]>\r\n",
        b"RCPT TO:<a@[IPv6:1.2.3.4]>\r\n", b"RCPT TO:<a@[x:y]>\r\n", b"RCPT TO:<a@[192.0.2.1]>\r\n",
        b"RCPT TO:<a@[IPv6:2001:db8::1]>\r\n", b"QUIT\r\n"],
    "other commands a student tries": [
        b"HELO alumno\r\n", b"NOOP\r\n", b"VRFY alumnoimap\r\n", b"HELP\r\n", b"EXPN alumnoimap\r\n", b"HOLA\r\n",
        b"RSET\r\n", b"QUIT\r\n"],
}

WITHOUT_A_MESSAGE = {"a message header typed before DATA", "the message sent after a refused DATA", "a browser on port 25",
                     "words like a header that are none", "command lines of 1001 to 2048 octets, and longer", "blanks before a command, blank lines, words after QUIT", "VRFY answers with the address as typed",
                     "ETRN before HELO, without a domain, in a transaction", "STARTTLS on a server without a certificate",
                     "a client looping on NOOP", "BDAT: a chunk over the size limit, what the client pipelined after it, a count that is no number",
                     "tab between words", "commands out of order", "more recipients than the limit", "address literals that are no address", "other commands a student tries", "arguments left out",
                     "relay to another domain, and VRFY of it", "ESMTP parameters on MAIL", "ESMTP parameters on RCPT"}


def replies(port: int, steps: list[bytes]) -> list[str]:
    client = RawClient(port)
    try:
        assert client.reply().startswith("220 ")
        answers = []
        for sent in steps:
            client.send(sent)
            # Whole replies: EHLO's keywords in their order too (neither server has a certificate here).
            answers.append(re.sub(r"queued as [0-9A-F]+", "queued as <id>", client.reply()))
        return answers
    finally:
        client.close()


@pytest.fixture(scope="module")
def postfix_port(engine, test_label):
    # The test connects through docker-proxy, from an address of the image's mynetworks: only
    # loopback is trusted here, as in Debian's main.cf, so that relaying is refused as to a student.
    # The course's server offers no SMTPUTF8 (COURSE.md: its EHLO list), nor do we.
    setup = "postconf -e 'mynetworks = 127.0.0.0/8' 'smtputf8_enable = no'"
    with postfix_container(engine, {test_label: "postfix-parity"}, setup) as (_, port):
        yield port


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    with RunningServer(make_config(tmp_path_factory.mktemp("parity"))) as server:
        yield server.smtp_port


@pytest.mark.parametrize("case", DIALOGUES)
def test_replies_match_postfix(postfix_port, ours, case):
    expected = replies(postfix_port, DIALOGUES[case])
    assert ("queued as <id>" in " ".join(expected)) == (case not in WITHOUT_A_MESSAGE)
    assert replies(ours, DIALOGUES[case]) == expected


def starttls_replies(port: int) -> list[str]:
    """Commands sent in the same packet as STARTTLS (the CVE-2011-0411 injection) must be dropped,
    not run as if they had come encrypted; then STARTTLS again, and its arguments."""
    client = RawClient(port)
    try:
        assert client.reply().startswith("220 ")
        answers = [client.command("EHLO alumno").split("\n")[0], client.command("STARTTLS now")]
        client.send(b"STARTTLS\r\nMAIL FROM:<inyectado@otro.example>\r\n")
        answers.append(client.reply())
        assert client.buffer == b""  # nothing answered the injected MAIL before the handshake
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        client.sock = context.wrap_socket(client.sock)
        for command in ("EHLO alumno", "RCPT TO:<alumnoimap@redes.unlp.edu.ar>", "STARTTLS", "QUIT"):
            answers.append(client.command(command).split("\n")[0])
        return answers
    finally:
        client.close()


def test_commands_pipelined_behind_starttls_are_dropped_as_postfix_drops_them(engine, test_label, certificate, tmp_path):
    cert, key = certificate
    folder = str(Path(cert).parent)
    setup = ("postconf -e 'mynetworks = 127.0.0.0/8' 'smtpd_tls_security_level = may' "
             "'smtpd_tls_cert_file = /etc/peer-tls/cert.pem' 'smtpd_tls_key_file = /etc/peer-tls/key.pem'")
    with postfix_container(engine, {test_label: "postfix-parity-tls"}, setup,
                           volumes={folder: {"bind": "/etc/peer-tls", "mode": "ro"}}) as (_, port):
        expected = starttls_replies(port)
    assert expected[4] == "503 5.5.1 Error: need MAIL command"  # the injected MAIL was not run
    with RunningServer(make_config(tmp_path, tls_cert=cert, tls_key=key)) as server:
        assert starttls_replies(server.smtp_port) == expected
