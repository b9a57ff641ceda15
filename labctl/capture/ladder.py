"""A ladder (sequence) diagram of a dialogue: client and server columns, one arrow per
command and per reply, as terminal text or as SVG."""
from __future__ import annotations

from dataclasses import dataclass


from labctl.capture.dialogue import Exchange
from labctl.capture.streams import Chunk, Direction
from labctl.capture.tcp import TcpStream
from labctl.render.templating import render

LABEL_WIDTH = 60


@dataclass(frozen=True)
class Arrow:
    direction: Direction
    seconds: float  # since the stream's first packet
    label: str


def label(chunk: Chunk, width: int = LABEL_WIDTH) -> str:
    """First line of what was said, with how much more follows (a whole message after DATA,
    a multi-line reply) so that one line stays one arrow."""
    lines = chunk.data.splitlines()
    if not lines:
        return "(empty line)"
    first = lines[0].decode("utf-8", errors="replace")
    if not first.isprintable():
        return f"[{len(chunk.data)} bytes, not text]"
    more = f" (+{len(lines) - 1} lines, {len(chunk.data)} bytes)" if len(lines) > 1 else ""
    room = width - len(more)
    if len(first) > room:
        first = first[:max(room - 1, 1)] + "…"
    return first + more


def arrows(stream: TcpStream, exchanges: list[Exchange], width: int = LABEL_WIDTH) -> list[Arrow]:
    """Commands and replies in time order (pipelined commands come before their replies)."""
    chunks = [chunk for exchange in exchanges for chunk in (exchange.command, exchange.reply) if chunk]
    chunks.sort(key=lambda chunk: chunk.ts)
    return [Arrow(chunk.direction, chunk.ts - stream.start_ts, label(chunk, width)) for chunk in chunks]


def ladder_text(stream: TcpStream, exchanges: list[Exchange], width: int = LABEL_WIDTH + 8) -> str:
    """The diagram for a terminal: time, then an arrow between the two lifelines."""
    column = f"{'':>9} "
    lines = [
        f"{column}client {stream.client}".ljust(len(column) + width + 2 - len(f'server {stream.server}'))
        + f"server {stream.server}",
        f"{column}|{' ' * width}|",
    ]
    for arrow in arrows(stream, exchanges, width - 6):
        text = f" {arrow.label} "
        dashes = width - len(text) - 1
        left, right = "-" * (dashes // 2), "-" * (dashes - dashes // 2)
        if arrow.direction == Direction.CLIENT:
            body = f"|{left}{text}{right}>|"
        else:
            body = f"|<{left}{text}{right}|"
        lines.append(f"{arrow.seconds:9.3f} {body}")
    return "\n".join(lines) + "\n"


_ROW = 34  # vertical pixels per arrow


def ladder_svg(stream: TcpStream, exchanges: list[Exchange]) -> str:
    rows = arrows(stream, exchanges)
    client_x, server_x, top = 140, 760, 70
    return render("capture/ladder.svg.j2",
        title=stream.title,
        width=server_x + 120,
        height=top + _ROW * (len(rows) + 1),
        top=top,
        client_x=client_x,
        server_x=server_x,
        client=f"client {stream.client}",
        server=f"server {stream.server}",
        arrows=[
            {
                "y": top + _ROW * (i + 1),
                "from_x": client_x if arrow.direction == Direction.CLIENT else server_x,
                "to_x": server_x if arrow.direction == Direction.CLIENT else client_x,
                "side": arrow.direction.value,
                "label": arrow.label,
                "time": f"{arrow.seconds:.3f} s",
            }
            for i, arrow in enumerate(rows)
        ],
    )
