"""Where a mail dialogue turns into TLS: after STARTTLS (SMTP, IMAP) or STLS (POP3) and the
server's yes, the bytes are TLS records, not text a terminal should print."""
from __future__ import annotations

import re

from labctl.capture.streams import Direction
from labctl.capture.tcp import TcpStream

# A TLS record of the handshake (content type 22, version 3.x): how a ClientHello begins.
_TLS_HANDSHAKE = b"\x16\x03"
# The client's upgrade command as a line of its own (an IMAP tag before it).
_UPGRADE = re.compile(rb"^(?:\S+ )?(?:STARTTLS|STLS)\r?\n", re.IGNORECASE | re.MULTILINE)


def encrypted_from(stream: TcpStream) -> int | None:
    """Index in stream.messages of the first chunk sent under TLS, None when the stream never
    switched: the client asked to upgrade and its next turn opens a TLS handshake."""
    asked = False
    for index, chunk in enumerate(stream.messages):
        if chunk.direction is not Direction.CLIENT:
            continue
        if asked and chunk.data.startswith(_TLS_HANDSHAKE):
            return index
        asked = bool(_UPGRADE.search(chunk.data))
    return None
