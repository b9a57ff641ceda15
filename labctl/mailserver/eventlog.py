"""Structured log: one JSON object per line, for sessions and delivery attempts.

The checks and `labctl mail log` read it, so event names and fields are stable:

- listening: listener, host, port, kind
- connect: session, listener, kind, peer [ip, port]; disconnect: session
- command: session, line (AUTH secrets replaced by "<redacted>"); reply: session, line
- auth: session, mechanism, login, success
- mail_from: session, address, params; rcpt_to: session, address, params
- etrn: session, domain, allowed
- spf: session, result (pass/fail/softfail/neutral/none/permerror/temperror), client_ip,
  mail_from, helo, explanation
- relay_domains: domains, source (the backup-MX setting file was read); config_error: error, kept
- queued: session, queue_id, mail_from, recipients, size; queue_error: session, error
- log_limit: session, limit (later command/reply lines of that session are not logged)
- internal_error: error and session, or where and queue_ids
- relay_connect: domain, hosts, port, queue_ids
- delivery: queue_id, recipient, via, status, reply, attempt, remote_has_dsn; a local
  delivery that succeeded adds client_ip, auth_user and summary (summary.py's compact
  MessageSummary, or {unreadable: why}): the checks' evidence once POP3 has deleted it
- dsn_queued: queue_id, about, action, recipients

Every event also has ts (Unix time) and event. The log is bounded: string
values longer than MAX_VALUE characters are cut (with a note of how much),
and the file is rotated at max_bytes into .1, .2, ... keeping `backups` of them.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Iterator

# Above the summary fields the checks read and most command lines; the rare longer command
# (the MTA takes up to 2048 octets, as Postfix) is logged cut, its verb and address intact.
MAX_VALUE = 1000


# Every event is encoded on the event loop: one encoder for all (json.dumps with `default`
# builds a new one per call), and plain values pass _bounded without a recursive call.
_ENCODE = json.JSONEncoder(default=str).encode
_PLAIN = frozenset({int, float, bool, type(None)})


def _bounded(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_VALUE else f"{value[:MAX_VALUE]}...[{len(value) - MAX_VALUE} more characters]"
    if isinstance(value, dict):
        return {key: _bounded(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_bounded(item) for item in value]
    return value


def rotated_paths(path: str | Path, backups: int) -> list[Path]:
    """The log's files, oldest first: path.N ... path.1, path."""
    path = Path(path)
    return [path.with_name(f"{path.name}.{n}") for n in range(backups, 0, -1)] + [path]


class EventLog:
    """Appends events to a JSON-lines file; whole lines per write() so lines never interleave.

    `write` puts the event in the file now; `note` keeps it until the next `flush` or
    `write` (order kept): a session notes its command and writes its reply lines in one
    system call just before the reply leaves, instead of one call per line.
    """

    def __init__(self, path: str | Path, *, max_bytes: int = 16 * 1024 * 1024, backups: int = 2):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()  # delivery threads and the event loop both log
        self._pending: list[bytes] = []
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size

    def write(self, event: str, **fields: Any) -> None:
        line = self._line(event, fields)
        with self._lock:
            self._pending.append(line)
            self._flush_pending()

    def note(self, event: str, **fields: Any) -> None:
        line = self._line(event, fields)
        with self._lock:
            self._pending.append(line)

    def flush(self) -> None:
        with self._lock:
            self._flush_pending()

    @staticmethod
    def _line(event: str, fields: dict) -> bytes:
        record = {"ts": round(time.time(), 6), "event": event}
        for key, value in fields.items():
            record[key] = _bounded(value)
        return (_ENCODE(record) + "\n").encode()

    def _flush_pending(self) -> None:
        if not self._pending or self._fd < 0:
            # Closed: a session that ends after the service stopped (its disconnect line)
            # must not write into whatever file has since taken the descriptor's number.
            self._pending.clear()
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
        view = memoryview(data)
        while view:  # a short write must not lose the lines after it
            written = os.write(self._fd, view)
            self._size += written
            view = view[written:]

    def _rotate(self) -> None:
        os.close(self._fd)
        paths = rotated_paths(self.path, self.backups)
        if self.backups:
            for older, newer in zip(paths, paths[1:]):
                if newer.exists():
                    os.replace(newer, older)
        else:
            self.path.unlink(missing_ok=True)
        self._open()

    def close(self) -> None:
        with self._lock:
            self._flush_pending()
            fd, self._fd = self._fd, -1
        os.close(fd)


def read_events(path: str | Path) -> Iterator[dict]:
    """Yield the logged events in order, rotated files first, skipping torn lines left by a crash."""
    path = Path(path)
    rotated = [(int(suffix), part) for part in path.parent.glob(f"{path.name}.*")
               if (suffix := part.name.rsplit(".", 1)[1]).isdigit()]
    for part in [part for _, part in sorted(rotated, reverse=True)] + [path]:
        with open(part, encoding="utf-8") as handle:
            for line in handle:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue
