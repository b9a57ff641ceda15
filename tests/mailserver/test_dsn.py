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
