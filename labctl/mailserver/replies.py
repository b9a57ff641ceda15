"""Enhanced status codes (RFC 2034/3463) on every reply.

Our own replies carry the code they need. aiosmtpd's inherited ones (NOOP,
RSET, QUIT, parts of AUTH/STARTTLS) often do not, so `with_enhanced_code`
supplies the generic code for the basic one, as Postfix would send.
"""
from __future__ import annotations

import re

_REPLY = re.compile(r"(?P<code>[245]\d\d)(?P<sep>[ -])(?P<text>.*)\Z", re.S)
_HAS_ENHANCED = re.compile(r"[245]\.\d{1,3}\.\d{1,3}(?: |\Z)")

_DEFAULT_ENHANCED = {
    421: "4.3.0", 451: "4.3.0", 452: "4.3.1", 454: "4.7.0",
    500: "5.5.2", 501: "5.5.4", 502: "5.5.1", 503: "5.5.1", 504: "5.5.4",
    530: "5.7.0", 535: "5.7.8", 552: "5.3.4", 553: "5.1.3", 555: "5.5.4",
}
# aiosmtpd's wording, reworded as Postfix says it.
_TEXTS = {"OK": "Ok"}


def with_enhanced_code(reply: str) -> str:
    """Insert the generic enhanced code into a 2xx/4xx/5xx reply that lacks one."""
    match = _REPLY.match(reply)
    if match is None or _HAS_ENHANCED.match(match["text"]):
        return reply
    basic = int(match["code"])
    enhanced = _DEFAULT_ENHANCED.get(basic, f"{match['code'][0]}.0.0")
    text = _TEXTS.get(match["text"], match["text"])
    return f"{match['code']}{match['sep']}{enhanced} {text}"
