"""The reader's struct fast path for IPv4 must decode exactly as dpkt does."""
from __future__ import annotations

import pytest

from labctl.capture import reader
from labctl.capture.reader import _decode_ipv4_fast, decode_frame_dpkt, read_frames, read_packets
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


def _assert_block_reader_agrees(path) -> int:
    """read_packets (classic pcap read in blocks, headers decoded in place) yields exactly
    what dpkt's reader and decoders make of every frame."""
    expected = [packet for ts, frame, linktype in read_frames(path)
                if (packet := decode_frame_dpkt(ts, frame, linktype)) is not None]
    assert list(read_packets([path])) == expected
    return len(expected)


@pytest.mark.parametrize("block", [7, 1 << 20])
@pytest.mark.parametrize("link", ["ethernet", "sll", "sll2"])
def test_block_reader_agrees_with_dpkt_on_real_captures(lab_capture, link, block, monkeypatch):
    monkeypatch.setattr(reader, "_READ_BLOCK", block)  # 7: every record straddles a block end
    assert _assert_block_reader_agrees(lab_capture.files[link]) > 0


@pytest.mark.parametrize("link", LINK_TYPES)
def test_block_reader_agrees_with_dpkt_on_cut_packets_and_a_cut_last_record(tmp_path, link):
    pcap = write_capture(tmp_path / "cut.pcap", mangled_smtp_session().packets(), LINK_TYPES[link])
    assert _assert_block_reader_agrees(pcap) == len(mangled_smtp_session().segments)
    data = pcap.read_bytes()
    for cut in (1, 10, 30):  # tcpdump is still writing: last record, then its header, cut short
        (tmp_path / "writing.pcap").write_bytes(data[:-cut])
        _assert_block_reader_agrees(tmp_path / "writing.pcap")
