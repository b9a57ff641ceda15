"""SPF (RFC 7208) of incoming mail, evaluated by pyspf (Debian's python3-spf).

pyspf does its own DNS lookups through dnspython's default resolver, which
reads /etc/resolv.conf. The MTA must ask the resolvers of its configuration
(the lab's resolver; a stub in the tests) as its MX lookups do, so pyspf's
lookup function is replaced by one that takes the resolver of the calling
context. The evaluation blocks on DNS and runs in a worker thread
(asyncio.to_thread copies the context, so each check sees its own resolver).

The verdict is written as policyd-spf writes it: a Received-SPF field (RFC 7208
9.1) in pyspf's own wording, and, when the policy rejects, Postfix's
`550 5.7.23` reply (RFC 7372 code for an SPF validation failure).
"""
from __future__ import annotations

import argparse
import contextvars
import json
import re
from dataclasses import dataclass

import dns.exception
import dns.resolver
import spf

from .config import DEFAULT_CONFIG_PATH, load_for_command

# Each DNS query of an evaluation gets at most this long; pyspf itself bounds the
# number of queries (10 mechanisms, RFC 7208 4.6.4) and their total time.
LOOKUP_TIMEOUT = 5.0
RESULTS = ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror")
HEADER_LINE = 78
# The record text is the sender's (hostile) data; none of it may break the header.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
MAX_HEADER = 2000

_resolver: contextvars.ContextVar[dns.resolver.Resolver | None] = contextvars.ContextVar("spf_resolver", default=None)
_library_lookup = spf.DNSLookup


def _lookup(name: str, qtype: str, strict: bool = True, timeout: float = LOOKUP_TIMEOUT) -> list:
    """pyspf's DNSLookup, through the resolver of the current context."""
    resolver = _resolver.get()
    if resolver is None:
        return _library_lookup(name, qtype, strict, timeout)
    try:
        answer = resolver.resolve(name, qtype, lifetime=min(timeout, LOOKUP_TIMEOUT), search=False)
    except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
        return []
    except dns.exception.DNSException as error:
        raise spf.TempError(f"DNS {error}") from None
    found = []
    for rdata in answer:
        if qtype in ("A", "AAAA"):
            found.append(((name, qtype), rdata.address))
        elif qtype == "MX":
            found.append(((name, qtype), (rdata.preference, rdata.exchange)))
        elif qtype == "PTR":
            found.append(((name, qtype), rdata.target.to_text(True)))
        elif qtype in ("TXT", "SPF"):
            found.append(((name, qtype), rdata.strings))
    return found


spf.DNSLookup = _lookup


@dataclass(frozen=True)
class SpfVerdict:
    result: str  # one of RESULTS
    explanation: str
    header: bytes  # the whole Received-SPF field, folded, CRLF-terminated

    @property
    def reject_text(self) -> str:
        """policyd-spf's words when it rejects a fail (Postfix puts the recipient and code before them)."""
        return f"Message rejected due to: {self.explanation}. Please see http://www.open-spf.org/Why"


def _fold(value: str) -> bytes:
    """'Received-SPF: value' folded before words so that lines stay near HEADER_LINE."""
    lines = ["Received-SPF:"]
    for word in value.split(" "):
        if len(lines[-1]) + 1 + len(word) > HEADER_LINE and lines[-1].strip() != "Received-SPF:":
            lines.append("\t" + word)
        else:
            lines[-1] += " " + word
    return ("\r\n".join(lines) + "\r\n").encode("ascii", "replace")


def _resolver_for(nameservers: list[str], port: int) -> dns.resolver.Resolver:
    if not nameservers:
        return dns.resolver.Resolver()
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = list(nameservers)
    resolver.port = port
    return resolver


def evaluate(*, client_ip: str, mail_from: str, helo: str, receiver: str,
             nameservers: list[str], port: int = 53) -> SpfVerdict:
    """Check the MAIL FROM identity (the HELO one for the null sender) of a client; blocks on DNS."""
    token = _resolver.set(_resolver_for(nameservers, port))
    try:
        query = spf.query(i=client_ip, s=mail_from, h=helo or "unknown", receiver=receiver,
                          timeout=LOOKUP_TIMEOUT * 4)
        result, _code, explanation = query.check()
        value = query.get_header(result, receiver)
    finally:
        _resolver.reset(token)
    value = _UNSAFE.sub("?", value)[:MAX_HEADER]
    explanation = _UNSAFE.sub("?", explanation)[:200]
    return SpfVerdict(result, explanation, _fold(value))


def main(argv: list[str] | None = None) -> int:
    """`python3 -m labctl.mailserver.spf_check --ip A [--ip B ...] --sender S`: the result for each
    address as JSON, through the MTA's own resolvers (what the checks ask the provider's MTA)."""
    parser = argparse.ArgumentParser(prog="python3 -m labctl.mailserver.spf_check")
    parser.add_argument("--config", default=DEFAULT_CONFIG_PATH)
    parser.add_argument("--ip", action="append", required=True, help="client address to evaluate")
    parser.add_argument("--sender", required=True, help="MAIL FROM address")
    args = parser.parse_args(argv)
    config = load_for_command(args.config)
    results = {ip: evaluate(client_ip=ip, mail_from=args.sender, helo=args.sender.rpartition("@")[2],
                            receiver=config.hostname, nameservers=config.resolvers, port=config.resolver_port).result
               for ip in args.ip}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
