"""Hard cases in capture files built with dpkt, checked against the expected bytes and
against tshark."""
from __future__ import annotations

import pytest

from labctl.capture import Direction, capture_files, dialogue, load_capture
from labctl.capture.tshark import follow_streams
from built_pcaps import (
    ACK, BYE, BYE_CAPTURED, FIN, GREETING, LINK_TYPES, MANGLED_CLIENT_BYTES, MANGLED_SERVER_BYTES, SYN, Conversation, Segment,
    mangled_smtp_session, write_capture,
)


@pytest.mark.parametrize("pcapng", [False, True], ids=["pcap", "pcapng"])
@pytest.mark.parametrize("link", LINK_TYPES)
def test_mangled_session_reassembled_like_tshark(tmp_path, link, pcapng):
    pcap = write_capture(tmp_path / "mangled.pcap", mangled_smtp_session().packets(), LINK_TYPES[link], pcapng)
    (stream,) = load_capture([pcap]).streams
    assert stream.client_bytes() == MANGLED_CLIENT_BYTES
    assert stream.server_bytes() == MANGLED_SERVER_BYTES
    tshark = follow_streams(pcap, [0])[0]
    assert tshark.bytes_from(str(stream.client)) == MANGLED_CLIENT_BYTES
    assert tshark.bytes_from(str(stream.server)) == MANGLED_SERVER_BYTES
    assert (str(stream.client), str(stream.server), stream.proto) == ("172.28.0.1:43648", "172.28.0.90:25", "smtp")
    assert stream.missing_bytes == len(BYE) - BYE_CAPTURED  # the snap length's cut


def test_mangled_session_interleaves_turns_in_wire_order(tmp_path):
    pcap = write_capture(tmp_path / "mangled.pcap", mangled_smtp_session().packets(), LINK_TYPES["ethernet"])
    (stream,) = load_capture([pcap]).streams
    directions = [chunk.direction for chunk in stream.messages]
    assert directions == [Direction.SERVER, Direction.CLIENT] * 3 + [Direction.SERVER]
    exchanges = dialogue(stream)
    assert [(e.command_text, e.reply_text) for e in exchanges] == [
        ("", GREETING.decode()),
        ("EHLO [172.28.0.1]\r\n", "250-mail.redes.unlp.edu.ar\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
        ("MAIL FROM:<alumnopop@redes.unlp.edu.ar>\r\n", "250 2.1.0 Ok\r\n"),
        ("QUIT\r\n", "221 2.0.0 Bye\r\n"),
        ("", "-----"),  # what the snap length left of the rest: a reply to nothing
    ]


def test_rotated_files_merge_in_time_order(tmp_path):
    packets = mangled_smtp_session().packets()
    # tcpdump -C rotation: the later file has the higher suffix; name order must not matter.
    write_capture(tmp_path / "lab.pcap", packets[:7], LINK_TYPES["sll2"])
    write_capture(tmp_path / "lab.pcap1", packets[7:], LINK_TYPES["sll2"], start=1694548213.007)
    (tmp_path / "lab.pcap2").write_bytes(b"")  # just opened by tcpdump
    files = capture_files(tmp_path)
    assert [f.name for f in files] == ["lab.pcap", "lab.pcap1", "lab.pcap2"]
    (stream,) = load_capture(reversed(files)).streams
    assert stream.client_bytes() == MANGLED_CLIENT_BYTES and stream.server_bytes() == MANGLED_SERVER_BYTES


def test_capture_starting_mid_stream_takes_the_higher_port_as_client(tmp_path):
    c, s = True, False
    session = Conversation(client_isn=100, server_isn=900, segments=[
        Segment(s, 500, b"+OK 3 2343\r\n"), Segment(c, 40, b"LIST\r\n"), Segment(s, 512, b"+OK 3 messages:\r\n.\r\n"),
    ], client=("172.28.0.1", 43650), server=("172.28.0.90", 110))
    pcap = write_capture(tmp_path / "midstream.pcap", session.packets(), LINK_TYPES["raw"])
    (stream,) = load_capture([pcap]).streams
    assert not stream.handshake_seen
    assert (stream.client.port, stream.server.port, stream.proto) == (43650, 110, "pop")
    assert stream.server_bytes() == b"+OK 3 2343\r\n+OK 3 messages:\r\n.\r\n"
    assert [e.command_text for e in dialogue(stream)] == ["", "LIST\r\n"]
    tshark = follow_streams(pcap, [0])[0]
    assert tshark.bytes_from(str(stream.server)) == stream.server_bytes()


def test_bytes_acknowledged_but_not_captured_are_skipped(tmp_path):
    c, s = True, False
    session = Conversation(client_isn=7, server_isn=70, segments=[
        Segment(c, 0, flags=SYN), Segment(s, 0, flags=SYN | ACK), Segment(c, 0, b"RETR 1\r\n"),
        # The server's segment at offset 0 was lost by the capture, not by the network:
        Segment(s, 14, b"second part\r\n"),
        Segment(c, 8, flags=ACK),  # acks everything the server sent, including the lost part
        Segment(c, 8, b"QUIT\r\n"),
    ])
    packets = session.packets()
    pcap = write_capture(tmp_path / "lost.pcap", packets, LINK_TYPES["ethernet"])
    (stream,) = load_capture([pcap]).streams
    assert stream.server_bytes() == b"second part\r\n"
    assert stream.missing_bytes == 14
    assert [chunk.direction for chunk in stream.messages] == [Direction.CLIENT, Direction.SERVER, Direction.CLIENT]


def test_reused_ports_make_a_new_stream(tmp_path):
    c, s = True, False
    first = Conversation(client_isn=1000, server_isn=5000, segments=[
        Segment(c, 0, flags=SYN), Segment(s, 0, flags=SYN | ACK), Segment(c, 0, b"QUIT\r\n"),
        Segment(s, 0, b"221 Bye\r\n"), Segment(c, 6, flags=FIN | ACK), Segment(s, 9, flags=FIN | ACK),
    ])
    second = Conversation(client_isn=90000, server_isn=7000, segments=[
        Segment(c, 0, flags=SYN), Segment(s, 0, flags=SYN | ACK), Segment(c, 0, b"EHLO again\r\n"),
    ])
    pcap = write_capture(tmp_path / "reuse.pcap", first.packets() + second.packets(), LINK_TYPES["ethernet"])
    streams = load_capture([pcap]).streams
    assert [s.client_bytes() for s in streams] == [b"QUIT\r\n", b"EHLO again\r\n"]
    tshark = follow_streams(pcap, [0, 1])
    assert [tshark[i].bytes_from(str(streams[i].client)) for i in (0, 1)] == [b"QUIT\r\n", b"EHLO again\r\n"]

