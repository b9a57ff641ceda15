"""Parsing of SMTP paths and the decision whether an address is ours.

The relay decision is deliberately strict: an address counts as local only when
its local part, unquoted, has no '%', '!', '@', quote or backslash (which some MTAs
treat as routing) and its domain is one of the server's own (Postfix's
mydestination: the local domains, its host name, localhost; a final dot ignored).
Everything else is "remote", which an unauthenticated client may not use.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATOM}(?:\.{_ATOM})*\Z")
# Postfix takes dots anywhere in a local part (a..b, .a, a.), as old mobile carriers' addresses
# have them; such a local part is kept quoted, as RFC 5321 wants it written on the wire.
_LOOSE_DOTS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+\Z")
# RFC 5321 4.1.2: qtextSMTP is %d32-33 / %d35-91 / %d93-126, quoted-pairSMTP is a backslash and %d32-126:
# nothing below 32, so no CR or LF can ride in a quoted local part into Return-Path:.
_QUOTED = re.compile(r'"(?:[ !#-\[\]-~]|\\[ -~])*"\Z')
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?\Z")
_ADDRESS_LITERAL = re.compile(r"\[[!-Z^-~]+\]\Z")  # dtext: %d33-90 / %d94-126
# Characters that some MTAs interpret as routing inside a local part.
_ROUTING_CHARS = set('%!@"\\')


class AddressError(ValueError):
    """The path is not valid RFC 5321 syntax."""


@dataclass(frozen=True)
class LocalMailbox:
    local_part: str  # lower-cased, without quotes
    domain: str  # the local domain whose account it names


@dataclass(frozen=True)
class Path:
    address: str  # "" for the null reverse-path <>
    params: str  # the ESMTP parameters after the path
    as_typed: str = ""  # the mailbox as the client wrote it, unquoted, for replies (Postfix echoes that)
    # The mailbox as the client gave it (no domain appended), quoted only where it must be: the
    # original recipient Postfix names in Received: (for <...>) and X-Original-To:.
    given: str = ""


def _split_mailbox(mailbox: str) -> tuple[str, str]:
    """Split at the '@' that is not inside a quoted local part."""
    if mailbox.startswith('"'):
        end = mailbox.find('"@', 1)
        while end != -1 and not _QUOTED.match(mailbox[: end + 1]):
            end = mailbox.find('"@', end + 1)
        if end == -1:
            raise AddressError("bad quoted local part")
        return mailbox[: end + 1], mailbox[end + 2 :]
    local, at, domain = mailbox.rpartition("@")
    if not at:
        raise AddressError("missing domain")
    return local, domain


def validate_mailbox(mailbox: str) -> str:
    """The mailbox as we keep it (a local part with misplaced dots quoted), or AddressError."""
    local, domain = _split_mailbox(mailbox)
    if not (_DOMAIN.match(domain) or _is_address_literal(domain)):
        raise AddressError("bad domain")
    if _DOT_ATOM.match(local) or _QUOTED.match(local):
        return mailbox
    if _LOOSE_DOTS.match(local):
        return f'"{local}"@{domain}'
    raise AddressError("bad local part")


def _is_address_literal(domain: str) -> bool:
    """[192.0.2.1] or [IPv6:2001:db8::1]: an address Postfix can read (valid_hostaddr); it
    refuses [1.2.3] or a general literal as bad syntax, not as someone else's host."""
    if not _ADDRESS_LITERAL.match(domain):
        return False
    text = domain[1:-1]
    version, address = (6, text[5:]) if text[:5].lower() == "ipv6:" else (4, text)
    try:
        return ipaddress.ip_address(address).version == version
    except ValueError:
        return False


def reply_form(mailbox: str) -> str:
    """The mailbox as Postfix names it in a reply: its local part unquoted ("alumno imap"@x is
    <alumno imap@x>). Quoted text holds no control character (_QUOTED), so none reaches a reply."""
    if "@" not in mailbox:
        return _unquoted(mailbox)
    local, domain = _split_mailbox(mailbox)
    return f"{_unquoted(local)}@{domain}"


def parse_path(argument: str, *, allow_null: bool, default_domain: str | None = None) -> Path:
    """Parse '<mailbox> params' as it follows 'MAIL FROM:' or 'RCPT TO:'.

    Brackets are optional (Postfix accepts that too); a source route
    '@a,@b:' is dropped, as RFC 5321 section 4.1.1.3 tells servers to do.
    A mailbox without a domain gets `default_domain` when one is given, as
    Postfix appends $myorigin (`RCPT TO:<alumnoimap>`).
    """
    argument = argument.strip()
    if not argument:
        raise AddressError("empty path")
    if argument.startswith("<"):
        in_quotes, end = False, -1
        for i, char in enumerate(argument):
            if char == '"' and argument[i - 1] != "\\":
                in_quotes = not in_quotes
            elif char == ">" and not in_quotes:
                end = i
                break
        if end == -1:
            raise AddressError("missing '>'")
        # Blanks inside the brackets are no part of the address (Postfix drops them too).
        mailbox, params = argument[1:end].strip(" \t"), argument[end + 1 :]
        if params and params[0] not in " \t":
            raise AddressError("garbage after '>'")
    else:
        mailbox, _, params = argument.partition(" ")
    if mailbox.startswith("@"):
        route, colon, mailbox = mailbox.partition(":")
        if not colon or not all(hop.startswith("@") and _DOMAIN.match(hop[1:]) for hop in route.split(",")):
            raise AddressError("bad source route")
    if not mailbox:
        if not allow_null:
            raise AddressError("null address not allowed here")
        return Path("", params.strip())
    as_typed, given = reply_form(mailbox), _quoted_where_needed(mailbox)
    if default_domain and "@" not in mailbox and _LOOSE_DOTS.match(mailbox):
        mailbox = f"{mailbox}@{default_domain}"
    return Path(validate_mailbox(mailbox), params.strip(), as_typed, given)


def _quoted_where_needed(mailbox: str) -> str:
    """"alumnoimap"@x is alumnoimap@x; "alumno imap"@x stays quoted (Postfix's quote_822_local)."""
    local, domain = _split_mailbox(mailbox) if "@" in mailbox else (mailbox, None)
    plain = _unquoted(local)
    return (plain if _DOT_ATOM.match(plain) else local) + (f"@{domain}" if domain is not None else "")


def domain_of(address: str) -> str:
    return _split_mailbox(address)[1].lower()


def _unquoted(local: str) -> str:
    """"alumnoimap" is alumnoimap, as Postfix reads a quoted local part."""
    if not _QUOTED.match(local):
        return local
    return re.sub(r"\\(.)", r"\1", local[1:-1])


def local_mailbox(address: str, destinations: dict[str, str]) -> LocalMailbox | None:
    """The mailbox `address` is delivered to if it is plainly one of ours, else None.
    `destinations` maps each of the server's own domain names to the local domain it stands for
    (Config.local_destinations)."""
    local, domain = _split_mailbox(address)
    domain = destinations.get(domain.lower().removesuffix("."))
    local = _unquoted(local)
    if domain is None or _ROUTING_CHARS & set(local):
        return None
    return LocalMailbox(local.lower(), domain)
