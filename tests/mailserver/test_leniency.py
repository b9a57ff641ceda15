"""Postfix's leniencies that students meet when they type SMTP by hand (checked against Debian's Postfix 3.7)."""
from __future__ import annotations

import base64

from .conftest import IMAP, POP, maildir_files, raw_session, read_log, wait_for


def test_addresses_without_domain_get_the_local_domain(server):
    with raw_session(server.smtp_port) as client:
        assert client.command("MAIL FROM:<alumnopop>") == "250 2.1.0 Ok"
        assert client.command("RCPT TO:<nadie>") == (
            "550 5.1.1 <nadie>: Recipient address rejected: User unknown in local recipient table")
        assert client.command("RCPT TO:<alumnoimap>") == "250 2.1.5 Ok"
        assert client.command("DATA").startswith("354 ")
        assert client.command("Subject: sin dominio\r\n\r\nx\r\n.").startswith("250 2.0.0 Ok: queued as ")
    [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    # X-Original-To: and Received:'s "for" name the recipient as typed, as Postfix's do (test_stored_message_parity).
    text = path.read_text()
    assert text.startswith(f"Return-Path: <{POP}>\nX-Original-To: alumnoimap\nDelivered-To: {IMAP}\n")
    assert "\tfor <alumnoimap>; " in text


def test_blanks_inside_brackets_and_misplaced_dots_are_taken_and_relayed_quoted(server):
    """As Postfix: '< addr >' is addr, and a local part with dots anywhere is a local part;
    kept quoted ("a..b"@x), as RFC 5321 wants it sent on, and named unquoted in replies."""
    with raw_session(server.submission_port) as client:
        token = base64.b64encode(b"\0alumnopop\0alumnopoppass").decode()
        assert client.command(f"AUTH PLAIN {token}").startswith("235")
        assert client.command(f"MAIL FROM:< {POP}\t>") == "250 2.1.0 Ok"
        assert client.command("RCPT TO:<a..b@otro.example>") == "250 2.1.5 Ok"
        assert client.command("RCPT TO:< .x.@otro.example >") == "250 2.1.5 Ok"
        assert client.command("RCPT TO:<a b@otro.example>") == "501 5.1.3 Bad recipient address syntax"  # near miss
        assert client.command("RCPT TO:<a..b@otro..example>") == "501 5.1.3 Bad recipient address syntax"
    logged = [e for e in read_log(server.config) if e["event"] in ("mail_from", "rcpt_to")]
    assert [e["address"] for e in logged] == [POP, '"a..b"@otro.example', '".x."@otro.example']
    with raw_session(server.smtp_port) as client:
        assert client.command(f"MAIL FROM:<{POP}>") == "250 2.1.0 Ok"
        assert client.command("RCPT TO:<alumno..imap@redes.unlp.edu.ar>") == (
            "550 5.1.1 <alumno..imap@redes.unlp.edu.ar>: Recipient address rejected: User unknown in local recipient table")


def test_the_servers_own_names_deliver_to_the_first_local_domain(server):
    """Debian's Postfix has mydestination = $myhostname, <domain>, localhost: mail for
    alumnoimap@mail.redes.unlp.edu.ar (the server for the domain, as students often write it)
    reaches alumnoimap, as do a final dot and a quoted local part; X-Original-To keeps what
    the client wrote."""
    written = ["alumnoimap@mail.redes.unlp.edu.ar", "alumnoimap@localhost", "alumnoimap@redes.unlp.edu.ar.",
               '"alumnoimap"@redes.unlp.edu.ar', '"alumnoPOP"@MAIL.redes.unlp.edu.ar']
    with raw_session(server.smtp_port) as client:
        assert client.command(f"MAIL FROM:<{POP}>") == "250 2.1.0 Ok"
        for address in written:
            assert client.command(f"RCPT TO:<{address}>") == "250 2.1.5 Ok"
        assert client.command('RCPT TO:<"alumno imap"@redes.unlp.edu.ar>') == (
            '550 5.1.1 <alumno imap@redes.unlp.edu.ar>: Recipient address rejected: User unknown in local recipient table')
        for routed in ("x%otro.example@mail.redes.unlp.edu.ar", "otro.example!x@localhost"):
            assert client.command(f"RCPT TO:<{routed}>") == f"454 4.7.1 <{routed}>: Relay access denied"
        # Postfix names a quoted local part unquoted in its replies.
        assert client.command('RCPT TO:<"x@otro.example"@redes.unlp.edu.ar>') == (
            "454 4.7.1 <x@otro.example@redes.unlp.edu.ar>: Relay access denied")
        assert client.command("DATA").startswith("354 ")
        assert client.command("Subject: nombres\r\n\r\nx\r\n.").startswith("250 2.0.0 Ok: queued as ")
    paths = wait_for(lambda: len(maildir_files(server.config, "alumnoimap")) == 4 and maildir_files(server.config, "alumnoimap"))
    # As Postfix's local(8) writes them (test_stored_message_parity): X-Original-To: as written but
    # unquoted, Delivered-To: also without a final dot; both keep the domain name the client used.
    originals = ["alumnoimap@mail.redes.unlp.edu.ar", "alumnoimap@localhost", "alumnoimap@redes.unlp.edu.ar.", IMAP]
    delivered = ["alumnoimap@mail.redes.unlp.edu.ar", "alumnoimap@localhost", IMAP, IMAP]
    assert sorted(p.read_text().split("\n")[1:3] for p in paths) == sorted(
        [f"X-Original-To: {o}", f"Delivered-To: {d}"] for o, d in zip(originals, delivered))
    [pop] = wait_for(lambda: maildir_files(server.config, "alumnopop"))
    assert pop.read_text().startswith(f"Return-Path: <{POP}>\nX-Original-To: alumnoPOP@MAIL.redes.unlp.edu.ar\n"
                                      "Delivered-To: alumnoPOP@MAIL.redes.unlp.edu.ar\n")


def test_mail_before_helo_is_accepted(server):
    with raw_session(server.smtp_port, ehlo=False) as client:
        assert client.command(f"MAIL FROM:<{POP}>") == "250 2.1.0 Ok"
        assert client.command(f"RCPT TO:<{IMAP}>") == "250 2.1.5 Ok"
        assert client.command("DATA").startswith("354 ")
        queued = client.command("Subject: sin saludo\r\n\r\nx\r\n.")
        assert queued.startswith("250 2.0.0 Ok: queued as ")
    [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    # Postfix names a client that did not say HELO by its host name, here unknown.
    assert (f"Received: from unknown (unknown [127.0.0.1])\n\tby mail.redes.unlp.edu.ar (Postfix) "
            f"with SMTP id {queued.rsplit(' ', 1)[1]}\n") in path.read_text()


def test_the_address_literal_of_an_own_address_is_local(server):
    """As Postfix (inet_interfaces = all): alumnoimap@[the server's address] is alumnoimap; the
    literal of an address the server does not have is another host (no relay)."""
    with raw_session(server.smtp_port) as client:
        assert client.command(f"MAIL FROM:<{POP}>") == "250 2.1.0 Ok"
        assert client.command("RCPT TO:<alumnoimap@[127.0.0.1]>") == "250 2.1.5 Ok"
        for other in ("[192.0.2.99]", "[127.0.0.2]", "[IPv6:::1]"):
            assert client.command(f"RCPT TO:<alumnoimap@{other}>") == f"454 4.7.1 <alumnoimap@{other}>: Relay access denied"
        assert client.command("DATA").startswith("354 ")
        assert client.command("Subject: literal\r\n\r\nx\r\n.").startswith("250 2.0.0 Ok: queued as ")
    [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    assert path.read_text().startswith(f"Return-Path: <{POP}>\nX-Original-To: alumnoimap@[127.0.0.1]\n"
                                       "Delivered-To: alumnoimap@[127.0.0.1]\n")
