"""DSN fields built from a recipient's state."""
from __future__ import annotations

import pytest

from labctl.mailserver import dsn
from labctl.mailserver.spool import DEFERRED, QueuedMessage, Recipient


@pytest.mark.parametrize("action, status", [
    (dsn.DELAYED, "4.0.0"), (dsn.FAILED, "5.0.0"), (dsn.DELIVERED, "2.0.0"), (dsn.RELAYED, "2.0.0"),
])
def test_status_without_a_code_matches_the_action(action, status):
    recipient = Recipient("user@remote.example", status=DEFERRED, reason="connection timed out")
    message = QueuedMessage(queue_id="Q1", mail_from="a@b.example", recipients=[recipient], arrival=0, size=1)
    text = dsn.build_dsn(message, [recipient], action, b"Subject: x\r\n\r\nx\r\n", hostname="mx.example", now=0)
    assert f"Action: {action}\r\nStatus: {status}\r\n".encode() in text


@pytest.mark.parametrize("original, eight_bit", [(b"Subject: x\r\n\r\nhola\r\n", False),
                                                  ("Subject: x\r\n\r\nñandú\r\n".encode(), True)])
def test_the_notice_says_8bit_only_when_what_it_returns_is(original, eight_bit):
    """As Postfix: an us-ascii notice has no Content-Transfer-Encoding field; one that returns an
    8-bit message declares 8bit, so a relay knows it needs 8BITMIME."""
    recipient = Recipient("user@remote.example", status=DEFERRED, reason="550 5.1.1 no such user")
    message = QueuedMessage(queue_id="Q1", mail_from="a@b.example", recipients=[recipient], arrival=0, size=1)
    text = dsn.build_dsn(message, [recipient], dsn.FAILED, original, hostname="mx.example", now=0)
    head = text.split(b"\r\n\r\n", 1)[0]
    assert (b"\r\nContent-Transfer-Encoding: 8bit\r\n" in head) == eight_bit
    assert head.startswith(b"Received: by mx.example (Postfix)\r\n\tid ") and b"\r\nDate: " in head and b"\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.example>\r\n" in head
