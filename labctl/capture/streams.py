"""What a reconstructed conversation is made of: endpoints, directions, chunks."""
from __future__ import annotations

import socket
from bisect import bisect_right
from enum import StrEnum
from typing import NamedTuple


class Direction(StrEnum):
    """Who sent the bytes: the client (SYN sender) or the server."""

    CLIENT = "client"
    SERVER = "server"


class Endpoint(NamedTuple):
    ip: str
    port: int

    @classmethod
    def from_packed(cls, address: bytes, port: int) -> "Endpoint":
        return cls(socket.inet_ntop(socket.AF_INET6 if len(address) == 16 else socket.AF_INET, address), port)

    def __str__(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


class Chunk(NamedTuple):
    """Bytes one side sent, as (direction, timestamp of their first packet, data)."""

    direction: Direction
    ts: float
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


class OneSide:
    """The bytes one direction sent, joined, and which chunk each byte came in (to date it
    and to place it in the conversation)."""

    def __init__(self, messages: list[Chunk], direction: Direction) -> None:
        self.positions = [i for i, chunk in enumerate(messages) if chunk.direction == direction]
        self.chunks = [messages[i] for i in self.positions]
        self.data = b"".join(chunk.data for chunk in self.chunks)
        self.starts: list[int] = []
        offset = 0
        for chunk in self.chunks:
            self.starts.append(offset)
            offset += len(chunk.data)

    def chunk_at(self, offset: int) -> tuple[int, Chunk]:
        """(position in the conversation, chunk) of the byte at `offset`."""
        i = max(bisect_right(self.starts, offset) - 1, 0)
        return self.positions[i], self.chunks[i]
