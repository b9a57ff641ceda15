"""The streaming pass of `capture follow` gives the same streams as load_capture, in the
same order, while handing each over once it has closed (waiting ones spilled to disk)."""
from __future__ import annotations

import pytest

from labctl.capture import follow, load_capture
from labctl.capture.follow import follow_capture
from labctl.capture.tshark import follow_streams
from built_pcaps import ACK, FIN, LINK_TYPES, SYN, Conversation, Segment, write_capture

C, S = True, False
SECONDS_PER_PACKET = 2.0  # each short conversation below spans more than tcp.CLOSE_GRACE


def _short(port: int, text: bytes) -> Conversation:
    return Conversation(client_isn=1000 + port, server_isn=9000 + port, client=("172.28.0.1", port), segments=[
        Segment(C, 0, flags=SYN), Segment(S, 0, flags=SYN | ACK), Segment(C, 0, text),
        Segment(S, 0, b"250 ok\r\n"), Segment(C, len(text), flags=FIN | ACK), Segment(S, 8, flags=FIN | ACK),
        Segment(C, len(text) + 1, flags=ACK),
    ])


def _class_capture(tmp_path):
    """Stream 0 (Thunderbird's IMAP-like connection) stays open while streams 1-4 open and
    close one after the other; then 0 talks again and closes."""
    long = Conversation(client_isn=5, server_isn=7, client=("172.28.0.1", 40000), server=("172.28.0.90", 143), segments=[
        Segment(C, 0, flags=SYN), Segment(S, 0, flags=SYN | ACK), Segment(S, 0, b"* OK ready\r\n"),
        Segment(C, 0, b"a IDLE\r\n"), Segment(S, 12, b"* 1 EXISTS\r\n"), Segment(C, 8, flags=FIN | ACK),
        Segment(S, 24, flags=FIN | ACK),
    ])
    opening, closing = long.packets()[:4], long.packets()[4:]
    shorts = [packet for port in range(40001, 40005) for packet in _short(port, b"HELO %d\r\n" % port).packets()]
    return write_capture(tmp_path / "class.pcap", opening + shorts + closing, LINK_TYPES["ethernet"],
                         step=SECONDS_PER_PACKET)


def _all(pcap) -> tuple[follow.FollowPass, list]:
    outcome, streams = follow_capture([pcap])
    return outcome, list(streams)


@pytest.mark.parametrize("waiting_in_memory", [follow.WAITING_IN_MEMORY, 0])
def test_streaming_pass_gives_load_captures_streams_in_order(tmp_path, monkeypatch, waiting_in_memory):
    monkeypatch.setattr(follow, "WAITING_IN_MEMORY", waiting_in_memory)  # 0: every waiting stream on disk
    monkeypatch.setattr(follow, "CHECK_EVERY", 1)
    pcap = _class_capture(tmp_path)
    outcome, streams = _all(pcap)
    assert streams == load_capture([pcap]).streams
    assert [s.index for s in streams] == [0, 1, 2, 3, 4]
    assert outcome.streams == 5 and outcome.packets == 7 * 5
    tshark = follow_streams(pcap, [0, 3])
    assert tshark[0].bytes_from(str(streams[0].server)) == b"* OK ready\r\n* 1 EXISTS\r\n"
    assert tshark[3].bytes_from(str(streams[3].client)) == streams[3].client_bytes() == b"HELO 40003\r\n"
    outcome.close()


def test_a_closed_stream_is_handed_over_before_the_capture_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(follow, "CHECK_EVERY", 1)
    pcap = write_capture(tmp_path / "two.pcap", _short(40001, b"A\r\n").packets() + _short(40002, b"B\r\n").packets(),
                         LINK_TYPES["ethernet"], step=SECONDS_PER_PACKET)
    outcome, streams = follow_capture([pcap])
    first = next(streams)
    assert first.client_bytes() == b"A\r\n"
    assert outcome.packets < 14  # the second connection was still being read
    assert [s.client_bytes() for s in streams] == [b"B\r\n"]
    outcome.close()


def test_stray_packet_after_a_stream_finished_opens_no_stream(tmp_path, monkeypatch):
    monkeypatch.setattr(follow, "CHECK_EVERY", 1)
    first, second = _short(40001, b"A\r\n").packets(), _short(40002, b"B\r\n").packets()
    stray = first[-2]  # the server's FIN again, long after the close
    pcap = write_capture(tmp_path / "stray.pcap", first + second + [stray] + _short(40003, b"C\r\n").packets(),
                         LINK_TYPES["ethernet"], step=SECONDS_PER_PACKET)
    outcome, streams = _all(pcap)
    assert [(s.index, s.client_bytes()) for s in streams] == [(0, b"A\r\n"), (1, b"B\r\n"), (2, b"C\r\n")]
    assert [s.index for s in load_capture([pcap]).streams] == [0, 1, 2]  # Wireshark's numbering too
    outcome.close()


def test_a_new_syn_on_finished_ports_is_a_new_stream(tmp_path, monkeypatch):
    monkeypatch.setattr(follow, "CHECK_EVERY", 1)
    again = _short(40001, b"again\r\n")
    again.client_isn, again.server_isn = 777777, 888888
    pcap = write_capture(tmp_path / "again.pcap", _short(40001, b"A\r\n").packets() + again.packets(),
                         LINK_TYPES["ethernet"], step=SECONDS_PER_PACKET)
    _, streams = _all(pcap)
    assert [s.client_bytes() for s in streams] == [b"A\r\n", b"again\r\n"]
