"""The messages an account received, from every source that records them: its Maildir
(what is there now, in which folder) and the MTA's delivery log (what arrived, even if a
POP3 client has since downloaded and deleted it). A message is one entry, however many
sources or folders show it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from labctl.checks.context import CheckContext
from labctl.checks.maildir_tar import StoredMessage, queue_id_of
from labctl.checks.mta_log import Delivery
from labctl.mailserver.summary import MessageSummary, normalised

IN_THE_LOG = "(delivered, no longer in the mailbox)"


@dataclass(frozen=True)
class Received:
    folders: tuple[str, ...]  # where it is now; empty when only the MTA's log has it
    summary: MessageSummary
    # The MTA delivered it to the account (its log says so, or the file still bears the queue
    # id the MTA named it after): not a copy a client put there itself over IMAP, such as the
    # one of each sent message Thunderbird APPENDs to Sent.
    delivered: bool
    # Received over SMTP from the student's host or client: not put in the mailbox some
    # other way (an IMAP APPEND carries any From: the student likes) nor made by the lab.
    sent_by_student: bool
    # MAIL FROM of the SMTP session that sent it ("" where unknown): who sent a message whose
    # header names nobody (typed by hand after DATA without From:, to which Postfix adds none).
    envelope_sender: str = ""

    @property
    def where(self) -> str:
        return ", ".join(self.folders) or IN_THE_LOG

    def in_folder(self, folder: str) -> bool:
        return normalised(folder) in {normalised(f) for f in self.folders}

    @property
    def senders(self) -> tuple[str, ...]:
        """The addresses of its From:, or without one its envelope sender (its Return-Path)."""
        return self.summary.senders or ((self.envelope_sender,) if self.envelope_sender else ())

    def describe(self) -> str:
        sender = (", ".join(self.summary.senders) or (f"{self.envelope_sender} (MAIL FROM; no From: field)"
                                                       if self.envelope_sender else "no sender"))
        return f"«{self.summary.subject or '(sin asunto)'}» from {sender} in {self.where}"


def _key(summary: MessageSummary, fallback: str) -> str:
    return f"id {summary.message_id}" if summary.message_id else fallback


def _stored_keys(stored: StoredMessage) -> tuple[str, str, str | None]:
    """A Maildir entry's merge key, its queue-id key (its file name where it has none) and queue id."""
    queue_id = queue_id_of(stored.name)
    by_queue_id = f"queue {queue_id}" if queue_id else f"file {stored.name}"
    return _key(stored.summary, by_queue_id), by_queue_id, queue_id


def _deliveries_by_key(deliveries: list[Delivery]) -> dict[str, Delivery]:
    delivery_of = {_key(d.summary, f"queue {d.queue_id}"): d for d in deliveries}
    delivery_of.update({f"queue {d.queue_id}": d for d in deliveries})
    return delivery_of


def delivered_test(ctx: CheckContext, account: str) -> Callable[[StoredMessage], bool]:
    """Whether a Maildir entry of the account is mail the MTA delivered to it: the log has
    it, or its file bears the queue id the MTA named it after. Not a copy a client put
    there itself over IMAP (Thunderbird's of each message sent, in Sent)."""
    delivery_of = _deliveries_by_key([d for d in ctx.deliveries(account) if d.summary is not None])

    def delivered(stored: StoredMessage) -> bool:
        key, by_queue_id, queue_id = _stored_keys(stored)
        return queue_id is not None or key in delivery_of or by_queue_id in delivery_of
    return delivered


def received_messages(ctx: CheckContext, account: str) -> list[Received]:
    """Every message of the account: Maildir entries merged with the log's record of the
    same message (same Message-ID, or the queue id in the file name), then the deliveries
    the Maildir no longer shows."""
    deliveries = [d for d in ctx.deliveries(account) if d.summary is not None]
    delivery_of = _deliveries_by_key(deliveries)

    def from_student(summary: MessageSummary, delivery: Delivery | None) -> bool:
        # The same sender as the MTA saw: a copy APPENDed with another From: does not inherit it.
        return (delivery is not None and bool(delivery.client_ip) and not ctx.is_lab_server(delivery.client_ip)
                and summary.senders == delivery.summary.senders)

    merged: dict[str, Received] = {}
    for stored in ctx.messages(account):
        key, by_queue_id, queue_id = _stored_keys(stored)
        delivery = delivery_of.get(key) or delivery_of.get(by_queue_id)
        earlier = merged.get(key)
        folders = (earlier.folders if earlier else ()) + (stored.folder,)
        delivered = delivery is not None or queue_id is not None or (earlier is not None and earlier.delivered)
        merged[key] = Received(tuple(dict.fromkeys(folders)), stored.summary, delivered,
                               from_student(stored.summary, delivery),
                               delivery.mail_from if delivery else (earlier.envelope_sender if earlier else ""))
    for delivery in deliveries:
        key = _key(delivery.summary, f"queue {delivery.queue_id}")
        if key not in merged:
            merged[key] = Received((), delivery.summary, True, from_student(delivery.summary, delivery), delivery.mail_from)
    return list(merged.values())
