"""Split a text-protocol conversation into commands and their replies.

SMTP: one reply per client line (a multi-line reply is its 250-...250 lines), the message
after DATA/354 is one command, BDAT carries its bytes, STARTTLS ends what can be read.
POP3: one reply per client line; CAPA, RETR, TOP and argument-less LIST/UIDL/AUTH get a
multi-line reply ending in a lone ".". IMAP: a tagged command (with its literals and
untagged follow-ups such as DONE) gets every response up to its tagged completion. HTTP:
requests and responses framed by Content-Length or chunked encoding. Anything else: each
client turn with the server turn that follows it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, NamedTuple

from labctl.capture.streams import Chunk, Direction, OneSide
from labctl.capture.tcp import TcpStream


@dataclass(frozen=True)
class Exchange:
    command: Chunk | None  # None: the server spoke unprompted (greeting, unsolicited data)
    reply: Chunk | None  # None: no reply in the capture

    @property
    def command_text(self) -> str:
        return self.command.text if self.command else ""

    @property
    def reply_text(self) -> str:
        return self.reply.text if self.reply else ""


# The end of an SMTP message: a line of a single "." after LF (CRLF or bare LF lines).
_END_OF_DATA = re.compile(rb"\n\.\r?\n")
# What an SMTP server says first: its banner, or that it serves no one (RFC 5321 3.1).
_SMTP_GREETINGS = (b"220", b"421", b"554")


class _Item(NamedTuple):
    """A protocol unit and where it starts in the conversation (index into messages)."""

    position: int
    chunk: Chunk


def _join(items: list[_Item | None]) -> _Item | None:
    """One item of consecutive items of one side (missing ones, None, are skipped)."""
    items = [item for item in items if item is not None]
    if not items:
        return None
    first = items[0]
    data = b"".join(item.chunk.data for item in items)
    return _Item(first.position, first.chunk._replace(data=data))


class _Cursor:
    """Reads one direction's bytes unit by unit."""

    def __init__(self, stream: TcpStream, direction: Direction) -> None:
        self.side = OneSide(stream.messages, direction)
        self.direction = direction
        self.pos = 0
        self.opened = stream.handshake_seen  # the capture saw the connection open

    @property
    def done(self) -> bool:
        return self.pos >= len(self.side.data)

    @property
    def first_position(self) -> int:
        return self.side.positions[0] if self.side.positions else 1 << 62

    def _to(self, end: int) -> _Item | None:
        if self.done:
            return None
        start, self.pos = self.pos, min(end, len(self.side.data))
        position, chunk = self.side.chunk_at(start)
        return _Item(position, Chunk(self.direction, chunk.ts, self.side.data[start:self.pos]))

    def line(self) -> _Item | None:
        end = self.side.data.find(b"\n", self.pos)
        return self._to(len(self.side.data) if end < 0 else end + 1)

    def take(self, size: int) -> _Item | None:
        return self._to(self.pos + size)

    def through(self, marker: bytes, back: int = 0) -> _Item | None:
        """Up to and including `marker`, searched from `back` bytes before the cursor (so a
        terminator can reuse the CRLF that ended the previous line)."""
        found = self.side.data.find(marker, max(self.pos - back, 0))
        return self._to(len(self.side.data) if found < 0 else found + len(marker))

    def rest(self) -> _Item | None:
        return self._to(len(self.side.data))

    def dot_terminated(self) -> _Item | None:
        """A block ending in a line holding a single "." (POP3 multi-line)."""
        return self.through(b"\r\n.\r\n", back=2)

    def message_data(self) -> _Item | None:
        """SMTP DATA: up to a line holding a single ".", its lines ended by CRLF or by a bare
        LF, as telnet and nc send them and Postfix takes them (searched from the LF that
        ended the DATA line, so that "." at once is an empty message)."""
        found = _END_OF_DATA.search(self.side.data, max(self.pos - 1, 0))
        return self._to(len(self.side.data) if found is None else found.end())


def _verb(item: _Item) -> tuple[str, bool]:
    """The command word, upper-cased, and whether arguments follow it."""
    words = item.chunk.data.split(None, 1)
    return (words[0].decode("ascii", "replace").upper() if words else ""), len(words) > 1


def _server_first(client: _Cursor, server: _Cursor) -> bool:
    return server.first_position < client.first_position


def _exchange(command: _Item | None, reply: _Item | None) -> Exchange:
    return Exchange(command.chunk if command else None, reply.chunk if reply else None)


def _smtp_reply(server: _Cursor) -> _Item | None:
    lines = []
    while (line := server.line()) is not None:
        lines.append(line)
        if line.chunk.data[3:4] != b"-":  # "250-..." continues, "250 ..." ends
            break
    return _join(lines)


def _smtp_greeting(client: _Cursor, server: _Cursor) -> bool:
    """The server's first reply is its greeting: it spoke first, or the client typed ahead of
    it ((printf 'HELO ...'; ...) | nc), which the server answers only after its banner."""
    if _server_first(client, server):
        return True
    first_command = client.side.data.split(None, 1)[:1]
    return server.side.data[:3] in _SMTP_GREETINGS and first_command != [b"STARTTLS"]


def _smtp(client: _Cursor, server: _Cursor) -> list[Exchange]:
    exchanges = []
    if _smtp_greeting(client, server):
        exchanges.append(_exchange(None, _smtp_reply(server)))
    while (command := client.line()) is not None:
        verb, _ = _verb(command)
        if verb == "BDAT":
            size = command.chunk.data.split()[1:2]
            if size and size[0].isdigit():
                command = _join([command, client.take(int(size[0]))])
        reply = _smtp_reply(server)
        exchanges.append(_exchange(command, reply))
        code = reply.chunk.data[:3] if reply else b""
        if verb == "DATA" and code == b"354":
            exchanges.append(_exchange(client.message_data(), _smtp_reply(server)))
        elif verb == "STARTTLS" and code == b"220":
            exchanges.append(_exchange(client.rest(), server.rest()))  # TLS: not readable
    while (reply := _smtp_reply(server)) is not None:
        exchanges.append(_exchange(None, reply))
    return exchanges


_POP_MULTILINE_ALWAYS = {"CAPA", "RETR", "TOP"}
_POP_MULTILINE_WITHOUT_ARGUMENT = {"LIST", "UIDL", "AUTH"}


def _pop_greeting(client: _Cursor, server: _Cursor) -> bool:
    """The server's first line is its greeting (RFC 1939: sent as the connection opens): it
    spoke first, or the client typed ahead of it ((printf 'user ...'; ...) | nc) on a
    connection the capture saw open."""
    return _server_first(client, server) or (client.opened and server.side.data[:3] in (b"+OK", b"-ER"))


def _pop(client: _Cursor, server: _Cursor) -> list[Exchange]:
    exchanges = []
    if _pop_greeting(client, server):
        exchanges.append(_exchange(None, server.line()))
    while (command := client.line()) is not None:
        verb, has_argument = _verb(command)
        reply = server.line()
        multiline = verb in _POP_MULTILINE_ALWAYS or (verb in _POP_MULTILINE_WITHOUT_ARGUMENT and not has_argument)
        if reply and multiline and reply.chunk.data.startswith(b"+OK"):
            reply = _join([reply, server.dot_terminated()])
        exchanges.append(_exchange(command, reply))
    while (reply := server.line()) is not None:
        exchanges.append(_exchange(None, reply))
    return exchanges


_IMAP_LITERAL = re.compile(rb"\{(\d+)\+?\}\r?\n\Z")


def _imap_unit(cursor: _Cursor) -> _Item | None:
    """A command or response line with the literals ({n} then n bytes) it carries."""
    parts = []
    while (line := cursor.line()) is not None:
        parts.append(line)
        literal = _IMAP_LITERAL.search(line.chunk.data)
        if literal is None or cursor.done:
            break
        parts.append(cursor.take(int(literal[1])))
    return _join(parts)


def _imap_tag(item: _Item, untagged: tuple[bytes, ...]) -> bytes | None:
    words = item.chunk.data.split(None, 1)
    if len(words) < 2 or words[0] in untagged:
        return None
    return words[0]


@dataclass
class _ImapCommand:
    tag: bytes | None
    parts: list[_Item]
    replied: bool = False


def _imap(client: _Cursor, server: _Cursor) -> list[Exchange]:
    commands: list[_ImapCommand] = []
    while (unit := _imap_unit(client)) is not None:
        tag = _imap_tag(unit, untagged=())
        if tag is None and commands:  # DONE, SASL data: part of the command in progress
            commands[-1].parts.append(unit)
        else:
            commands.append(_ImapCommand(tag, [unit]))
    # A tag may be reused: typed by hand, every command is often ". something" or "a ...",
    # which Dovecot takes; each completion answers the oldest command still open with its tag.
    by_tag: dict[bytes, list[_ImapCommand]] = {}
    for command in commands:
        if command.tag:
            by_tag.setdefault(command.tag, []).append(command)
    orphans = [command for command in commands if command.tag is None]  # capture began mid-command
    out: list[tuple[int, Exchange]] = []

    def answer(command: _ImapCommand | None, responses: list[_Item]) -> None:
        if command is None:
            out.append((responses[0].position, _exchange(None, _join(responses))))
            return
        request = _join(command.parts)
        earlier = [r for r in responses if r.position < request.position]  # not a reply to it
        if earlier:
            out.append((earlier[0].position, _exchange(None, _join(earlier))))
        command.replied = True
        out.append((request.position, _exchange(request, _join(responses[len(earlier):]))))

    responses: list[_Item] = []
    while (unit := _imap_unit(server)) is not None:
        responses.append(unit)
        tag = _imap_tag(unit, untagged=(b"*", b"+"))
        if tag is None:
            continue
        waiting = by_tag.get(tag)
        command = waiting.pop(0) if waiting else (orphans.pop(0) if orphans else None)
        answer(command, responses)
        responses = []
    if responses:  # no completion yet (an IDLE going on when the capture stopped)
        unreplied = [c for c in commands if not c.replied and _join(c.parts).position < responses[0].position]
        answer(unreplied[-1] if unreplied else None, responses)
    for command in commands:
        if not command.replied:
            request = _join(command.parts)
            out.append((request.position, _exchange(request, None)))
    out.sort(key=lambda entry: entry[0])
    return [exchange for _, exchange in out]


_HTTP_LENGTH = re.compile(rb"^content-length:\s*(\d+)", re.IGNORECASE | re.MULTILINE)
_HTTP_CHUNKED = re.compile(rb"^transfer-encoding:.*chunked", re.IGNORECASE | re.MULTILINE)


def _http_message(cursor: _Cursor, is_request: bool, without_body: bool) -> _Item | None:
    head = cursor.through(b"\r\n\r\n")
    if head is None or without_body:
        return head
    parts = [head]
    if _HTTP_CHUNKED.search(head.chunk.data):
        while (size_line := cursor.line()) is not None:
            parts.append(size_line)
            size = int(size_line.chunk.data.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                parts.append(cursor.through(b"\r\n\r\n", back=2))  # trailers, then an empty line
                break
            parts += [cursor.take(size), cursor.line()]
    elif length := _HTTP_LENGTH.search(head.chunk.data):
        parts.append(cursor.take(int(length[1])))
    elif not is_request:
        parts.append(cursor.rest())  # the body runs until the server closes
    return _join(parts)


def _http(client: _Cursor, server: _Cursor) -> list[Exchange]:
    exchanges = []
    while (request := _http_message(client, is_request=True, without_body=False)) is not None:
        method, _ = _verb(request)
        response = _http_message(server, is_request=False, without_body=method == "HEAD")
        while response is not None and response.chunk.data[9:10] == b"1":  # 100 Continue
            response = _join([response, _http_message(server, False, method == "HEAD")])
        exchanges.append(_exchange(request, response))
    return exchanges


def _turns(stream: TcpStream) -> list[Exchange]:
    exchanges: list[Exchange] = []
    command: Chunk | None = None
    for chunk in stream.messages:
        if chunk.direction == Direction.CLIENT:
            if command is not None:
                exchanges.append(Exchange(command, None))
            command = chunk
        else:
            exchanges.append(Exchange(command, chunk))
            command = None
    if command is not None:
        exchanges.append(Exchange(command, None))
    return exchanges


_DIALOGUES: dict[str, Callable[[_Cursor, _Cursor], list[Exchange]]] = {
    "smtp": _smtp,
    "pop": _pop,
    "imap": _imap,
    "http": _http,
}


def dialogue(stream: TcpStream, proto: str | None = None) -> list[Exchange]:
    """The commands and replies of a stream, in conversation order. `proto` overrides the
    protocol told by the port."""
    split = _DIALOGUES.get(proto or stream.proto or "")
    if split is None:
        return _turns(stream)
    return split(_Cursor(stream, Direction.CLIENT), _Cursor(stream, Direction.SERVER))
