"""Where a lab's capture files are: tcpdump writes them, rotating, into the lab's captures
directory as lab.pcap, lab.pcap1, lab.pcap2, ... (any *.pcap* file there is taken)."""
from __future__ import annotations

import re
from pathlib import Path

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
