"""The on-disk queue.

Each accepted message is one file `<id>.msg`: a JSON envelope line, then the
message bytes exactly as received (CRLF line ends). It is written to a
temporary name, fsynced, renamed and the directory fsynced before the client
gets its 250, so an acknowledged message survives kill -9 and power loss
(sessions storing at the same time share the directory's fsync: dirsync.py).

Delivery progress lives beside it in `<id>.state` (per-recipient status),
replaced atomically (write, fsync, rename, fsync dir) after every attempt.
The `.msg` file is never rewritten, which keeps acceptance to one file write.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from . import quota
from .durable import write_durably

# Recipient states. FINAL states never change again.
PENDING, DEFERRED = "pending", "deferred"
DELIVERED, RELAYED, FAILED = "delivered", "relayed", "failed"
FINAL_STATES = (DELIVERED, RELAYED, FAILED)


@dataclass
class Recipient:
    address: str
    notify: list[str] | None = None  # RFC 3461 NOTIFY; None means "not given"
    orcpt: str | None = None  # RFC 3461 ORCPT, as "addr-type;xtext"
    original: str = ""  # the address as the client gave it, when not `address` (RCPT TO:<alumnoimap>)
    status: str = PENDING
    attempts: int = 0
    reason: str = ""  # last reply or error seen, for the queue listing and DSNs
    status_code: str = ""  # enhanced status code for DSNs, e.g. "5.1.1"
    remote_mta: str = ""

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATES


@dataclass
class QueuedMessage:
    queue_id: str
    mail_from: str
    recipients: list[Recipient]
    arrival: float
    size: int
    client_ip: str = ""
    helo: str = ""
    auth_user: str = ""
    ret: str | None = None  # RFC 3461 RET=FULL|HDRS
    envid: str | None = None  # RFC 3461 ENVID
    # BODY= as the client declared it (RFC 6152), passed on as Postfix's smtp(8) passes it: an
    # undeclared 8-bit message goes on without one too (test_relay_client_parity).
    body: str | None = None
    is_dsn: bool = False  # bounces are never bounced again
    next_attempt: float = 0.0
    delay_notified: bool = False

    @property
    def is_done(self) -> bool:
        return all(r.is_final for r in self.recipients)


def new_queue_id() -> str:
    """A Postfix-looking queue id: 10 upper-case hex digits."""
    return secrets.token_hex(5).upper()


class Spool:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _msg_path(self, queue_id: str) -> Path:
        return self.directory / f"{queue_id}.msg"

    def _state_path(self, queue_id: str) -> Path:
        return self.directory / f"{queue_id}.state"

    def store(self, message: QueuedMessage, *content: bytes | bytearray) -> bool:
        """Durably queue a message whose content is the concatenation of `content`.

        False if that queue id is already queued. The parts are written one
        after the other, never joined: a 10 MB message is not copied again here.
        """
        path = self._msg_path(message.queue_id)
        if path.exists():
            return False
        # default=vars: the dataclasses as their field dicts, as asdict() gives them, minus its deep copies.
        header = json.dumps(message, default=vars).encode() + b"\n"
        write_durably(path, [header, *content])
        quota.added(self.directory, len(header) + sum(map(len, content)))
        return True

    def save_state(self, message: QueuedMessage) -> None:
        state = {"recipients": message.recipients,
                 "next_attempt": message.next_attempt,
                 "delay_notified": message.delay_notified}
        write_durably(self._state_path(message.queue_id), [json.dumps(state, default=vars).encode()])

    def load(self, queue_id: str) -> QueuedMessage:
        with open(self._msg_path(queue_id), "rb") as handle:
            header = json.loads(handle.readline())
        header["recipients"] = [Recipient(**r) for r in header["recipients"]]
        message = QueuedMessage(**header)
        try:
            state = json.loads(self._state_path(queue_id).read_bytes())
        except FileNotFoundError:
            return message
        message.recipients = [Recipient(**r) for r in state["recipients"]]
        message.next_attempt = state["next_attempt"]
        message.delay_notified = state["delay_notified"]
        return message

    def content(self, queue_id: str) -> bytes:
        with open(self._msg_path(queue_id), "rb") as handle:
            handle.readline()
            return handle.read()

    def remove(self, queue_id: str) -> None:
        """Forget a finished message.

        The .msg goes first: a crash in between leaves only a stray .state,
        never a message that would be reloaded with its progress lost.
        """
        self._msg_path(queue_id).unlink(missing_ok=True)
        self._state_path(queue_id).unlink(missing_ok=True)

    def queue_ids(self) -> list[str]:
        """Ids of queued messages, oldest file first; leftover temporary files are ignored."""
        found = []
        for path in self.directory.glob("*.msg"):
            try:
                found.append((path.stat().st_mtime, path.stem))
            except FileNotFoundError:  # finished and removed while we listed
                continue
        return [queue_id for _, queue_id in sorted(found)]

    def load_all(self) -> list[QueuedMessage]:
        messages = []
        for queue_id in self.queue_ids():
            try:
                messages.append(self.load(queue_id))
            except FileNotFoundError:  # finished and removed while we listed
                continue
        return messages
