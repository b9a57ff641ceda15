"""The MTA's event log as evidence: local deliveries survive what the student does to the
mailbox afterwards (a POP3 client that downloads and deletes empties the Maildir)."""
from __future__ import annotations

from dataclasses import dataclass

from labctl.mailserver.summary import MessageSummary


@dataclass(frozen=True)
class Delivery:
    """One message put into one account's Maildir by the MTA."""
    queue_id: str
    account: str
    client_ip: str  # who handed it to the MTA over SMTP ("" for mail the MTA made itself)
    auth_user: str
    summary: MessageSummary | None  # None when unreadable or logged without one
    unreadable: str  # why the MTA could not read it ("" if it could)
    ts: float  # when it was put there
    mail_from: str = ""  # its envelope sender, as the MTA queued it ("" for a bounce, or if unlogged)


def local_deliveries(events: list[dict], account: str) -> list[Delivery]:
    """The log's successful local deliveries to `account`, oldest first: by the mailbox the
    MTA put it in, whatever name of the account the sender used (alumnoimap@mail.redes.unlp.edu.ar,
    as Postfix's mydestination takes it)."""
    found, senders = [], {}
    for event in events:
        if event.get("event") == "queued":
            senders[event.get("queue_id")] = str(event.get("mail_from", ""))
        if (event.get("event") != "delivery" or event.get("via") != "maildir"
                or event.get("status") != "delivered"
                or str(event.get("mailbox") or event.get("recipient", "")).lower() != account.lower()):
            continue
        message = event.get("summary")
        try:
            readable = isinstance(message, dict) and "unreadable" not in message
            summary = MessageSummary.from_event(message) if readable else None
        except (TypeError, ValueError):
            summary = None  # a log written by another version: the delivery still counts
        unreadable = str(message.get("unreadable", "")) if isinstance(message, dict) else ""
        found.append(Delivery(str(event.get("queue_id", "")), account, str(event.get("client_ip", "")),
                              str(event.get("auth_user", "")), summary, unreadable, float(event.get("ts", 0.0)),
                              senders.get(event.get("queue_id"), "")))
    return found
