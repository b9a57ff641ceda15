"""Captured TCP streams and DNS messages as the terminal and JSON show them."""
from __future__ import annotations

import dataclasses

import typer

from labctl.capture import DnsMessage, TcpStream, dialogue
from labctl.capture.starttls import encrypted_from
from labctl.capture.streams import Direction
from labctl.cli.output import shown

# Protocols whose streams dialogue() splits into commands and replies.
_DIALOGUE_PROTOCOLS = ("smtp", "pop", "imap", "http")


def stream_json(stream: TcpStream) -> dict:
    return {
        "index": stream.index,
        "proto": stream.proto,
        "client": str(stream.client),
        "server": str(stream.server),
        "start": stream.start_ts,
        "end": stream.end_ts,
        "packets": stream.packets,
        "handshake_seen": stream.handshake_seen,
        "missing_bytes": stream.missing_bytes,
        "encrypted_from": encrypted_from(stream),  # index of the first message under TLS
        "messages": [{"direction": c.direction.value, "ts": c.ts, "text": c.text} for c in stream.messages],
        "exchanges": [{"command": e.command.text if e.command else None, "reply": e.reply.text if e.reply else None}
                      for e in dialogue(stream)] if stream.proto in _DIALOGUE_PROTOCOLS else None,
    }


def dns_json(message: DnsMessage) -> dict:
    data = dataclasses.asdict(message)
    data["client"], data["server"] = str(message.client), str(message.server)
    return data


def print_stream(stream: TcpStream) -> None:
    typer.secho(f"=== {stream.title} ({stream.packets} packets"
                + (f", {stream.missing_bytes} bytes not captured" if stream.missing_bytes else "") + ")", bold=True)
    encrypted = encrypted_from(stream)
    for index, chunk in enumerate(stream.messages):
        if index == encrypted:  # TLS records: never raw bytes to the terminal
            hidden = sum(len(c.data) for c in stream.messages[index:])
            typer.secho(f"-- encrypted (STARTTLS): {hidden} bytes not shown", bold=True)
            break
        # Wireshark's colours: client red, server blue; the C:/S: marks survive a pipe.
        mark, colour = ("C: ", "red") if chunk.direction == Direction.CLIENT else ("S: ", "blue")
        for line in chunk.text.removesuffix("\n").split("\n"):
            typer.secho(mark + shown(line.removesuffix("\r")), fg=colour)
