"""Malformed and hostile input: each gets its standard reply and the session goes on."""
from __future__ import annotations

import base64
import time

import pytest

from .conftest import IMAP, POP, RawClient, RunningServer, make_config, maildir_files, raw_session, read_log, wait_for


def start_data(client: RawClient) -> None:
    assert client.command(f"MAIL FROM:<{POP}>") == "250 2.1.0 Ok"
    assert client.command(f"RCPT TO:<{IMAP}>") == "250 2.1.5 Ok"
    assert client.command("DATA").startswith("354 ")


def test_command_lines_up_to_2048_octets_are_read_whole_and_longer_ones_cut_there(server):
    """Postfix's line_length_limit: ESMTP parameters past 1000 octets are taken; past 2048
    the command is cut (the rest of its line read and dropped) and answered as it is then."""
    with raw_session(server.smtp_port) as client:
        assert client.command(f"MAIL FROM:<{POP}> ENVID={'x' * 1900}") == "250 2.1.0 Ok"
        assert client.command("RSET") == "250 2.0.0 Ok"
        assert client.command("NOOP " + "x" * 5000) == "250 2.0.0 Ok"
        # Cut before its '>': a syntax error, and the end of the line is no command of its own.
        assert client.command(f"MAIL FROM:<{'a' * 2100}@redes.unlp.edu.ar>") == "501 5.1.7 Bad sender address syntax"
        long_bare_lf = f"MAIL FROM:<{POP}> ENVID={'x' * 3000}\n".encode()
        client.send(long_bare_lf + b"A" * 200_000 + b"\r\n")  # one huge line, read in bounded pieces
        assert client.reply() == "250 2.1.0 Ok"
        assert client.reply() == "500 5.5.2 Error: command not recognized"
        assert client.command("NOOP") == "250 2.0.0 Ok"


def test_overlong_auth_exchange_line(server):
    with raw_session(server.submission_port) as client:
        assert client.command("AUTH PLAIN").startswith("334")
        # Cut at 2048 octets (Postfix's line limit), it is base64 of NULs: no PLAIN response.
        assert client.command("A" * 3000) == "535 5.7.8 Error: authentication failed: (reason unavailable)"
        token = base64.b64encode(b"\0alumnopop\0alumnopoppass").decode()
        assert client.command(f"AUTH PLAIN {token}") == "235 2.7.0 Authentication successful"


def test_long_message_lines_are_accepted_like_postfix(server):
    """Postfix takes body lines over 1000 octets (it only splits them when relaying); so do we."""
    with raw_session(server.smtp_port) as client:
        start_data(client)
        client.send(b"Subject: x\r\n\r\n" + b"a" * 5000 + b"\r\n" + b"b" * 70000 + b"\r\n.\r\n")
        assert client.reply().startswith("250 2.0.0 Ok: queued as ")
        assert client.command("NOOP") == "250 2.0.0 Ok"
    [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    assert path.read_bytes().endswith(b"\n\n" + b"a" * 5000 + b"\n" + b"b" * 70000 + b"\n")


SECOND_TRANSACTION = f"MAIL FROM:<{POP}>\r\nRCPT TO:<{POP}>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n".encode()


@pytest.mark.parametrize("smuggled", [b"\n.\r\n", b"\r\n.\n", b"\n.\n", b"\n.\n\n.\r\n"])
def test_no_smtp_smuggling_with_bare_lf(server, smuggled):
    """A fake end-of-data with bare LFs stays content (Postfix's smtpd_forbid_bare_newline=normalize)."""
    with raw_session(server.smtp_port) as client:
        start_data(client)
        client.send(b"Subject: carrier\r\n\r\nhello" + smuggled + SECOND_TRANSACTION + b".\r\n")
        assert client.reply().startswith("250 2.0.0 Ok: queued as ")
        assert client.command("NOOP") == "250 2.0.0 Ok"  # no pending replies: nothing was run as a command
    [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    body = path.read_bytes().split(b"\n\n", 1)[1]
    assert body.startswith(b"hello\n") and b"MAIL FROM:<alumnopop@redes.unlp.edu.ar>\nRCPT TO:" in body
    assert b"\r" not in path.read_bytes()
    assert maildir_files(server.config, "alumnopop") == []


def test_no_smtp_smuggling_with_bare_cr(server):
    """<CR>.<CR><LF> ends data for some servers: a message with a bare CR is refused whole."""
    with raw_session(server.smtp_port) as client:
        start_data(client)
        client.send(b"Subject: carrier\r\n\r\nhello\r.\r\n" + SECOND_TRANSACTION + b".\r\n")
        assert client.reply() == "550 5.5.2 Error: bare <CR> received (only <CR><LF> ends a line)"
        assert client.command("NOOP") == "250 2.0.0 Ok"
        # The session is usable and an honest message goes through.
        start_data(client)
        assert client.command("Subject: honest\r\n\r\nok\r\n.").startswith("250 2.0.0 Ok: queued as ")
    wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    assert maildir_files(server.config, "alumnopop") == []


def test_no_smuggling_in_bdat_content(server):
    """BDAT content is stored CRLF-normalised; a bare CR refuses the message."""
    with raw_session(server.smtp_port) as client:
        client.command(f"MAIL FROM:<{POP}>")
        client.command(f"RCPT TO:<{IMAP}>")
        content = b"Subject: chunk\r\n\r\nhello\n.\n" + SECOND_TRANSACTION
        client.send(f"BDAT {len(content)} LAST\r\n".encode() + content)
        assert client.reply().startswith(f"250 2.0.0 Ok: {len(content) + 2} bytes queued as ")  # two bare LFs made CRLF
        client.command(f"MAIL FROM:<{POP}>")
        client.command(f"RCPT TO:<{IMAP}>")
        client.send(b"BDAT 11 LAST\r\nhello\r.\r\nxx")
        assert client.reply() == "550 5.5.2 Error: bare <CR> received (only <CR><LF> ends a line)"
    [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    queued = next(e for e in read_log(server.config) if e["event"] == "queued")
    assert queued["size"] == len(b"Subject: chunk\r\n\r\nhello\r\n.\r\n" + SECOND_TRANSACTION)
    assert maildir_files(server.config, "alumnopop") == []


def test_a_bdat_without_a_valid_count_ends_the_session(server):
    """Its chunk's end is unknown, so what follows could only be guessed at: as Postfix, 521 and
    hang up rather than run the chunk's lines as commands."""
    with raw_session(server.smtp_port) as client:
        client.command(f"MAIL FROM:<{POP}>")
        client.command(f"RCPT TO:<{IMAP}>")
        assert client.command("BDAT 0x40 LAST") == "521 5.5.4 Syntax: BDAT count [LAST]"
        with pytest.raises(ConnectionError):
            client.send(SECOND_TRANSACTION + b".\r\n")
            client.line()
    assert not [e for e in read_log(server.config) if e["event"] in ("mail_from", "queued")][1:]


def test_typed_with_bare_lf_like_nc_without_c(server):
    """nc without -C sends bare LFs: the dialogue works and "." ends the message, as with Debian's Postfix."""
    with raw_session(server.smtp_port, ehlo=False) as client:
        assert client.command_lf("EHLO alumno").startswith("250-mail.redes.unlp.edu.ar\n")
        assert client.command_lf(f"MAIL FROM:<{POP}>") == "250 2.1.0 Ok"
        assert client.command_lf("RCPT TO:<alumnoimap>") == "250 2.1.5 Ok"
        assert client.command_lf("DATA") == "354 End data with <CR><LF>.<CR><LF>"
        client.send(b"Subject: a mano\n\n.punto\nhola\n")
        assert client.command_lf(".").startswith("250 2.0.0 Ok: queued as ")
        assert client.command_lf("QUIT") == "221 2.0.0 Bye"
    [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    assert path.read_bytes().endswith(b"Subject: a mano\n\npunto\nhola\n")


@pytest.mark.parametrize("command", [
    "EHLO x\rX-Injected: 1", "HELO a\x01b", 'MAIL FROM:<"a\rb"@example.com>', "NOOP\x7f", "NOOP\0",
    'MAIL FROM:<"a\\\x1bb"@example.com>'])
def test_control_characters_in_commands_are_refused(server, command):
    with raw_session(server.smtp_port, ehlo=False) as client:
        assert client.command(command) == "501 5.5.2 Syntax error: control characters are not allowed in commands"
        assert client.command("NOOP") == "250 2.0.0 Ok"
    assert not [e for e in read_log(server.config) if e["event"] in ("mail_from",)]


def test_nothing_injected_reaches_the_delivered_headers(server):
    with raw_session(server.smtp_port, ehlo=False) as client:
        client.command("EHLO x\rX-Injected: 1")
        client.command("EHLO x")
        client.command('MAIL FROM:<"a\rX-Injected: 2"@example.com>')
        client.command(f"MAIL FROM:<{POP}>")
        client.command(f"RCPT TO:<{IMAP}>")
        client.command("DATA")
        assert client.command("Subject: clean\r\n\r\nx\r\n.").startswith("250 ")
    [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    assert b"X-Injected" not in path.read_bytes()


def test_tab_separates_words_as_in_postfix(server):
    with raw_session(server.smtp_port) as client:
        assert client.command(f"MAIL\tFROM:<{POP}>") == "250 2.1.0 Ok"
        assert client.command(f"RCPT TO:<{IMAP}>\tNOTIFY=NEVER") == "250 2.1.5 Ok"


def test_nul_bytes(server):
    with raw_session(server.smtp_port) as client:
        assert client.command("NOOP\0") == "501 5.5.2 Syntax error: control characters are not allowed in commands"
        start_data(client)
        assert client.command("Subject: x\r\n\r\na\0b\r\n.") == "550 5.6.0 Error: NUL character in message data"
        assert client.command("NOOP") == "250 2.0.0 Ok"


def test_unknown_and_empty_commands(server):
    with raw_session(server.smtp_port) as client:
        assert client.command("XYZZY") == "500 5.5.2 Error: command not recognized"
        assert client.command("") == "500 5.5.2 Error: bad syntax"
        assert client.command("NOOP") == "250 2.0.0 Ok"


def test_out_of_sequence_commands(server):
    with raw_session(server.smtp_port, ehlo=False) as client:
        # Postfix needs no HELO for ETRN (smtpd_helo_required = no): it is refused for the domain.
        assert client.command("ETRN redes.unlp.edu.ar") == "459 <redes.unlp.edu.ar>: service unavailable"
        assert client.command("HELO client") == "250 mail.redes.unlp.edu.ar"
        assert client.command(f"RCPT TO:<{IMAP}>") == "503 5.5.1 Error: need MAIL command"
        assert client.command("DATA") == "503 5.5.1 Error: need RCPT command"  # Postfix's words
        assert client.command(f"MAIL FROM:<{POP}>") == "250 2.1.0 Ok"
        assert client.command(f"MAIL FROM:<{POP}>") == "503 5.5.1 Error: nested MAIL command"
        assert client.command("DATA") == "554 5.5.1 Error: no valid recipients"
        assert client.command("ETRN redes.unlp.edu.ar") == "503 Error: MAIL transaction in progress"
        assert client.command(f"RCPT TO:<{IMAP}>") == "250 2.1.5 Ok"


def test_too_many_recipients(tmp_path):
    with RunningServer(make_config(tmp_path, max_recipients=2)) as server:
        with raw_session(server.smtp_port) as client:
            client.command(f"MAIL FROM:<{POP}>")
            assert client.command(f"RCPT TO:<{IMAP}>") == "250 2.1.5 Ok"
            assert client.command(f"RCPT TO:<{POP}>") == "250 2.1.5 Ok"
            assert client.command(f"RCPT TO:<{POP}>") == "452 4.5.3 Error: too many recipients"
            assert client.command("DATA").startswith("354")
            assert client.command("Subject: x\r\n\r\ny\r\n.").startswith("250 2.0.0 Ok: queued")


def test_idle_client_gets_421_and_is_disconnected(tmp_path):
    config = make_config(tmp_path, timeouts=make_config(tmp_path).timeouts.__class__(command=0.3, data=0.3))
    with RunningServer(config) as server:
        with raw_session(server.smtp_port) as client:
            assert client.reply() == "421 4.4.2 mail.redes.unlp.edu.ar Error: timeout exceeded"
            with pytest.raises(ConnectionError):
                client.line()
        # A client trickling a command slower than the timeout is cut off the same way.
        with raw_session(server.smtp_port) as client:
            client.send(b"NO")
            assert client.reply() == "421 4.4.2 mail.redes.unlp.edu.ar Error: timeout exceeded"
        # And one that stalls in the middle of DATA.
        with raw_session(server.smtp_port) as client:
            start_data(client)
            client.send(b"Subject: slow\r\n")
            assert client.reply() == "421 4.4.2 mail.redes.unlp.edu.ar Error: timeout exceeded"
        with raw_session(server.smtp_port) as client:  # the server goes on
            assert client.command("NOOP") == "250 2.0.0 Ok"
    assert maildir_files(config, "alumnoimap") == []


def test_bad_address_syntax(server):
    with raw_session(server.smtp_port) as client:
        assert client.command("MAIL FROM:<no at sign>") == "501 5.1.7 Bad sender address syntax"
        assert client.command('MAIL FROM:<"no-domain">') == "501 5.1.7 Bad sender address syntax"
        assert client.command("MAIL FROM:") == "501 5.5.4 Syntax: MAIL FROM:<address>"  # as Postfix
        assert client.command("MAIL TO:<x@y.z>") == "501 5.5.4 Syntax: MAIL FROM:<address>"
        assert client.command("MAIL FROM:<>") == "250 2.1.0 Ok"
        assert client.command("RCPT TO:<>") == "501 5.1.3 Bad recipient address syntax"
        assert client.command("RCPT TO:<a@b@c>") == "501 5.1.3 Bad recipient address syntax"


def test_too_many_errors_end_the_session(tmp_path):
    with RunningServer(make_config(tmp_path, error_sleep=0.01)) as server:
        with raw_session(server.smtp_port) as client:
            for _ in range(19):
                assert client.command("BOGUS").startswith("500")
            assert client.command("BOGUS") == "500 5.5.2 Error: command not recognized"
            assert client.reply() == "421 4.7.0 mail.redes.unlp.edu.ar Error: too many errors"
        with raw_session(server.smtp_port) as client:
            assert client.command("NOOP") == "250 2.0.0 Ok"


def test_past_ten_errors_every_reply_is_late(tmp_path):
    """Postfix's smtpd_soft_error_limit (10) and smtpd_error_sleep_time: a client that keeps
    erring waits before each reply from the tenth error on, whatever the reply."""
    with RunningServer(make_config(tmp_path, error_sleep=0.3)) as server, raw_session(server.smtp_port) as client:
        for _ in range(10):
            assert client.command("BOGUS") == "500 5.5.2 Error: command not recognized"
        started = time.monotonic()
        for _ in range(3):
            assert client.command("NOOP") == "250 2.0.0 Ok"
        assert time.monotonic() - started >= 0.9


def test_a_delivered_message_forgives_the_errors_before_it(tmp_path):
    """As Postfix's smtpd after '250 Ok: queued as': error and junk-command counts start again,
    so a student who mistyped nine commands per message is never slowed down nor dropped."""
    with RunningServer(make_config(tmp_path, error_sleep=1.0)) as server, raw_session(server.smtp_port) as client:
        for n in range(3):
            for _ in range(9):
                assert client.command("BOGUS") == "500 5.5.2 Error: command not recognized"
            assert client.command(f"MAIL FROM:<{POP}>") == "250 2.1.0 Ok"
            assert client.command(f"RCPT TO:<{IMAP}>") == "250 2.1.5 Ok"
            assert client.command("DATA").startswith("354 ")
            assert client.command(f"Subject: {n}\r\n\r\nbody\r\n.").startswith("250 2.0.0 Ok: queued as ")
        started = time.monotonic()
        assert client.command("BOGUS") == "500 5.5.2 Error: command not recognized"  # the 28th error, the 1st since
        assert client.command("NOOP") == "250 2.0.0 Ok"
        assert time.monotonic() - started < 1.0  # (2 s if each reply waited error_sleep)
    # Without a delivery between them, the 10th error would have made that NOOP wait (test above).


def test_a_client_looping_on_noop_is_dropped(tmp_path):
    """Postfix's smtpd_junk_command_limit (100): past a hundred NOOP, RSET, VRFY or ETRN each one
    counts as an error, so the loop ends at the error limit (as Postfix, after the 120th)."""
    with RunningServer(make_config(tmp_path, error_sleep=0.01)) as server, raw_session(server.smtp_port) as client:
        client.send(b"NOOP\r\nRSET\r\nVRFY alumnoimap\r\n" * 40)
        replies = [client.reply() for _ in range(121)]
        assert replies[:120] == ["250 2.0.0 Ok", "250 2.0.0 Ok", "252 2.0.0 alumnoimap"] * 40
        assert replies[120] == "421 4.7.0 mail.redes.unlp.edu.ar Error: too many errors"
        with pytest.raises(ConnectionError):
            client.line()


def test_cr_cr_lf_ends_a_line_as_postfix_reads_it_and_a_bare_cr_is_still_refused(server):
    """A file with CRLF already, fed through `openssl s_client -crlf` or `nc -C`: CR CR LF."""
    with raw_session(server.smtp_port, ehlo=False) as client:
        assert client.command("EHLO pc\r\r").startswith("250-")
        assert client.command(f"MAIL FROM:<{POP}>\r\r\r") == "250 2.1.0 Ok"
        assert client.command(f"RCPT TO:<{IMAP}>\r") == "250 2.1.5 Ok"
        assert client.command("DATA\r").startswith("354 ")
        client.send(b"Subject: crcr\r\r\n\r\r\nuna\r\r\r\r\n..dos\r\r\n.\r\r\n")
        assert client.reply().startswith("250 2.0.0 Ok: queued as ")
        assert client.command("NOOP \r\r") == "250 2.0.0 Ok"
        start_data(client)  # near miss: a CR inside a line is no line end
        client.send(b"Subject: cr\r\n\r\nuna\rdos\r\r\n.\r\n")
        assert client.reply() == "550 5.5.2 Error: bare <CR> received (only <CR><LF> ends a line)"
    [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    assert path.read_bytes().endswith(b"Subject: crcr\n\nuna\n.dos\n")


@pytest.mark.parametrize("line", ["Subject: hola", "subject:hola", "GET / HTTP/1.1", "post /", "CONNECT mail:443"])
def test_a_header_or_http_as_a_command_ends_the_session_as_postfix_ends_it(server, line):
    with raw_session(server.smtp_port) as client:
        assert client.command(f"MAIL FROM:<{POP}>") == "250 2.1.0 Ok"
        assert client.command(line) == "221 2.7.0 Error: I can break rules, too. Goodbye."
        assert client.sock.recv(10) == b""


def test_words_like_a_header_that_are_none_are_unknown_commands(server):
    with raw_session(server.smtp_port) as client:
        for line in ("From alumno", "X-Foo : bar", "Subject", "GETS"):
            assert client.command(line) == "500 5.5.2 Error: command not recognized"
