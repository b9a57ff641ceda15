"""An unauthenticated client must not get mail relayed, however the address is dressed up."""
from __future__ import annotations

import re

import pytest

from .conftest import POP, maildir_files, raw_session, wait_for

DENIED = [
    "user@elsewhere.example",
    "user%elsewhere.example@redes.unlp.edu.ar",  # percent hack
    "elsewhere.example!user@redes.unlp.edu.ar",  # bang path (UUCP)
    '"user@elsewhere.example"@redes.unlp.edu.ar',  # quoted local part hiding a domain
    '"user%elsewhere.example"@redes.unlp.edu.ar',
    "@redes.unlp.edu.ar:user@elsewhere.example",  # source route ending off-site
    "@redes.unlp.edu.ar,@mail.redes.unlp.edu.ar:user@elsewhere.example",
    "alumnopop@elsewhere.example.",
    "user@[1.2.3.4]",  # address literal
    "alumnopop@[127.0.0.2]",  # the literal of an address the server does not have
    "USER@ELSEWHERE.EXAMPLE",
    "alumnopop@redes.unlp.edu.ar@elsewhere.example",
    "alumnopop@sub.redes.unlp.edu.ar",
]


@pytest.mark.parametrize("address", DENIED)
def test_relay_attempt_refused(server, address):
    with raw_session(server.smtp_port) as client:
        assert client.command("MAIL FROM:<attacker@evil.example>") == "250 2.1.0 Ok"
        reply = client.command(f"RCPT TO:<{address}>")
        # A source route is dropped before the check, so the reply names the final mailbox.
        denied = reply.startswith("454 4.7.1 <") and reply.endswith(">: Relay access denied")
        assert denied or reply == "501 5.1.3 Bad recipient address syntax"
        assert client.command("DATA") == "554 5.5.1 Error: no valid recipients"


@pytest.mark.parametrize("address, user", [
    ("ALUMNOPOP@REDES.UNLP.EDU.AR", "alumnopop"),  # case does not matter for local mail
    ("@elsewhere.example:alumnopop@redes.unlp.edu.ar", "alumnopop"),  # route ignored, final hop is us
    ("alumnopop@redes.unlp.edu.ar.", "alumnopop"),  # a final dot: the same domain, for Postfix too
    ("alumnopop@mail.redes.unlp.edu.ar", "alumnopop"),  # the host name is ours (mydestination)
    ("alumnopop@[127.0.0.1]", "alumnopop"),  # the server's own address (Postfix: inet_interfaces = all)
])
def test_odd_but_local_addresses_are_delivered_locally(server, address, user):
    with raw_session(server.smtp_port) as client:
        client.command("MAIL FROM:<attacker@evil.example>")
        assert client.command(f"RCPT TO:<{address}>") == "250 2.1.5 Ok"
        client.command("DATA")
        assert client.command("Subject: local\r\n\r\nx\r\n.").startswith("250 2.0.0 Ok: queued")
    [path] = wait_for(lambda: maildir_files(server.config, user))
    # Delivered-To: names the address as given, its case and domain name kept, as Postfix's local(8).
    [delivered_to] = re.findall(r"^Delivered-To: (.*)$", path.read_text(), re.M)
    assert delivered_to.lower() == address.split(":")[-1].lower().removesuffix(".")
