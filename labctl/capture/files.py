"""Where a lab's capture files are: tcpdump writes them, rotating, into the lab's captures
directory as lab.pcap, lab.pcap1, lab.pcap2, ... (any *.pcap* file there is taken)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from labctl.capture.reader import read_frames
from labctl.paths import captures_dir


def capture_files(directory: Path) -> list[Path]:
    """The capture files of a directory, in rotation order (lab.pcap before lab.pcap2 before
    lab.pcap10)."""
    if not directory.is_dir():
        return []
    files = [path for path in directory.glob("*.pcap*") if path.is_file()]
    return sorted(files, key=_natural_key)


def lab_capture_files(instance: str) -> list[Path]:
    return capture_files(captures_dir(instance))


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


@dataclass
class CaptureFileInfo:
    path: Path
    size: int
    linktype: int | None  # None: no frame yet
    frames: int
    first_ts: float | None
    last_ts: float | None


def describe(path: Path) -> CaptureFileInfo:
    """Size, link layer, frame count and time span of one capture file."""
    linktype, frames, first_ts, last_ts = None, 0, None, None
    for ts, _, linktype in read_frames(path):
        frames += 1
        first_ts = ts if first_ts is None else first_ts
        last_ts = ts
    return CaptureFileInfo(path, path.stat().st_size, linktype, frames, first_ts, last_ts)
