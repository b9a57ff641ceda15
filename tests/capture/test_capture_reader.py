"""The reader's struct fast path for IPv4 must decode exactly as dpkt does."""
from __future__ import annotations

import pytest

from labctl.capture.reader import _decode_ipv4_fast, decode_frame_dpkt, read_frames
from built_pcaps import LINK_TYPES, mangled_smtp_session, write_capture


def _assert_fast_path_agrees(path) -> int:
    fast_decoded = 0
    for ts, frame, linktype in read_frames(path):
        fast = _decode_ipv4_fast(ts, frame, linktype)
        if fast is not None:
            fast_decoded += 1
            assert fast == decode_frame_dpkt(ts, frame, linktype)
    return fast_decoded


@pytest.mark.parametrize("link", ["ethernet", "sll", "sll2"])
def test_fast_path_agrees_with_dpkt_on_real_captures(lab_capture, link):
    frames = sum(1 for _ in read_frames(lab_capture.files[link]))
    assert _assert_fast_path_agrees(lab_capture.files[link]) == frames


@pytest.mark.parametrize("link", LINK_TYPES)
def test_fast_path_agrees_with_dpkt_on_cut_packets(tmp_path, link):
    pcap = write_capture(tmp_path / "cut.pcap", mangled_smtp_session().packets(), LINK_TYPES[link])
    assert _assert_fast_path_agrees(pcap) == len(mangled_smtp_session().segments)
