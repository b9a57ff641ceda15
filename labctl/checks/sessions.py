"""Mail sessions as a check sees them: which commands got a positive answer, how many
messages and recipients an SMTP session had accepted, what the fetch commands got, and
whether the session switched to TLS. Built from the capture's dialogues, or from the MTA's
own log of an SMTP session (which also sees what TLS hides from the capture)."""
from __future__ import annotations

import base64
import binascii
import re
import time
from dataclasses import dataclass, field

from labctl.capture.dialogue import Exchange, dialogue
from labctl.capture.streams import Chunk, Direction
from labctl.capture.tcp import TcpStream

CAPTURE, MTA_LOG = "capture", "MTA log"
# Commands whose answer carries message data (a delivered message is recognised in it).
FETCHES = {"RETR", "TOP", "FETCH", "UID FETCH"}
# What starts TLS in each protocol: after it is accepted the capture shows only ciphertext.
STARTS_TLS = {"smtp": "STARTTLS", "pop": "STLS", "imap": "STARTTLS"}
ENVELOPE_PATH = re.compile(r"^(?:MAIL\s+FROM|RCPT\s+TO)\s*:\s*<?([^<>\s]*)>?", re.IGNORECASE)


@dataclass(frozen=True)
class Step:
    verb: str  # upper-case command word(s), without an IMAP tag: "EHLO", "UID FETCH"
    ok: bool  # answered positively (after any SASL continuation)
    # POP3 TOP that returned only part of the message (its header, some lines): no download.
    part: bool = False


@dataclass(frozen=True)
class Queued:
    """A message the MTA's log says it accepted in a session: its envelope (the log has no content)."""
    queue_id: str
    mail_from: str
    recipients: tuple[str, ...]


@dataclass
class Session:
    source: str  # CAPTURE or MTA_LOG
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int
    start: float
    end: float
    steps: list[Step] = field(default_factory=list)
    encrypted: bool = False  # STARTTLS/STLS accepted
    messages: int = 0  # SMTP: messages accepted (250 after the data)
    recipients: int = 0  # SMTP: RCPT answered 250/251
    # SMTP: each accepted message once per recipient it was accepted for: the mails it makes
    # (the course sheet counts a message to several recipients as several mails).
    mails: int = 0
    fetched: str = ""  # POP3/IMAP: what RETR, TOP and FETCH answered
    login: str = ""  # POP3/IMAP: the user name of the accepted login, as the client gave it
    stream: TcpStream | None = None  # the capture's connection (CAPTURE sessions)
    queued: list[Queued] = field(default_factory=list)  # SMTP in the MTA's log: messages accepted

    @property
    def where(self) -> str:
        client = f"[{self.client_ip}]" if ":" in self.client_ip else self.client_ip
        return f"{client}:{self.client_port}→:{self.server_port}"

    def has(self, wanted: str) -> bool:
        """`wanted` is a command or alternatives ("AUTH|USER"); "UID FETCH" matches itself only."""
        return any(step.ok and not step.part and step.verb == alt for step in self.steps for alt in wanted.split("|"))

    def answered(self) -> list[str]:
        """The commands answered positively, each once, in the order first seen."""
        return list(dict.fromkeys(step.verb + (" (part)" if step.part else "") for step in self.steps if step.ok))


def verb_of(command: str, tagged: bool) -> str:
    """The command's verb (two words for IMAP's UID FETCH), upper-cased, without the tag."""
    words = command.split(None, 3)[1 if tagged else 0:]
    if not words:
        return ""
    return " ".join(words[:2]).upper() if words[0].upper() == "UID" else words[0].upper()


def _sasl_user(mechanism: str, blob: str) -> str:
    """The user a SASL first answer (base64) names: PLAIN's authentication identity
    (authzid NUL authcid NUL password), LOGIN's whole answer."""
    try:
        decoded = base64.b64decode(blob.strip(), validate=True)
    except (binascii.Error, ValueError):
        return ""
    if mechanism == "LOGIN":
        return decoded.decode("utf-8", "replace")
    parts = decoded.split(b"\0")
    return parts[1].decode("utf-8", "replace") if len(parts) == 3 else ""


def envelope_path(command: str) -> str | None:
    """The address of a MAIL FROM or RCPT TO command, lower case, without brackets (None: no such command)."""
    path = ENVELOPE_PATH.match(command.strip())
    return path[1].lower() if path else None


def login_name(protocol: str, verb: str, lines: list[str]) -> str:
    """Who logs in with this command (`lines`: the command line, then the client's SASL
    answers): LOGIN and USER name the user, AUTH(ENTICATE) PLAIN and LOGIN carry it in base64."""
    words = lines[0].split()[1 if protocol == "imap" else 0:]
    if verb in ("LOGIN", "USER") and len(words) > 1:
        return words[1].strip('"')
    if verb in ("AUTH", "AUTHENTICATE") and len(words) > 1:
        first_answer = words[2] if len(words) > 2 else (lines[1] if len(lines) > 1 else "")
        mechanism = words[1].upper()
        if mechanism in ("PLAIN", "LOGIN"):  # LOGIN: Roundcube's and swaks's choice on SMTP
            return _sasl_user(mechanism, first_answer)
    return ""


def whole_message(command: str, reply: str) -> bool:
    """A POP3 TOP answered with the entire message: fewer body lines than it asked for
    (RFC 1939 sends the whole body then). fetchmail downloads so, TOP n 99999999, unless
    told to keep the mail on the server; mutt's TOP n 0 for its index is the header only."""
    words = command.split()
    if len(words) < 3 or not words[2].isdigit():
        return False
    lines = reply.split("\r\n")[1:]  # after the +OK line
    body = lines[lines.index("") + 1:] if "" in lines else []
    if body[-2:] == [".", ""]:  # the terminating "." line
        body = body[:-2]
    return len(body) < int(words[2])


def _imap_ok(exchange: Exchange) -> bool:
    tag = exchange.command_text.split(None, 1)[0] if exchange.command_text.strip() else ""
    lines = exchange.reply_text.rstrip("\r\n").split("\n")
    completions = [line for line in lines if line.startswith(f"{tag} ")]
    if completions:
        return completions[-1].startswith(f"{tag} OK")
    # No completion yet: a command still going on when the capture was read (an IDLE).
    return exchange.reply_text.startswith("+")


def _continues(protocol: str, reply: str) -> bool:
    """A SASL challenge: the client answers on the next line, the outcome comes after."""
    return reply.startswith("334") if protocol == "smtp" else protocol == "pop" and reply.startswith("+ ")


def session_from_exchanges(protocol: str, exchanges: list[Exchange], session: Session,
                           tls_hides: bool = True) -> Session:
    """Fill `session` from a dialogue; `tls_hides`: after STARTTLS nothing is readable
    (the capture); the MTA's log goes on."""
    tagged = protocol == "imap"
    i = 0
    transaction_recipients: set[str] = set()  # SMTP: recipients accepted since the transaction began
    while i < len(exchanges):
        exchange = exchanges[i]
        i += 1
        if exchange.command is None:
            continue  # the greeting, or data the server sent unprompted
        verb = verb_of(exchange.command_text, tagged)
        reply = exchange.reply_text
        client_lines = exchange.command_text.splitlines()
        while _continues(protocol, reply) and i < len(exchanges) and exchanges[i].command is not None:
            client_lines.append(exchanges[i].command_text)  # the client's answer to the challenge
            reply = exchanges[i].reply_text  # and its outcome
            i += 1
        if protocol == "smtp":
            ok = reply[:1] in ("2", "3")
            accepted = False
            if verb == "DATA" and reply.startswith("354"):
                accepted = i < len(exchanges) and exchanges[i].reply_text.startswith("250")
                i += 1  # the message itself, not a command
            elif verb == "BDAT" and exchange.command_text.partition("\n")[0].upper().split()[2:3] == ["LAST"]:
                accepted = reply.startswith("250")
            elif verb == "RCPT" and ok:
                session.recipients += 1
                # The same address twice is one mail (Postfix delivers it once).
                transaction_recipients.add(envelope_path(exchange.command_text) or "")
            if accepted:
                session.messages += 1
                session.mails += len(transaction_recipients)
            if accepted or verb in ("RSET", "HELO", "EHLO", "DATA") or (verb == "MAIL" and ok) or (verb == "BDAT" and not ok):
                transaction_recipients = set()
        elif protocol == "pop":
            ok = reply.startswith("+OK")
            if verb == "USER":  # a login only when the PASS after it is accepted
                ok = ok and i < len(exchanges) and verb_of(exchanges[i].command_text, False) == "PASS" \
                    and exchanges[i].reply_text.startswith("+OK")
        else:
            ok = _imap_ok(exchange)
        part = protocol == "pop" and verb == "TOP" and ok and not whole_message(exchange.command_text, reply)
        session.steps.append(Step(verb, ok, part))
        if ok and client_lines and (user := login_name(protocol, verb, client_lines)):
            session.login = user
        if ok and verb in FETCHES:
            session.fetched += reply
        if ok and verb == STARTS_TLS.get(protocol):
            session.encrypted = True
            if tls_hides:
                break
    return session


def capture_session(stream: TcpStream) -> Session:
    session = Session(CAPTURE, stream.client.ip, stream.client.port, stream.server.ip, stream.server.port,
                      stream.start_ts, stream.end_ts, stream=stream)
    return session_from_exchanges(stream.proto or "", dialogue(stream), session)


def _chunk(direction: Direction, ts: float, text: str) -> Chunk:
    return Chunk(direction, ts, text.encode("utf-8", "replace"))


def mta_log_sessions(events: list[dict], server_ip: str, listener_ports: dict[str, int]) -> list[Session]:
    """The SMTP sessions of an MTA's log, each as the dialogue the MTA had (TLS or not).

    The log has a "command" per client line and a "reply" per reply line; the message
    itself is not logged, so after DATA's 354 the next reply is the message's outcome.
    A "queued" event names the envelope of each message accepted.
    """
    by_id: dict[str, tuple[Session, list[Exchange]]] = {}
    pending: dict[str, tuple[Chunk | None, list[str], float]] = {}

    def close(sid: str) -> None:
        command, lines, ts = pending.pop(sid, (None, [], 0.0))
        if sid in by_id and (command is not None or lines):
            by_id[sid][1].append(Exchange(command, _chunk(Direction.SERVER, ts, "\r\n".join(lines)) if lines else None))

    for event in events:
        sid, kind, ts = event.get("session"), event.get("event"), event.get("ts", 0.0)
        if sid is None:
            continue
        if kind == "connect":
            peer = event.get("peer") or ["", 0]
            port = listener_ports.get(event.get("listener", ""), 0)
            by_id[sid] = (Session(MTA_LOG, str(peer[0]), int(peer[1]), server_ip, port, ts, ts), [])
        elif sid not in by_id:
            continue  # the log began mid-session
        elif kind == "queued":
            recipients = event.get("recipients") or []
            by_id[sid][0].queued.append(Queued(str(event.get("queue_id", "")), str(event.get("mail_from", "")),
                                               tuple(str(r) for r in recipients if isinstance(r, str))))
        elif kind == "command":
            close(sid)
            pending[sid] = (_chunk(Direction.CLIENT, ts, event.get("line", "")), [], ts)
        elif kind == "reply":
            command, lines, first = pending.get(sid, (None, [], ts))
            line = event.get("line", "")
            lines.append(line)
            pending[sid] = (command, lines, first)
            if command is not None and command.text.upper().startswith("DATA") and line.startswith("354"):
                close(sid)  # what follows answers the message
                pending[sid] = (_chunk(Direction.CLIENT, ts, ""), [], ts)
        by_id[sid][0].end = ts
    for sid in list(pending):
        close(sid)
    return [session_from_exchanges("smtp", exchanges, session, tls_hides=False) for session, exchanges in by_id.values()]


def clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))
