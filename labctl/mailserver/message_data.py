"""Message content as it arrives in DATA or BDAT, made safe to store and pass on.

What we queue always has CRLF line ends and no bare CR, so nothing we relay
or deliver can be read by another server as an early end of data (the 2023
"SMTP smuggling" attacks). The rules follow Postfix's
`smtpd_forbid_bare_newline = normalize`:

- a line ending in a bare LF is a line, stored with CRLF;
- CRs just before the LF are all the line end (CR CR LF is CRLF, as Postfix's smtp_get reads
  it): a client fed a file with CRLF through `nc -C` or `openssl s_client -crlf` sends that;
- only <CRLF>.<CRLF> ends DATA: a "." line after a bare LF is content;
- a bare CR is refused (some servers end data on <CR>.<CR>), as is NUL.

One exception keeps people typing with `nc` (no -C, so every line ends in a
bare LF) from waiting in silence: when the DATA command itself ended in a bare
LF, the client is a person or a script talking directly, not an MTA passing on
someone else's content, so ".<LF>" ends the message as Debian's Postfix 3.7
does. Smuggling needs a relay that sends CRLF commands and passes bare LFs
through in the content; such a DATA is always read strictly.

Content accumulates in one bytearray (about one byte of memory per byte
received), never as a list of line objects.
"""
from __future__ import annotations

import re

BARE_CR = "550 5.5.2 Error: bare <CR> received (only <CR><LF> ends a line)"
NUL = "550 5.6.0 Error: NUL character in message data"
TOO_BIG = "552 5.3.4 Error: message file too big"

_BARE_LF = re.compile(rb"(?<!\r)\n")
_BARE_CR = re.compile(rb"\r(?!\n)")
_CRS_BEFORE_LF = re.compile(rb"\r\r+\n")


class DotTerminatedContent:
    """Feed it what the reader returns (whole lines, or pieces of overlong ones) until `feed` says done."""

    def __init__(self, size_limit: int, *, lf_may_end: bool):
        self.size_limit = size_limit
        self.lf_may_end = lf_may_end
        self.content = bytearray()
        self.problem: str | None = None
        self._at_line_start = True
        self._after_crlf = True  # the DATA command's own line end
        self._held_cr = b""  # a CR at the end of a piece, until we see whether LF follows

    def feed(self, piece: bytes) -> bool:
        """Take the next piece; True once the end-of-data line has been read."""
        if self._held_cr:
            piece, self._held_cr = self._held_cr + piece, b""
        if piece.endswith(b"\r\r\n"):
            piece = piece.rstrip(b"\r\n") + b"\r\n"
        if self._at_line_start and self._is_end(piece):
            return True
        complete = piece.endswith(b"\n")
        if complete:
            ends_crlf = piece.endswith(b"\r\n")
            text = piece[:-2] if ends_crlf else piece[:-1]
        else:
            ends_crlf = False
            # A run of CRs at the end of a piece waits for what follows: one CR stands for it,
            # a line end if an LF comes next, a bare CR otherwise.
            text = piece.rstrip(b"\r")
            if len(text) < len(piece):
                self._held_cr = b"\r"
        if self._at_line_start and text.startswith(b"."):
            text = text[1:]  # RFC 5321 4.5.2 transparency
        self._take(text, complete)
        self._at_line_start = complete
        if complete:
            self._after_crlf = ends_crlf
        return False

    def take_whole(self, first: bytes, buffered: bytes | bytearray) -> int | None:
        """The common case in one step: when `first` (the first piece read) and `buffered`
        (what the client has sent after it, not yet read) hold the whole message, and it is
        an ordinary one (every line ends in CRLF; no other CR, no NUL; within the size limit),
        take it as `feed` would line by line and return how many bytes of `buffered` it used.
        None, having taken nothing, otherwise: then feed it piece by piece from `first` on.
        """
        if self.lf_may_end or self.content or not self._at_line_start:
            return None  # only at the start of a strict DATA
        data = first + buffered
        end = 0 if data.startswith(b".\r\n") else data.find(b"\r\n.\r\n") + 2
        if end < 2 and not data.startswith(b".\r\n"):
            return None  # the end of data has not arrived yet
        text = data[:end]
        lines = text.count(b"\n")
        if end > self.size_limit or b"\0" in text or text.count(b"\r") != lines or text.count(b"\r\n") != lines:
            return None  # the line-by-line reader words each refusal
        self.content = bytearray(text[1:] if text.startswith(b".") else text).replace(b"\r\n.", b"\r\n")
        return end + 3 - len(first)

    def _is_end(self, line: bytes) -> bool:
        if line == b".\r\n":
            return self._after_crlf or self.lf_may_end
        return line == b".\n" and self.lf_may_end

    def _take(self, text: bytes, complete: bool) -> None:
        if self.problem:
            return  # keep reading to the end of data, storing nothing (RFC 5321 4.2.5)
        if b"\r" in text:
            self.problem = BARE_CR
        elif b"\0" in text:
            self.problem = NUL
        elif len(self.content) + len(text) + (2 if complete else 0) > self.size_limit:
            self.problem = TOO_BIG
        if self.problem:
            self.content = bytearray()
            return
        self.content += text
        if complete:
            self.content += b"\r\n"


def normalise_chunked(content: bytes | bytearray) -> tuple[bytes, str | None]:
    """BDAT content with bare LFs made CRLF, CRs before a line end dropped and a last line
    ended (as Postfix does); or a refusal for a bare CR or NUL."""
    content = _CRS_BEFORE_LF.sub(b"\r\n", content)
    if content and not content.endswith(b"\n"):
        content += b"\r\n"
    if _BARE_CR.search(content):
        return b"", BARE_CR
    if b"\0" in content:
        return b"", NUL
    return _BARE_LF.sub(b"\r\n", content), None
