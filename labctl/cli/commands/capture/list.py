"""labctl capture list."""
from __future__ import annotations

from datetime import datetime

from labctl.capture.files import capture_stats, describe
from labctl.capture.reader import LINKTYPE_NAMES
from labctl.cli.capture_input import Files, Lab, capture_paths
from labctl.cli.output import cells, console, reports_errors, table

@reports_errors
def command(lab: Lab = "practica4", file: Files = None) -> None:
    """The capture files: size, link layer, packets, time span, packets the kernel dropped.

    The drops are counted for the whole start of the capture that wrote the file."""
    paths = capture_paths(lab, file)
    listing = table(f"captures in {paths[0].parent}", "file", "size", "link type", "packets", "first", "last", "dropped by kernel")
    for path in paths:
        info = describe(path)
        stats = capture_stats(path)
        listing.add_row(*cells(path.name if path.parent == paths[0].parent else path, f"{info.size:,}", LINKTYPE_NAMES.get(info.linktype, info.linktype or "-"),
                               info.frames, _clock(info.first_ts), _clock(info.last_ts), stats.dropped if stats else "-"))
    console.print(listing)


def _clock(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if ts is not None else "-"
