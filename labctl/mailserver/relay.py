"""Outbound SMTP: finding a domain's mail exchangers and handing mail to them.

One call of `send_batch` carries every queued message for one destination
over a single connection (MAIL/RCPT/DATA repeated), as Postfix's smtp(8) does.
It uses blocking smtplib and runs in a worker thread. Students read this
MTA-to-MTA dialogue in their captures (exercise 7), so it looks like Postfix's:
commands in upper case, lines no longer than RFC 5321 allows.
"""
from __future__ import annotations

import re
import smtplib
from dataclasses import dataclass
from typing import Callable

from .spool import QueuedMessage, Recipient

_ENHANCED = re.compile(r"([245]\.\d{1,3}\.\d{1,3})\s*")
# RFC 5321 4.5.3.1.6: 998 octets and CRLF. Longer lines (we accept them, as Postfix
# does) are broken with CRLF SPACE, as Postfix's smtp_line_length_limit does since 3.9;
# the space keeps a broken header field one field.
LINE_LENGTH_LIMIT = 998
_OVERLONG_LINE_PIECE = re.compile(rb"[^\r\n]{%d}(?=[^\r\n])" % (LINE_LENGTH_LIMIT - 1))


def break_long_lines(content: bytes) -> bytes:
    """Content whose lines all fit in LINE_LENGTH_LIMIT octets."""
    return _OVERLONG_LINE_PIECE.sub(lambda piece: piece[0] + b"\r\n ", content)


class MtaClient(smtplib.SMTP):
    """smtplib as an MTA speaks: `EHLO`, `MAIL FROM:`, `RCPT TO:`, `DATA`, where smtplib sends `ehlo`,
    `mail FROM:` (`mail from:` since Python 3.13), `rcpt TO:`, `data`."""

    ehlo_msg = "EHLO"

    def putcmd(self, cmd: str, args: str = "") -> None:
        cmd = cmd.upper()
        keyword, colon, rest = args.partition(":")
        if cmd in ("MAIL", "RCPT") and colon and keyword.upper() in ("FROM", "TO"):
            args = keyword.upper() + colon + rest
        super().putcmd(cmd, args)


@dataclass(frozen=True)
class Exchanger:
    """A host to try: its name (what DSNs name, RFC 3464 Remote-MTA) and one of its addresses."""
    name: str
    address: str

    def __str__(self) -> str:
        return f"{self.name}[{self.address}]"  # how Postfix names a peer in its messages


@dataclass
class Outcome:
    """What happened to one recipient in one attempt."""
    code: int  # SMTP reply code; 4xx also for our own temporary failures
    text: str
    enhanced: str
    remote_mta: str = ""
    remote_has_dsn: bool = False

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    @property
    def success(self) -> bool:
        return 200 <= self.code < 300


def outcome_from_reply(code: int, text: bytes | str, remote_mta: str, remote_has_dsn: bool = False) -> Outcome:
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    text = " ".join(text.split())
    match = _ENHANCED.match(text)
    enhanced = match[1] if match else f"{str(code)[0]}.0.0"
    return Outcome(code, f"{code} {text}", enhanced, remote_mta, remote_has_dsn)


class DestinationError(Exception):
    """No usable mail exchanger; `outcome` says whether to retry."""

    def __init__(self, outcome: Outcome):
        super().__init__(outcome.text)
        self.outcome = outcome


def destination_error(code: int, enhanced: str, text: str) -> DestinationError:
    return DestinationError(Outcome(code, f"{code} {enhanced} {text}", enhanced))


@dataclass
class Parcel:
    """One queued message and those of its recipients that go to this destination."""
    message: QueuedMessage
    recipients: list[Recipient]
    # Read from the spool only once a host took the recipients: attempts waiting on a host
    # that never answers held every message whole (15 of 9 MB killed a 256 MB lab).
    load_content: Callable[[], bytes]


def _connect(hosts: list[Exchanger], port: int, helo: str, timeout: float,
             connect_timeout: float) -> tuple[smtplib.SMTP, Exchanger]:
    """A client that has said EHLO to the first host that answers, and that host."""
    errors = []
    for host in hosts:
        try:
            client = MtaClient(host.address, port, local_hostname=helo, timeout=connect_timeout)
            client.sock.settimeout(timeout)
            client.ehlo()
            return client, host
        except TimeoutError:
            errors.append(f"connect to {host}:{port}: Connection timed out")
        except (OSError, smtplib.SMTPException) as error:
            errors.append(_connect_error(host, port, error))
    raise destination_error(451, "4.4.1", "; ".join(errors))


def _connect_error(host: Exchanger, port: int, error: OSError | smtplib.SMTPException) -> str:
    """In Postfix's words, which students read in the queue (exercise 9): "connect to
    mail.otro.unlp.edu.ar[172.28.0.95]:25: Connection refused", not Python's "[Errno 111]"."""
    if isinstance(error, OSError) and error.strerror:
        return f"connect to {host}:{port}: {error.strerror}"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"host {host} refused to talk to me: {error.smtp_code} {error.smtp_error.decode(errors='replace')}"
    return f"lost connection with {host} while receiving the initial server greeting"


def _mail_options(client: smtplib.SMTP, message: QueuedMessage) -> list[str]:
    options = [f"SIZE={message.size}"] if client.has_extn("size") else []
    if client.has_extn("8bitmime") and message.body:
        options.append(f"BODY={message.body}")
    if client.has_extn("dsn"):
        if message.ret:
            options.append(f"RET={message.ret}")
        if message.envid:
            options.append(f"ENVID={message.envid}")
    return options


def _rcpt_options(client: smtplib.SMTP, recipient: Recipient) -> list[str]:
    if not client.has_extn("dsn"):
        return []
    options = [f"NOTIFY={','.join(recipient.notify)}"] if recipient.notify else []
    orcpt = recipient.orcpt or f"rfc822;{recipient.address}"
    options.append(f"ORCPT={orcpt}")
    return options


def _send_one(client: smtplib.SMTP, parcel: Parcel, remote: Exchanger, results: dict[int, Outcome]) -> None:
    has_dsn = client.has_extn("dsn")
    code, text = client.mail(parcel.message.mail_from, _mail_options(client, parcel.message))
    if code != 250:
        for recipient in parcel.recipients:
            results[id(recipient)] = outcome_from_reply(code, text, remote.name)
        client.rset()
        return
    accepted = []
    for recipient in parcel.recipients:
        code, text = client.rcpt(recipient.address, _rcpt_options(client, recipient))
        if code in (250, 251):
            accepted.append(recipient)  # its outcome is the reply to the data
        else:
            results[id(recipient)] = outcome_from_reply(code, text, remote.name)
    if not accepted:
        client.rset()
        return
    try:
        # smtplib dot-stuffs; the content has CRLF line ends only (message_data.py).
        code, text = client.data(break_long_lines(parcel.load_content()))
    except smtplib.SMTPDataError as error:
        code, text = error.smtp_code, error.smtp_error
    for recipient in accepted:
        results[id(recipient)] = outcome_from_reply(code, text, remote.name, has_dsn)


def send_batch(hosts: list[Exchanger], port: int, helo: str, parcels: list[Parcel], timeout: float,
               connect_timeout: float) -> dict[int, Outcome]:
    """Deliver `parcels` over one connection; the outcome per recipient, keyed by id(recipient)."""
    results: dict[int, Outcome] = {}
    try:
        client, remote = _connect(hosts, port, helo, timeout, connect_timeout)
    except DestinationError as error:
        return {id(r): error.outcome for p in parcels for r in p.recipients}
    # `remote` names the host connected to, so no socket call that a reset
    # connection could fail is needed outside the try below.
    try:
        for parcel in parcels:
            _send_one(client, parcel, remote, results)
        client.quit()
    except (OSError, smtplib.SMTPException) as error:
        client.close()
        lost = Outcome(451, f"451 4.4.2 lost connection with {remote}: {error}", "4.4.2", remote.name)
        for parcel in parcels:
            for recipient in parcel.recipients:
                results.setdefault(id(recipient), lost)
    return results

