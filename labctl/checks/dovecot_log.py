"""Dovecot's logins, read from its log (the mail container's output): they are there
whether the session was encrypted or not, so they tell that an account was used."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# '2026-11-28T23:50:01.123456789Z Nov 28 23:50:01 pop3-login: Info: Login: user=<alumnopop@redes.unlp.edu.ar>,
# method=PLAIN, rip=172.28.0.1, lip=172.28.0.90, mpid=42, TLS, session=<...>' (docker logs --timestamps)
_LOGIN = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?Z .*?\b(?P<protocol>pop3|imap)-login: "
                    r"Info: Login: user=<(?P<user>[^>]*)>.*?\brip=(?P<rip>[0-9A-Fa-f:.]+)")


@dataclass(frozen=True)
class Login:
    ts: float
    protocol: str  # "pop3" or "imap"
    user: str  # as Dovecot names it: alumnopop@redes.unlp.edu.ar (the realm is appended)
    client_ip: str

    def is_account(self, address: str) -> bool:
        """The login is the account's, given by address or by user name alone."""
        return self.user.lower() in (address.lower(), address.partition("@")[0].lower())


def parse_logins(log: str) -> list[Login]:
    logins = []
    for line in log.splitlines():
        found = _LOGIN.match(line)
        if found:
            ts = datetime.fromisoformat(found["ts"] + "+00:00").timestamp()
            logins.append(Login(ts, found["protocol"], found["user"], found["rip"]))
    return logins
