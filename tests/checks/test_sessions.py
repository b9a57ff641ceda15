"""Unit tests of how the checks read mail sessions (MTA log, SASL, BDAT, TLS), labctl's
probe records and Dovecot's login lines: no engine needed."""
from __future__ import annotations

from labctl.capture.probes import Probe, is_probe, load_probes, record_probes
from labctl.capture.streams import Chunk, Direction, Endpoint
from labctl.capture.tcp import TcpStream
from labctl.checks.dovecot_log import parse_logins
from labctl.checks.sessions import MTA_LOG, Queued, capture_session, mta_log_sessions

LISTENERS = {"smtp": 25, "submission": 587}


def log(session: str, *lines: str, listener: str = "submission", peer=("172.28.0.1", 51234)) -> list[dict]:
    """Events as the MTA writes them: 'C: ...' a command, 'S: ...' a reply line."""
    events = [{"ts": 1.0, "event": "connect", "session": session, "listener": listener, "kind": "msa", "peer": list(peer)}]
    for n, line in enumerate(lines, 2):
        kind = "command" if line.startswith("C: ") else "reply"
        events.append({"ts": float(n), "event": kind, "session": session, "line": line[3:]})
    return events + [{"ts": 99.0, "event": "disconnect", "session": session}]


def test_a_session_over_tls_is_read_whole_from_the_mta_log():
    events = log("a1", "S: 220 mail ESMTP", "C: EHLO pc", "S: 250-mail", "S: 250 STARTTLS",
                 "C: STARTTLS", "S: 220 2.0.0 Ready to start TLS", "C: EHLO pc", "S: 250 mail",
                 "C: AUTH PLAIN <redacted>", "S: 235 2.7.0 Authentication successful",
                 "C: MAIL FROM:<a@b>", "S: 250 2.1.0 Ok", "C: RCPT TO:<c@b>", "S: 250 2.1.5 Ok",
                 "C: RCPT TO:<d@b>", "S: 250 2.1.5 Ok", "C: DATA", "S: 354 End data with <CR><LF>.<CR><LF>",
                 "S: 250 2.0.0 Ok: queued as 0123456789", "C: MAIL FROM:<a@b>", "S: 250 2.1.0 Ok",
                 "C: RCPT TO:<c@b>", "S: 250 2.1.5 Ok", "C: BDAT 12 LAST", "S: 250 2.0.0 Ok: queued as 9876543210",
                 "C: QUIT", "S: 221 2.0.0 Bye")
    [session] = mta_log_sessions(events, "172.28.0.90", LISTENERS)
    assert (session.source, session.where, session.encrypted) == (MTA_LOG, "172.28.0.1:51234→:587", True)
    assert session.answered() == ["EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "QUIT"]
    assert (session.messages, session.recipients) == (2, 3)


def test_mails_are_recipients_of_accepted_messages_only():
    """A message to two recipients is two mails (exercise 7); recipients of a transaction
    given up (RSET) or refused never are, nor is one named twice."""
    events = log("d4", "S: 220 mail", "C: EHLO pc", "S: 250 mail", "C: MAIL FROM:<a@b>", "S: 250 2.1.0 Ok",
                 "C: RCPT TO:<c@b>", "S: 250 2.1.5 Ok", "C: RCPT TO:<d@b>", "S: 250 2.1.5 Ok", "C: RSET", "S: 250 2.0.0 Ok",
                 "C: MAIL FROM:<a@b>", "S: 250 2.1.0 Ok", "C: RCPT TO:<c@b>", "S: 250 2.1.5 Ok",
                 "C: RCPT TO:<nadie@b>", "S: 550 5.1.1 <nadie@b>: Recipient address rejected", "C: DATA",
                 "S: 354 End data with <CR><LF>.<CR><LF>", "S: 250 2.0.0 Ok: queued as 0123456789", "C: QUIT", "S: 221 2.0.0 Bye")
    [session] = mta_log_sessions(events, "172.28.0.90", LISTENERS)
    assert (session.messages, session.recipients, session.mails) == (1, 3, 1)
    [session] = mta_log_sessions(log("e5", "S: 220 mail", "C: EHLO pc", "S: 250 mail", "C: MAIL FROM:<a@b>", "S: 250 2.1.0 Ok",
                                     "C: RCPT TO:<c@b>", "S: 250 2.1.5 Ok", "C: RCPT TO:<d@b>", "S: 250 2.1.5 Ok",
                                     "C: RCPT TO: <C@b> NOTIFY=NEVER", "S: 250 2.1.5 Ok", "C: BDAT 3 LAST", "S: 250 2.0.0 Ok: 3 bytes queued as 0123456789"), "172.28.0.90", LISTENERS)
    assert (session.messages, session.mails) == (1, 2)


def test_the_envelopes_of_a_session_over_tls_come_from_the_mta_log():
    events = log("c3", "S: 220 mail", "C: EHLO pc", "S: 250 mail", "C: STARTTLS", "S: 220 2.0.0 Ready to start TLS")
    events.insert(-1, {"ts": 9.0, "event": "queued", "session": "c3", "queue_id": "4F2A19C0DE",
                       "mail_from": "a@b", "recipients": ["c@b", "d@b"], "size": 310})
    [session] = mta_log_sessions(events, "172.28.0.90", LISTENERS)
    assert session.encrypted and session.queued == [Queued("4F2A19C0DE", "a@b", ("c@b", "d@b"))]


def test_auth_counts_only_when_the_sasl_exchange_ends_in_235():
    events = log("b2", "S: 220 mail", "C: EHLO pc", "S: 250 mail", "C: AUTH LOGIN", "S: 334 VXNlcm5hbWU6",
                 "C: <auth response redacted>", "S: 334 UGFzc3dvcmQ6", "C: <auth response redacted>",
                 "S: 535 5.7.8 Error: authentication failed")
    [session] = mta_log_sessions(events, "172.28.0.90", LISTENERS)
    assert not session.has("AUTH") and session.has("EHLO|HELO")


def stream(proto: str, port: int, *turns: tuple[Direction, bytes]) -> TcpStream:
    messages = [Chunk(direction, float(n), data) for n, (direction, data) in enumerate(turns)]
    return TcpStream(0, Endpoint("172.28.0.1", 40000), Endpoint("172.28.0.90", port), proto, messages,
                     0.0, float(len(turns)), len(turns), True, 0)


C, S = Direction.CLIENT, Direction.SERVER


def test_pop3_user_counts_only_with_an_accepted_pass_and_stls_hides_the_rest():
    session = capture_session(stream("pop", 110, (S, b"+OK Dovecot ready.\r\n"), (C, b"USER alumnopop\r\n"), (S, b"+OK\r\n"),
                                     (C, b"PASS mal\r\n"), (S, b"-ERR [AUTH] Authentication failed.\r\n"),
                                     (C, b"STLS\r\n"), (S, b"+OK Begin TLS negotiation now.\r\n"),
                                     (C, b"\x16\x03\x01\x02\x00"), (S, b"\x16\x03\x03\x00\x7a")))
    assert not session.has("AUTH|USER") and session.encrypted
    assert session.answered() == ["STLS"]


MESSAGE = b"Received: from pc by mail with ESMTP id 4F2A19C0DE\r\nSubject: hola\r\n\r\nuna\r\ndos\r\n"


def test_pop3_top_of_the_whole_message_is_a_download_and_of_its_header_is_not():
    def top(lines: bytes, reply: bytes):
        return capture_session(stream("pop", 110, (S, b"+OK Dovecot ready.\r\n"), (C, b"TOP 1 " + lines + b"\r\n"),
                                      (S, b"+OK\r\n" + reply + b".\r\n")))
    # fetchmail: TOP n 99999999, past the body's end, is answered with the whole message.
    fetchmail = top(b"99999999", MESSAGE)
    assert fetchmail.has("RETR|TOP") and fetchmail.answered() == ["TOP"] and "4F2A19C0DE" in fetchmail.fetched
    # mutt's index: the header only; and the first line of a two-line body.
    header, first_line = top(b"0", MESSAGE.split(b"\r\n\r\n")[0] + b"\r\n\r\n"), top(b"1", MESSAGE[:-5])
    assert not header.has("RETR|TOP") and header.answered() == ["TOP (part)"]
    assert not first_line.has("TOP")
    assert top(b"2", MESSAGE).has("TOP") is False and top(b"3", MESSAGE).has("TOP")


def test_imap_authenticate_counts_by_its_tagged_completion():
    session = capture_session(stream("imap", 143, (S, b"* OK Dovecot ready.\r\n"), (C, b"a1 AUTHENTICATE PLAIN\r\n"),
                                     (S, b"+ \r\n"), (C, b"AGFsdW1ub2ltYXAAbWFs\r\n"), (S, b"a1 NO [AUTHENTICATIONFAILED] failed.\r\n"),
                                     (C, b"a2 UID FETCH 1:* (FLAGS)\r\n"), (S, b"a2 OK Fetch completed.\r\n")))
    assert not session.has("LOGIN|AUTHENTICATE") and session.has("UID FETCH") and not session.has("FETCH")


def test_probes_are_recorded_and_recognised(tmp_path, monkeypatch):
    monkeypatch.setenv("LABCTL_STATE_DIR", str(tmp_path))
    record_probes("lab1", [Probe(40000, "172.28.0.90", 110, 0.5)])
    probes = load_probes("lab1")
    assert is_probe(stream("pop", 110), probes)
    assert not is_probe(stream("pop", 143), probes)  # another server port
    later = stream("pop", 110)
    later.start_ts = 60.0  # the same source port a minute later: the student's
    assert not is_probe(later, probes)
    assert load_probes("never-up") == []


def test_dovecot_logins_from_the_container_log():
    text = ("2026-11-28T23:45:15.123456789Z Nov 28 23:45:15 pop3-login: Info: Login: user=<alumnopop@redes.unlp.edu.ar>, "
            "method=PLAIN, rip=172.29.6.100, lip=172.29.6.90, mpid=42, TLS, session=<abc>\n"
            "2026-11-28T23:45:16.000000000Z Nov 28 23:45:16 pop3-login: Info: Disconnected (no auth attempts in 0 secs): "
            "user=<>, rip=172.29.6.1, lip=172.29.6.90, session=<def>\n")
    [login] = parse_logins(text)
    assert (login.protocol, login.client_ip) == ("pop3", "172.29.6.100")
    assert login.is_account("alumnopop@redes.unlp.edu.ar") and not login.is_account("alumnoimap@redes.unlp.edu.ar")


def test_the_login_name_is_read_from_login_user_and_sasl_plain():
    imap = capture_session(stream("imap", 143, (S, b"* OK ready\r\n"), (C, b"a1 AUTHENTICATE PLAIN\r\n"), (S, b"+ \r\n"),
                                  (C, b"AGFsdW1ub2ltYXAAYWx1bW5vaW1hcHBhc3M=\r\n"), (S, b"a1 OK Logged in\r\n")))
    assert imap.login == "alumnoimap"
    quoted = capture_session(stream("imap", 143, (S, b"* OK ready\r\n"), (C, b'a1 LOGIN "alumnoimap" "x"\r\n'), (S, b"a1 OK Logged in\r\n")))
    assert quoted.login == "alumnoimap"
    pop = capture_session(stream("pop", 110, (S, b"+OK ready\r\n"), (C, b"AUTH PLAIN\r\n"), (S, b"+ \r\n"),
                                 (C, b"AGFsdW1ub3BvcABhbHVtbm9wb3BwYXNz\r\n"), (S, b"+OK Logged in.\r\n")))
    assert (pop.login, pop.has("AUTH|USER")) == ("alumnopop", True)


def test_the_login_name_is_read_from_smtp_sasl_login():
    # As Roundcube and swaks --auth LOGIN send it: the user name, then the password, each in base64.
    smtp = capture_session(stream("smtp", 587, (S, b"220 ready\r\n"), (C, b"AUTH LOGIN\r\n"), (S, b"334 VXNlcm5hbWU6\r\n"),
                                  (C, b"YWx1bW5v\r\n"), (S, b"334 UGFzc3dvcmQ6\r\n"), (C, b"YWx1bW5vcGFzcw==\r\n"),
                                  (S, b"235 2.7.0 Authentication successful\r\n")))
    assert smtp.login == "alumno"
    initial = capture_session(stream("smtp", 587, (S, b"220 ready\r\n"), (C, b"AUTH LOGIN YWx1bW5v\r\n"), (S, b"334 UGFzc3dvcmQ6\r\n"),
                                    (C, b"eA==\r\n"), (S, b"535 5.7.8 Error: authentication failed\r\n")))
    assert initial.login == ""  # refused: nobody logged in


def test_imap_typed_by_hand_with_one_tag_for_every_command():
    """Typed into nc or telnet, every command often carries the same tag (". login", ". select"),
    in lower case and with bare LF: Dovecot answers each; each completion answers the oldest
    open command of that tag. Only the last command of the tag was answered before."""
    session = capture_session(stream(
        "imap", 143, (S, b"* OK Dovecot ready.\r\n"), (C, b". login alumnoimap alumnoimappass\n"), (S, b". OK Logged in\r\n"),
        (C, b". select inbox\n"), (S, b"* 0 EXISTS\r\n. OK [READ-WRITE] Select completed.\r\n"),
        (C, b". idle\n"), (S, b"+ idling\r\n* 1 EXISTS\r\n"), (C, b"done\n"), (S, b". OK Idle completed.\r\n"),
        (C, b". fetch 1 body[]\n"), (S, b"* 1 FETCH (BODY[] {9}\r\nSubject:\r\n)\r\n. OK Fetch completed.\r\n"),
        (C, b". logout\n"), (S, b"* BYE Logging out\r\n. OK Logout completed.\r\n")))
    assert session.answered() == ["LOGIN", "SELECT", "IDLE", "FETCH", "LOGOUT"]
    assert session.login == "alumnoimap" and "Subject:" in session.fetched
    # A command refused under a reused tag stays refused; the next one under it is answered on its own.
    refused = capture_session(stream(
        "imap", 143, (S, b"* OK ready\r\n"), (C, b"a login alumnoimap mal\r\n"), (S, b"a NO [AUTHENTICATIONFAILED] failed.\r\n"),
        (C, b"a login alumnoimap alumnoimappass\r\n"), (S, b"a OK Logged in\r\n"), (C, b"a noop\r\n"), (S, b"a BAD Error\r\n")))
    assert [step.ok for step in refused.steps] == [False, True, False] and refused.answered() == ["LOGIN"]


def test_pop3_typed_ahead_of_the_greeting_is_read_after_it():
    """(printf 'user ...\\npass ...\\n'; sleep 1) | nc sends before Dovecot's greeting reaches
    the capture: each reply still answers its own command (the greeting answered USER, so a
    refused password read as a login)."""
    refused = capture_session(stream("pop", 110, (C, b"user alumnopop\npass mal\nstat\nquit\n"),
                                     (S, b"+OK Dovecot ready.\r\n+OK\r\n-ERR [AUTH] Authentication failed.\r\n"
                                         b"-ERR Unknown command.\r\n+OK Logging out.\r\n")))
    assert (refused.answered(), refused.login) == (["QUIT"], "")
    typed = capture_session(stream("pop", 110, (C, b"user alumnopop\npass alumnopoppass\nlist\nretr 1\nquit\n"),
                                   (S, b"+OK Dovecot ready.\r\n+OK\r\n+OK Logged in.\r\n+OK 1 messages:\r\n1 70\r\n.\r\n"
                                       b"+OK 70 octets\r\n" + MESSAGE + b".\r\n+OK Logging out.\r\n")))
    assert typed.answered() == ["USER", "PASS", "LIST", "RETR", "QUIT"] and "4F2A19C0DE" in typed.fetched
