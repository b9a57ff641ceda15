"""Trace and delivery header fields, formatted like Postfix's."""
from __future__ import annotations

import email.utils
from datetime import datetime, timezone


def rfc5322_date(timestamp: float) -> str:
    """'Tue, 12 Sep 2023 20:20:46 +0000 (UTC)', the form in the course's captures."""
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return email.utils.format_datetime(moment) + " (UTC)"


def received_header(*, helo: str, client_ip: str, hostname: str, mail_name: str, protocol: str,
                    queue_id: str, recipients: list[str], timestamp: float) -> bytes:
    """The Received: field added on acceptance, as Postfix's smtpd writes it: 'for <rcpt>;'
    before the date with one recipient; with more, ';' ends the 'by' line and the date has a
    line of its own."""
    client_name = "unknown"  # we do no reverse DNS lookups, as the course server shows
    lines = [f"Received: from {helo} ({client_name} [{client_ip}])",
             f"\tby {hostname} ({mail_name}) with {protocol} id {queue_id}"]
    when = rfc5322_date(timestamp)
    if len(recipients) == 1:
        lines.append(f"\tfor <{recipients[0]}>; {when}")
    else:
        lines[-1] += ";"
        lines.append(f"\t{when}")
    return ("\r\n".join(lines) + "\r\n").encode()


def delivery_headers(*, mail_from: str, original_to: str, delivered_to: str) -> bytes:
    """The fields a final delivery prepends (Postfix local(8)/virtual(8) style)."""
    return (f"Return-Path: <{mail_from}>\r\n"
            f"X-Original-To: {original_to}\r\n"
            f"Delivered-To: {delivered_to}\r\n").encode()
