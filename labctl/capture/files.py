"""Where a lab's capture files are: tcpdump writes them, rotating, into the lab's captures
directory as lab-<start>.pcap0, lab-<start>.pcap1, ... (any *.pcap* file there is taken), one
prefix per start of the sidecar (images/capture/entrypoint.sh), and keeps its counters in
lab-<start>.stats: how many packets the kernel dropped before tcpdump could read them."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from labctl.paths import captures_dir


def capture_files(directory: Path) -> list[Path]:
    """The capture files of a directory, in rotation order (lab-<start>.pcap2 before
    lab-<start>.pcap10), earlier starts first."""
    if not directory.is_dir():
        return []
    files = [path for path in directory.glob("*.pcap*") if path.is_file()]
    return sorted(files, key=_natural_key)


def lab_capture_files(instance: str) -> list[Path]:
    return capture_files(captures_dir(instance))


STATS_SUFFIX = ".stats"
_RECEIVED = re.compile(r"(\d+) packets? received by filter")
_DROPPED = re.compile(r"(\d+) packets? dropped by kernel")


@dataclass(frozen=True)
class CaptureStats:
    """tcpdump's counters for one start of the capture, as of its last report (every second)."""

    received: int  # packets that matched (all: no filter)
    dropped: int  # packets the kernel dropped before tcpdump read them: holes in the streams


def stats_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{STATS_SUFFIX}")) if directory.is_dir() else []


def stats_path(capture_file: Path) -> Path:
    """The counters of the start that wrote this file (lab-<start>.pcap3 -> lab-<start>.stats)."""
    return capture_file.with_name(capture_file.name.partition(".pcap")[0] + STATS_SUFFIX)


def capture_stats(capture_file: Path) -> CaptureStats | None:
    """None when tcpdump has not reported yet, or the file was not written by the sidecar."""
    try:
        text = stats_path(capture_file).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    received, dropped = _RECEIVED.search(text), _DROPPED.search(text)
    if not (received and dropped):
        return None
    return CaptureStats(int(received[1]), int(dropped[1]))


def dropped_by_kernel(files: list[Path]) -> int:
    """Packets lost by the starts that wrote these files (each start counted once): when it is
    not 0, a stream with missing bytes may be the capture's fault, not the student's."""
    starts = {stats_path(f): capture_stats(f) for f in files}
    return sum(s.dropped for s in starts.values() if s is not None)


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
    from labctl.capture.reader import read_frames  # here: `up` needs this module, not dpkt

    linktype, frames, first_ts, last_ts = None, 0, None, None
    for ts, _, linktype in read_frames(path):
        frames += 1
        first_ts = ts if first_ts is None else first_ts
        last_ts = ts
    return CaptureFileInfo(path, path.stat().st_size, linktype, frames, first_ts, last_ts)
