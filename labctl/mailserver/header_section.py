"""Where a message's header ends, made plain as Postfix's cleanup(8) makes it when it queues.

Someone typing a message into `nc` or `telnet` often writes no header at all, or a Subject:
and the text right under it without the empty line. Postfix ends the header at the first line
that is not a header field and puts the empty line there, so the text is the body that
Thunderbird shows; stored as typed, the text would be read as part of the header. It also
takes what is left of a mailbox file's "From " separator at the top as X-Mailbox-Line: fields,
and writes "Name :" as "Name:".

Only the header section is copied, and only when it changes: a 10 MB message goes through as it came.
"""
from __future__ import annotations

import re

# Leading "From " lines (an mbox separator pasted with the message), as Postfix keeps them.
_MAILBOX_LINES = re.compile(rb"(?:From [^\n]*\n)*")
# Postfix's is_header(): a name of printable characters other than ':', blanks allowed only
# between it and the colon; then the field's continuation lines, which start with a blank.
_FIELDS = re.compile(rb"(?:[!-9;-~]+[ \t]*:[^\n]*\n(?:[ \t][^\n]*\n)*)*")
_BLANKS_BEFORE_COLON = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.M)
BODY_SEPARATOR = b"\r\n"


def as_cleanup_queues(content: bytes | bytearray) -> tuple[bytes | bytearray, ...]:
    """`content` (CRLF lines, each ended) as parts to store one after the other: itself when
    it needs nothing, or its header section rewritten, the empty line Postfix adds where the
    header ends without one, and the rest."""
    mailbox_lines = _MAILBOX_LINES.match(content).end()
    header_end = _FIELDS.match(content, mailbox_lines).end()
    ends_plainly = content[header_end:header_end + 2] == BODY_SEPARATOR or header_end == len(content)
    head = content[:header_end]
    fields = _BLANKS_BEFORE_COLON.sub(rb"\1:", head[mailbox_lines:])
    if ends_plainly and not mailbox_lines and len(fields) == len(head):
        return (content,)
    mailbox = b"".join(b"X-Mailbox-Line: " + line for line in head[:mailbox_lines].splitlines(keepends=True))
    rest = content[header_end:]
    return (mailbox + fields,) + (() if ends_plainly else (BODY_SEPARATOR,)) + ((rest,) if rest else ())
