"""How many SMTP sessions run at once, overall and per client IP (Postfix's process and connection limits).

Each session holds its buffers (up to a whole message in DATA), so the number
of sessions bounds the server's memory.
"""
from __future__ import annotations

from collections import Counter


class SessionLimits:
    def __init__(self, total: int, per_client: int):
        self.total = total
        self.per_client = per_client
        self._by_ip: Counter[str] = Counter()
        self._count = 0

    @property
    def sessions(self) -> int:
        """Sessions admitted and not yet ended."""
        return self._count

    def admit(self, ip: str) -> str | None:
        """Count a new session in, or say why not (the text of a 421 reply)."""
        if self._count >= self.total:
            return "too many connections, try again later"
        if self._by_ip[ip] >= self.per_client:
            return f"too many connections from {ip}"
        self._by_ip[ip] += 1
        self._count += 1
        return None

    def release(self, ip: str) -> None:
        self._count -= 1
        self._by_ip[ip] -= 1
        if self._by_ip[ip] <= 0:
            del self._by_ip[ip]
