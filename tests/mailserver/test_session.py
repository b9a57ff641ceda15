"""What students see on port 25 and 587: banner, keywords, replies, each extension at work."""
from __future__ import annotations

import asyncio

import base64
import json
import re
import smtplib
import ssl
import time
from pathlib import Path

from .conftest import IMAP, POP, RawClient, RunningServer, make_config, maildir_files, raw_session, wait_for

EHLO_KEYWORDS = ["PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "CHUNKING"]
COURSE_MESSAGE = (b"To: alumnoimap@redes.unlp.edu.ar\r\nFrom: alumnopop <alumnopop@redes.unlp.edu.ar>\r\n"
                  b"Subject: estoy probando\r\n\r\nestoy probando holitas\r\n")


def test_ehlo_keywords_match_the_course_server(server):
    client = smtplib.SMTP("127.0.0.1", server.smtp_port)
    assert client.ehlo("[172.28.0.1]")[0] == 250
    assert client.ehlo_resp.decode().split("\n") == ["mail.redes.unlp.edu.ar"] + EHLO_KEYWORDS
    client.quit()


def test_greeting_text(server):
    client = RawClient(server.smtp_port)
    assert client.reply() == "220 mail.redes.unlp.edu.ar ESMTP Postfix (Lihuen-4.01/GNU)"
    client.close()


def test_course_capture_dialogue_and_delivered_headers(server):
    with raw_session(server.smtp_port) as client:
        assert client.command(f"MAIL FROM:<{POP}> BODY=8BITMIME SIZE=467") == "250 2.1.0 Ok"
        assert client.command(f"RCPT TO:<{IMAP}>") == "250 2.1.5 Ok"
        assert client.command("DATA") == "354 End data with <CR><LF>.<CR><LF>"
        queued = client.command(COURSE_MESSAGE.decode() + ".")
        assert re.fullmatch(r"250 2\.0\.0 Ok: queued as [0-9A-F]{10}", queued)
        assert client.command("QUIT") == "221 2.0.0 Bye"
    queue_id = queued.rsplit(" ", 1)[1]
    [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    text = path.read_text()
    assert text.startswith(f"Return-Path: <{POP}>\nX-Original-To: {IMAP}\nDelivered-To: {IMAP}\n"
                           "Received: from [127.0.0.1] (unknown [127.0.0.1])\n"
                           f"\tby mail.redes.unlp.edu.ar (Postfix) with ESMTP id {queue_id}\n"
                           f"\tfor <{IMAP}>; ")
    assert text.endswith("\n\nestoy probando holitas\n")
    assert "\r" not in text


def test_received_names_the_software_the_greeting_names(tmp_path):
    """Postfix's $mail_name fills both its greeting and its Received: field, so a lab that
    greets as the course's Postfix says '(Postfix)' there too; a greeting naming none, labctl."""
    names = {banner: make_config(tmp_path, banner=banner).mail_name for banner in (
        "mail.redes.unlp.edu.ar ESMTP Postfix (Lihuen-4.01/GNU)", "mx.example ESMTP Exim 4.96", "mx.example ESMTP",
        "mail.example.com ESMTP labctl", "mx.example ready")}
    assert list(names.values()) == ["Postfix", "Exim", "labctl", "labctl", "labctl"]


def test_received_of_a_message_for_two_recipients(server):
    """As Postfix's smtpd writes it: with one recipient the date follows "for <...>;"; with
    more, ";" ends the "by" line and the date has a line of its own."""
    with raw_session(server.smtp_port) as client:
        assert client.command(f"MAIL FROM:<{POP}>") == "250 2.1.0 Ok"
        assert client.command(f"RCPT TO:<{IMAP}>") == client.command(f"RCPT TO:<{POP}>") == "250 2.1.5 Ok"
        assert client.command("DATA").startswith("354")
        queue_id = client.command("Subject: a los dos\r\n\r\nhola\r\n.").rsplit(" ", 1)[1]
    [text] = wait_for(lambda: [t for t in (p.read_text() for p in maildir_files(server.config, "alumnoimap"))
                               if "Subject: a los dos" in t])
    assert re.search(rf"\n\tby mail\.redes\.unlp\.edu\.ar \(Postfix\) with ESMTP id {queue_id};\n"
                     rf"\t\w{{3}}, \d+ \w{{3}} \d{{4}} \d\d:\d\d:\d\d \+0000 \(UTC\)\nSubject: a los dos", text), text


def test_every_reply_but_greeting_ehlo_and_etrn_has_an_enhanced_code(server):
    """As Postfix's: its HELO/EHLO syntax errors and ETRN replies alone go without (test_postfix_parity)."""
    commands = ["HELP", "NOOP", "RSET", f"VRFY {POP}", "VRFY nobody", "EXPN x", "MAIL FROM:<bad", f"MAIL FROM:<{POP}>",
                f"RCPT TO:<{IMAP}>", "RCPT TO:<x@elsewhere.example>", "MAIL FROM:<a@b.c>", "DATA extra",
                "AUTH PLAIN", "STARTTLS", "XYZZY", "RSET", "BDAT x"]  # last: a BDAT without a count ends the session
    with raw_session(server.smtp_port) as client:
        for command in commands:
            reply = client.command(command)
            for line in reply.split("\n"):
                assert re.match(r"[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3} ", line), (command, line)


def test_pipelining_all_commands_in_one_write(server):
    with raw_session(server.smtp_port) as client:
        client.send((f"MAIL FROM:<{POP}>\r\nRCPT TO:<{IMAP}>\r\nRCPT TO:<{POP}>\r\nDATA\r\n").encode())
        assert [client.reply() for _ in range(4)] == ["250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok",
                                                      "354 End data with <CR><LF>.<CR><LF>"]
        client.send(b"Subject: p\r\n\r\nbody\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<" + POP.encode() + b">\r\nRSET\r\nQUIT\r\n")
        replies = [client.reply() for _ in range(5)]
    assert replies[0].startswith("250 2.0.0 Ok: queued as ")
    assert replies[1:] == ["250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.0.0 Ok", "221 2.0.0 Bye"]
    wait_for(lambda: maildir_files(server.config, "alumnopop") and maildir_files(server.config, "alumnoimap"))


def test_size_declared_over_limit_is_refused_at_mail(server):
    with raw_session(server.smtp_port) as client:
        assert client.command(f"MAIL FROM:<{POP}> SIZE=10240001") == "552 5.3.4 Message size exceeds fixed limit"
        assert client.command(f"MAIL FROM:<{POP}> SIZE=10240000") == "250 2.1.0 Ok"


def test_size_enforced_on_the_data_itself(tmp_path):
    with RunningServer(make_config(tmp_path, size_limit=1000)) as server:
        with raw_session(server.smtp_port) as client:
            client.command(f"MAIL FROM:<{POP}>")
            client.command(f"RCPT TO:<{IMAP}>")
            client.command("DATA")
            client.send(b"Subject: big\r\n\r\n" + b"x" * 900 + b"\r\n" + b"y" * 900 + b"\r\n.\r\n")
            assert client.reply() == "552 5.3.4 Error: message file too big"
            # The session goes on, and a small message still gets through.
            assert client.command(f"MAIL FROM:<{POP}>") == "250 2.1.0 Ok"
            client.command(f"RCPT TO:<{IMAP}>")
            client.command("DATA")
            assert client.command("Subject: small\r\n\r\nok\r\n.").startswith("250 2.0.0 Ok: queued as")
            # BDAT chunks count against the limit too; the octets are consumed, not taken as commands.
            client.command(f"MAIL FROM:<{POP}>")
            client.command(f"RCPT TO:<{IMAP}>")
            client.send(b"BDAT 2000 LAST\r\n" + b"QUIT\r\n" * 333 + b"xx")
            assert client.reply() == "552 5.3.4 Chunk exceeds message size limit"
            assert client.command("NOOP") == "250 2.0.0 Ok"


def test_vrfy_local_users(server):
    """Postfix repeats what the client typed, in the 252 and in the refusal."""
    with raw_session(server.smtp_port) as client:
        assert client.command("VRFY alumnopop") == "252 2.0.0 alumnopop"
        assert client.command(f"VRFY <{IMAP}>") == f"252 2.0.0 <{IMAP}>"
        assert client.command("VRFY nadie") == (
            "550 5.1.1 <nadie>: Recipient address rejected: User unknown in local recipient table")
        assert client.command("VRFY someone@elsewhere.example") == (
            "454 4.7.1 <someone@elsewhere.example>: Relay access denied")


def test_bdat_chunks_are_assembled_and_delivered(server):
    part1 = b"Subject: chunked\r\n\r\nfirst part, "
    part2 = b"second part\r\n.not stuffed\r\n"
    with raw_session(server.smtp_port) as client:
        client.command(f"MAIL FROM:<{POP}>")
        client.command(f"RCPT TO:<{IMAP}>")
        client.send(f"BDAT {len(part1)}\r\n".encode() + part1)
        assert client.reply() == f"250 2.0.0 Ok: {len(part1)} bytes"
        assert client.command("DATA") == "503 5.5.1 Error: DATA after BDAT"
        client.send(f"BDAT {len(part2)} LAST\r\n".encode() + part2)
        # Postfix names the size of what it took after BDAT LAST.
        assert client.reply().startswith(f"250 2.0.0 Ok: {len(part1 + part2)} bytes queued as ")
        client.command(f"MAIL FROM:<{POP}>")
        client.command(f"RCPT TO:<{POP}>")
        assert client.command("BDAT 0 LAST").startswith("250 2.0.0 Ok: 0 bytes queued as ")
    [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    assert path.read_bytes().endswith(b"\n\nfirst part, second part\n.not stuffed\n")
    wait_for(lambda: maildir_files(server.config, "alumnopop"))


def test_etrn_starts_a_queue_run_for_the_domain(tmp_path, dns_stub):
    # The MX exists but nothing listens on the relay port: deferred for a minute (retry.initial).
    dns_stub.set("remote.example", "MX", ["10 mx.remote.example."])
    dns_stub.set("mx.remote.example", "A", ["127.0.0.1"])
    config = make_config(tmp_path, resolver_port=dns_stub.port, relay_port=1)
    with RunningServer(config) as server:
        client = smtplib.SMTP("127.0.0.1", server.submission_port)
        client.login("alumnopop", "alumnopoppass")
        client.sendmail(POP, ["user@remote.example"], b"Subject: later\r\n\r\nx\r\n")
        client.quit()
        events = lambda kind: [e for e in read_log(config) if e["event"] == kind]  # noqa: E731
        wait_for(lambda: any(e["status"] == "deferred" for e in events("delivery")))
        [message] = server.service.worker.messages.values()
        backoff_until = message.next_attempt
        with raw_session(server.smtp_port) as raw:
            assert raw.command("ETRN") == "500 Syntax: ETRN domain"  # Postfix's words, no enhanced code
            # A stranger may not cut everyone's backoff short (Postfix: only $fast_flush_domains).
            assert raw.command("ETRN remote.example") == "459 <remote.example>: service unavailable"
        assert message.next_attempt == backoff_until > time.time() + 30
        client = smtplib.SMTP("127.0.0.1", server.submission_port)
        client.login("alumnoimap", "alumnoimappass")
        assert client.docmd("ETRN", "remote.example") == (250, b"Queuing started")
        client.quit()
        wait_for(lambda: len(events("delivery")) == 2)
        assert [e["attempt"] for e in events("delivery")] == [1, 2]
        assert [e["allowed"] for e in events("etrn")] == [False, True]


def read_log(config):
    with open(config.log_file) as handle:
        return [json.loads(line) for line in handle]


def test_dsn_parameters_are_accepted_and_validated(server):
    with raw_session(server.smtp_port) as client:
        assert client.command(f"MAIL FROM:<{POP}> RET=HDRS ENVID=abc+2Bdef") == "250 2.1.0 Ok"
        assert client.command(f"RCPT TO:<{IMAP}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;{IMAP}") == "250 2.1.5 Ok"
        assert client.command(f"RCPT TO:<{POP}> NOTIFY=NEVER,SUCCESS").startswith("501 5.5.4")
        assert client.command(f"RCPT TO:<{POP}> FOO=bar") == "555 5.5.4 Unsupported option: FOO=bar"
        assert client.command("RSET") == "250 2.0.0 Ok"
        assert client.command(f"MAIL FROM:<{POP}> RET=SOME") == "501 5.5.4 Bad RET parameter syntax"
        assert client.command(f"MAIL FROM:<{POP}> XFOO=1") == "555 5.5.4 Unsupported option: XFOO=1"


def test_success_dsn_for_local_delivery_carries_envid_and_orcpt(server):
    with raw_session(server.smtp_port) as client:
        client.command(f"MAIL FROM:<{POP}> RET=HDRS ENVID=env+2Bid")
        client.command(f"RCPT TO:<{IMAP}> NOTIFY=SUCCESS ORCPT=rfc822;orig+40x")
        client.command("DATA")
        client.command("Subject: dsn please\r\n\r\nsecret body\r\n.")
    wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    [notice] = wait_for(lambda: maildir_files(server.config, "alumnopop"))
    text = notice.read_text()
    assert "Return-Path: <>" in text
    assert "Content-Type: multipart/report; report-type=delivery-status;" in text
    assert "Original-Envelope-Id: env+id" in text
    # Postfix writes Original-Recipient without a space, after Final-Recipient.
    assert f"Final-Recipient: rfc822; {IMAP}\nOriginal-Recipient: rfc822;orig@x\nAction: delivered\nStatus: 2.0.0" in text
    assert "Content-Type: text/rfc822-headers" in text and "Subject: dsn please" in text
    assert "secret body" not in text  # RET=HDRS


def test_no_success_notice_unless_asked(server):
    with raw_session(server.smtp_port) as client:
        client.command(f"MAIL FROM:<{POP}>")
        client.command(f"RCPT TO:<{IMAP}>")
        client.command("DATA")
        client.command("Subject: plain\r\n\r\nx\r\n.")
    wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    wait_for(lambda: not list(Path(server.config.spool_dir).glob("*.msg")))
    assert maildir_files(server.config, "alumnopop") == []  # no success notice unless asked


def test_auth_plain_and_login_case_insensitive_over_plaintext(server):
    client = smtplib.SMTP("127.0.0.1", server.submission_port)
    client.ehlo("client")
    assert "PLAIN LOGIN" in client.esmtp_features["auth"]
    token = base64.b64encode(b"\0alumnopop\0alumnopoppass").decode()
    assert client.docmd("auth", f"plain {token}") == (235, b"2.7.0 Authentication successful")
    client.quit()
    client = smtplib.SMTP("127.0.0.1", server.submission_port)
    client.ehlo("client")
    assert client.docmd("AUTH", "login")[0] == 334
    assert client.docmd(base64.b64encode(b"alumnoimap@redes.unlp.edu.ar").decode())[0] == 334
    assert client.docmd(base64.b64encode(b"alumnoimappass").decode()) == (235, b"2.7.0 Authentication successful")
    client.quit()


def test_auth_as_postfix_with_dovecot_sasl(server):
    """The replies of Debian bookworm's Postfix 3.7 with smtpd_sasl_type = dovecot (Dovecot
    2.3.19, auth_mechanisms = plain login), taken from one: Dovecot's LOGIN prompts
    "Username:" and "Password:", its reasons after Postfix's "authentication failed: "."""
    failed = "535 5.7.8 Error: authentication failed: "
    b64 = lambda text: base64.b64encode(text).decode()  # noqa: E731
    good, wrong = b64(b"\0alumnopop\0alumnopoppass"), b64(b"\0alumnopop\0wrong")
    with raw_session(server.submission_port) as client:
        # Debian's submission takes MAIL before AUTH and refuses the recipients.
        assert client.command(f"MAIL FROM:<{POP}>") == "250 2.1.0 Ok"
        assert client.command(f"RCPT TO:<{IMAP}>") == f"554 5.7.1 <{IMAP}>: Recipient address rejected: Access denied"
        assert client.command("RSET") == "250 2.0.0 Ok"
        assert client.command("AUTH PLAIN !!!notbase64") == failed + "Invalid base64 data in initial response"
        assert client.command(f"AUTH PLAIN {wrong}") == failed + "(reason unavailable)"
        assert client.command("AUTH PLAIN =") == failed + "(reason unavailable)"  # an empty initial response
        assert client.command("AUTH LOGIN") == "334 VXNlcm5hbWU6"
        assert client.command("%%%") == failed + "Invalid base64 data in continued response"
        assert client.command("auth login") == "334 VXNlcm5hbWU6"
        assert client.command(b64(b"alumnopop")) == "334 UGFzc3dvcmQ6"
        assert client.command(b64(b"wrong")) == failed + "(reason unavailable)"
        assert client.command(f"AUTH LOGIN {b64(b'alumnopop')}") == "334 UGFzc3dvcmQ6"
        assert client.command("*") == "501 5.7.0 Authentication aborted"
        assert client.command("AUTH CRAM-MD5") == failed + "Invalid authentication mechanism"
        assert client.command("AUTH") == "501 5.5.4 Syntax: AUTH mechanism"
        assert client.command("AUTH PLAIN a b") == "501 5.5.4 Syntax: AUTH mechanism"
        assert client.command("AUTH LOGIN =") == "334 VXNlcm5hbWU6"  # an empty initial response: asked for
        assert client.command("") == "334 UGFzc3dvcmQ6"  # an empty user name is asked for a password...
        assert client.command(b64(b"alumnopoppass")) == failed + "(reason unavailable)"  # ...and refused
        as_another = b64(b"alumnoimap\0alumnopop\0alumnopoppass")  # a master login; the lab has no master users
        assert client.command(f"AUTH PLAIN {as_another}") == failed + "(reason unavailable)"
        assert client.command(f"AUTH PLAIN {good}") == "235 2.7.0 Authentication successful"
        assert client.command(f"AUTH PLAIN {good}") == "503 5.5.1 Error: already authenticated"
    # No EHLO needed first, and HELO is enough.
    for greeting in ([], ["HELO pc"]):
        with raw_session(server.submission_port, ehlo=False) as client:
            for line in greeting:
                client.command(line)
            assert client.command(f"AUTH PLAIN {good}") == "235 2.7.0 Authentication successful"
    with raw_session(server.smtp_port) as client:
        assert client.command("AUTH PLAIN AGFAYg==") == "503 5.5.1 Error: authentication not enabled"


def test_authenticated_sender_may_use_another_address_and_may_relay(server):
    """Thunderbird shares one outgoing server (alumnopop's login) between both accounts:
    Debian's Postfix takes alumnoimap's MAIL FROM from it, and so do we."""
    client = smtplib.SMTP("127.0.0.1", server.submission_port)
    client.login("alumnopop", "alumnopoppass")
    assert client.mail(IMAP) == (250, b"2.1.0 Ok")
    assert client.rcpt("someone@elsewhere.example") == (250, b"2.1.5 Ok")
    client.rset()
    assert client.mail(POP.upper()) == (250, b"2.1.0 Ok")
    client.quit()


def test_starttls_offered_and_working_with_a_certificate(tmp_path, certificate):
    cert, key = certificate
    with RunningServer(make_config(tmp_path, tls_cert=cert, tls_key=key)) as server:
        client = smtplib.SMTP("127.0.0.1", server.smtp_port)
        client.ehlo("client")
        keywords = client.ehlo_resp.decode().split("\n")[1:]
        assert keywords == EHLO_KEYWORDS[:4] + ["STARTTLS"] + EHLO_KEYWORDS[4:]  # exactly the course's list
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        assert client.starttls(context=context)[0] == 220
        client.ehlo("client")
        assert "starttls" not in client.esmtp_features
        client.sendmail(POP, [IMAP], b"Subject: tls\r\n\r\nsecret\r\n")
        client.quit()
        [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
        assert "with ESMTPS id" in path.read_text()


def test_the_replies_to_a_pipelined_group_leave_together_as_postfix_sends_them(server, monkeypatch):
    """Postfix flushes its replies only when no more input waits (RFC 2920): the replies to
    MAIL, RCPT and DATA sent at once reach the client in one write, 354 ends the group (the
    client waits for it), and a command typed alone is answered alone."""
    writes: list[bytes] = []
    write = asyncio.StreamWriter.write
    monkeypatch.setattr(asyncio.StreamWriter, "write", lambda self, data: (writes.append(bytes(data)), write(self, data))[1])
    with raw_session(server.smtp_port) as client:
        assert client.command("NOOP") == "250 2.0.0 Ok"
        assert writes[-1] == b"250 2.0.0 Ok\r\n"
        writes.clear()
        client.send(f"MAIL FROM:<{POP}>\r\nRCPT TO:<{IMAP}>\r\nRCPT TO:<nobody@redes.unlp.edu.ar>\r\nDATA\r\n".encode())
        replies = [client.reply() for _ in range(4)]
        assert replies[0] == "250 2.1.0 Ok" and replies[1] == "250 2.1.5 Ok" and replies[2].startswith("550 ")
        assert replies[3].startswith("354 ")
        assert len(writes) == 1 and writes[0].decode().splitlines() == replies
        writes.clear()
        client.send(b"Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        queued, bye = client.reply(), client.reply()
        assert queued.startswith("250 2.0.0 Ok: queued as ") and bye.startswith("221 ")
        assert writes == [f"{queued}\r\n{bye}\r\n".encode()]


def test_held_replies_are_sent_before_waiting_for_what_the_client_has_not_sent(server):
    """A client may pipeline BDAT commands and wait for the replies before sending the
    last chunk: what was held for the group goes out before the server waits for it."""
    with raw_session(server.smtp_port) as client:
        client.sock.settimeout(3)  # a held reply would leave the client waiting for nothing
        assert client.command(f"MAIL FROM:<{POP}>") == "250 2.1.0 Ok"
        assert client.command(f"RCPT TO:<{IMAP}>") == "250 2.1.5 Ok"
        first = b"Subject: in chunks\r\n\r\n"
        client.send(b"BDAT %d\r\n%sBDAT 6 LAST\r\n" % (len(first), first))
        assert client.reply() == f"250 2.0.0 Ok: {len(first)} bytes"
        client.send(b"body\r\n")
        assert client.reply().startswith(f"250 2.0.0 Ok: {len(first) + 6} bytes queued as ")
