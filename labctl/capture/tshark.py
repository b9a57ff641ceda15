"""Wireshark's own reconstruction of TCP streams (`tshark -z follow,tcp,raw,N`), to check
ours against: the tests compare byte for byte and the benchmark races it."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class TsharkFollow:
    """One followed stream: node 0 is the source of the stream's first packet."""

    index: int
    node0: str  # "ip:port"
    node1: str
    node0_bytes: bytes
    node1_bytes: bytes

    def bytes_from(self, endpoint: str) -> bytes:
        if endpoint == self.node0:
            return self.node0_bytes
        if endpoint == self.node1:
            return self.node1_bytes
        raise KeyError(f"{endpoint} is neither {self.node0} nor {self.node1}")


def tshark_path() -> str:
    path = shutil.which("tshark")
    if path is None:
        raise FileNotFoundError("tshark is not installed")
    return path


def follow_streams(pcap: Path, indices: list[int]) -> dict[int, TsharkFollow]:
    """Follow several streams in one tshark pass (one -z option per stream)."""
    command = [tshark_path(), "-n", "-r", str(pcap), "-q"]
    for index in indices:
        command += ["-z", f"follow,tcp,raw,{index}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return {follow.index: follow for follow in _parse(output)}


def _parse(output: str) -> list[TsharkFollow]:
    follows = []
    for block in output.split("=" * 67):
        lines = block.strip("\n").splitlines()
        if not lines or not lines[0].startswith("Follow: tcp,raw"):
            continue
        index = int(lines[1].rsplit(" ", 1)[1])  # "Filter: tcp.stream eq N"
        node0 = lines[2].split(": ", 1)[1]
        node1 = lines[3].split(": ", 1)[1]
        # Node 1's (the server's) data lines are indented with a tab.
        node0_hex = "".join(line for line in lines[4:] if not line.startswith("\t"))
        node1_hex = "".join(line[1:] for line in lines[4:] if line.startswith("\t"))
        follows.append(TsharkFollow(index, node0, node1, bytes.fromhex(node0_hex), bytes.fromhex(node1_hex)))
    return follows


def stream_count(pcap: Path) -> int:
    """How many TCP streams tshark numbers in the file."""
    output = subprocess.run([tshark_path(), "-n", "-r", str(pcap), "-T", "fields", "-e", "tcp.stream"],
                            capture_output=True, text=True, check=True).stdout
    numbers = [int(line) for line in output.split() if line.strip()]
    return max(numbers) + 1 if numbers else 0
