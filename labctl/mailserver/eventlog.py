"""Structured log: one JSON object per line, for sessions and delivery attempts."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterator


class EventLog:
    """Appends events to a JSON-lines file; each event is one write() so lines never interleave."""

    def __init__(self, path: str | Path):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, event: str, **fields: Any) -> None:
        record = {"ts": round(time.time(), 6), "event": event, **fields}
        os.write(self._fd, (json.dumps(record, default=str) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


def read_events(path: str | Path) -> Iterator[dict]:
    """Yield the logged events in order, skipping a torn last line left by a crash."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
