"""One pcap of a lab's capture: its rotated files merged, optionally cut to a time window
(what a student opens in Wireshark or hands in)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import dpkt

from labctl.capture.reader import LINKTYPE_ETHERNET, UnsupportedCapture, merged_frames

SNAPLEN = 262144  # tcpdump's default


def export_pcap(paths: Iterable[Path], out: Path, since: float | None = None, until: float | None = None) -> int:
    """Write the frames with since <= timestamp <= until to `out`; return how many.

    Frames keep their link layer, so the files must share one. A frame the snap length cut
    is written as captured (its original length is not carried over).
    """
    written, linktype = 0, None
    with open(out, "wb") as f:
        writer = None
        for ts, frame, frame_linktype in merged_frames(paths):
            if (since is not None and ts < since) or (until is not None and ts > until):
                continue
            if writer is None:
                linktype = frame_linktype
                writer = dpkt.pcap.Writer(f, snaplen=SNAPLEN, linktype=linktype)
            elif frame_linktype != linktype:
                raise UnsupportedCapture(f"the files mix link types {linktype} and {frame_linktype}")
            writer.writepkt_time(frame, ts)
            written += 1
        if writer is None:  # nothing in the window: still a valid, empty capture
            dpkt.pcap.Writer(f, snaplen=SNAPLEN, linktype=LINKTYPE_ETHERNET)
    return written
