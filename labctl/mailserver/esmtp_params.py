"""The ESMTP parameters after MAIL FROM:<...> and RCPT TO:<...>, read as Debian's Postfix
3.7 reads them (smtpd.c mail_cmd() and rcpt_cmd()): word by word, the first bad word answered
with Postfix's reply, a word Postfix does not know named as the client typed it ("555 5.5.4
Unsupported option: BODY=FOO"), SIZE checked against the limit only after every word, and
parameters taken after HELO as well as after EHLO (Thunderbird's BODY=8BITMIME SIZE=n, a
student's NOTIFY=SUCCESS typed by hand)."""
from __future__ import annotations

from dataclasses import dataclass

NOTIFY_WORDS = {"NEVER", "SUCCESS", "FAILURE", "DELAY"}
BODY_TYPES = {"8BITMIME", "7BIT"}
RET_VALUES = {"FULL", "HDRS"}
HEX_DIGITS = set("0123456789ABCDEFabcdef")


class ParameterError(ValueError):
    """A parameter Postfix refuses; the text is its whole reply."""


@dataclass(frozen=True)
class MailParams:
    ret: str | None  # RET=FULL|HDRS, upper-cased
    envid: str | None  # ENVID=, as sent (xtext)
    body: str | None = None  # BODY=7BIT|8BITMIME, upper-cased


@dataclass(frozen=True)
class RcptParams:
    notify: list[str] | None  # NOTIFY= words, upper-cased; None when not given
    orcpt: str | None  # ORCPT=, as "addr-type;xtext"


def xtext_decoded(text: str) -> str | None:
    """RFC 3461 xtext with its "+XX" escapes undone, None when an escape is broken (Postfix's
    xtext_unquote checks nothing else)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "+":
            escape = text[i + 1:i + 3]
            if len(escape) < 2 or not set(escape) <= HEX_DIGITS:
                return None
            out.append(chr(int(escape, 16)))
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _unsupported(word: str) -> ParameterError:
    return ParameterError(f"555 5.5.4 Unsupported option: {word}")


def mail_params(words: list[str], size_limit: int) -> MailParams:
    """The MAIL FROM parameters, or ParameterError with Postfix's reply."""
    size = ret = envid = body = None
    for word in words:
        name, _, value = word.partition("=")
        keyword = name.upper() + ("=" if "=" in word else "")
        if keyword == "BODY=" and value.upper() in BODY_TYPES:
            body = value.upper()
        elif keyword == "SIZE=":
            if not (value.isascii() and value.isdigit()):
                raise ParameterError("501 5.5.4 Bad message size syntax")
            size = int(value)
        elif keyword == "AUTH=":
            continue  # RFC 4954: who submitted it; taken and not used, as Postfix without a milter
        elif keyword == "RET=":
            if ret is not None or value.upper() not in RET_VALUES:
                raise ParameterError("501 5.5.4 Bad RET parameter syntax")
            ret = value.upper()
        elif keyword == "ENVID=":
            decoded = xtext_decoded(value)
            if envid is not None or not decoded or not all(" " <= c <= "~" for c in decoded):
                raise ParameterError("501 5.5.4 Bad ENVID parameter syntax")
            envid = value
        else:
            raise _unsupported(word)
    if size is not None and size > size_limit:
        raise ParameterError("552 5.3.4 Message size exceeds fixed limit")
    return MailParams(ret, envid, body)


def notify_words(value: str) -> list[str] | None:
    """NOTIFY's comma-separated words, upper-cased; None when one is unknown, there are none,
    or NEVER comes with another (Postfix's dsn_notify_mask)."""
    words = [w.upper() for w in value.split(",") if w]
    if not words or not set(words) <= NOTIFY_WORDS or ("NEVER" in words and set(words) != {"NEVER"}):
        return None
    return list(dict.fromkeys(words))


def rcpt_params(words: list[str]) -> RcptParams:
    """The RCPT TO parameters, or ParameterError with Postfix's reply."""
    notify = orcpt = None
    for word in words:
        name, _, value = word.partition("=")
        keyword = name.upper() + ("=" if "=" in word else "")
        if keyword == "NOTIFY=":
            if notify is not None or (notify := notify_words(value)) is None:
                raise ParameterError("501 5.5.4 Error: Bad NOTIFY parameter syntax")
        elif keyword == "ORCPT=":
            kind, semicolon, address = value.partition(";")
            if orcpt is not None or not semicolon or not kind or xtext_decoded(address) is None:
                raise ParameterError("501 5.5.4 Error: Bad ORCPT parameter syntax")
            orcpt = value
        else:
            raise _unsupported(word)
    return RcptParams(notify, orcpt)
