"""Failed AUTH is answered slowly, per client IP, as Dovecot and Postfix's anvil slow guessing.

The n-th failure from one IP within FORGET_AFTER seconds of the previous one
waits initial * 2**(n-1) seconds, at most `maximum`. The waits of one IP are
queued behind each other, so parallel sessions from one address do not
multiply the guessing rate: at most one wrong answer every `maximum` seconds
per IP once the delay has grown. A success is never delayed, so a student's
own typo costs them half a second, not a lockout; nor does it clear the
record, or a guesser with one good account could reset its own delay.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

FORGET_AFTER = 300.0
MAX_TRACKED = 4096  # addresses remembered at once; past that the stalest half is forgotten


@dataclass
class _Record:
    failures: int = 0
    last_failure: float = 0.0
    next_answer: float = 0.0  # when the IP's latest queued failure is answered


class AuthThrottle:
    def __init__(self, initial: float, maximum: float):
        self.initial = initial
        self.maximum = maximum
        self._records: dict[str, _Record] = {}

    def delay_for(self, failures: int) -> float:
        return min(self.initial * 2 ** (failures - 1), self.maximum)

    async def failed(self, ip: str) -> None:
        """Wait before the client at `ip` may be told its password was wrong."""
        now = time.monotonic()
        record = self._records.get(ip)
        if record is None or now - record.last_failure > FORGET_AFTER:
            record = self._records[ip] = _Record()
            self._forget_stale()
        record.failures += 1
        record.last_failure = now
        record.next_answer = max(now, record.next_answer) + self.delay_for(record.failures)
        await asyncio.sleep(record.next_answer - now)

    def _forget_stale(self) -> None:
        if len(self._records) > MAX_TRACKED:
            by_age = sorted(self._records, key=lambda ip: self._records[ip].last_failure)
            for ip in by_age[: len(by_age) // 2]:
                del self._records[ip]
