"""Postfix's leniencies that students meet when they type SMTP by hand (checked against Debian's Postfix 3.7)."""
from __future__ import annotations

from .conftest import IMAP, POP, maildir_files, raw_session, wait_for


def test_addresses_without_domain_get_the_local_domain(server):
    with raw_session(server.smtp_port) as client:
        assert client.command("MAIL FROM:<alumnopop>") == "250 2.1.0 Ok"
        assert client.command("RCPT TO:<nadie>") == (
            "550 5.1.1 <nadie>: Recipient address rejected: User unknown in local recipient table")
        assert client.command("RCPT TO:<alumnoimap>") == "250 2.1.5 Ok"
        assert client.command("DATA").startswith("354 ")
        assert client.command("Subject: sin dominio\r\n\r\nx\r\n.").startswith("250 2.0.0 Ok: queued as ")
    [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    assert path.read_text().startswith(f"Return-Path: <{POP}>\nX-Original-To: {IMAP}\nDelivered-To: {IMAP}\n")


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
