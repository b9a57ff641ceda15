"""tcpdump's counters as the sidecar keeps them beside its files, and where a mail dialogue
turns into TLS (what `capture follow` must not print)."""
from __future__ import annotations

import re
from pathlib import Path

from labctl.capture.files import capture_stats, dropped_by_kernel, stats_path
from labctl.capture.starttls import encrypted_from
from labctl.capture.streams import Chunk, Direction, Endpoint
from labctl.capture.tcp import TcpStream
from labctl.cli.stream_view import print_stream

START = "lab-20261128T234455.160076618Z"
CLIENT_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32))


def test_stats_of_a_running_and_of_a_stopped_capture(tmp_path: Path):
    running, stopped = tmp_path / f"{START}.pcap0", tmp_path / "lab-20261129T000000.000000001Z.pcap3"
    # SIGUSR1 prints one line; on exit tcpdump prints three (images/capture/entrypoint.sh joins them).
    (tmp_path / f"{START}.stats").write_text(
        "tcpdump: 5000 packets captured, 5012 packets received by filter, 49 packets dropped by kernel\n")
    stats_path(stopped).write_text("2551 packets captured, 2551 packets received by filter, 0 packets dropped by kernel\n")
    assert stats_path(running) == tmp_path / f"{START}.stats"
    assert capture_stats(running).received == 5012 and capture_stats(running).dropped == 49
    assert capture_stats(stopped).dropped == 0
    # each start counted once, however many of its files are read
    assert dropped_by_kernel([running, running.with_name(f"{START}.pcap1"), stopped]) == 49


def test_no_stats_yet_or_a_file_from_elsewhere(tmp_path: Path):
    assert capture_stats(tmp_path / "wireshark.pcapng") is None
    (tmp_path / f"{START}.stats").write_text("")
    assert capture_stats(tmp_path / f"{START}.pcap0") is None
    assert dropped_by_kernel([tmp_path / f"{START}.pcap0"]) == 0


def _stream(*turns: tuple[Direction, bytes]) -> TcpStream:
    messages = [Chunk(direction, float(i), data) for i, (direction, data) in enumerate(turns)]
    return TcpStream(0, Endpoint("172.28.0.1", 40000), Endpoint("172.28.0.90", 25), "smtp", messages,
                     0.0, 1.0, len(messages), True, 0)


C, S = Direction.CLIENT, Direction.SERVER


def test_tls_starts_after_the_upgrade_of_each_protocol():
    smtp = _stream((S, b"220 mail ESMTP\r\n"), (C, b"EHLO x\r\n"), (S, b"250 STARTTLS\r\n"), (C, b"STARTTLS\r\n"),
                   (S, b"220 2.0.0 Ready to start TLS\r\n"), (C, CLIENT_HELLO), (S, b"\x16\x03\x03\x00\x7a"))
    assert encrypted_from(smtp) == 5
    pop = _stream((S, b"+OK Dovecot ready.\r\n"), (C, b"STLS\r\n"), (S, b"+OK Begin TLS negotiation now.\r\n"), (C, CLIENT_HELLO))
    assert encrypted_from(pop) == 3
    imap = _stream((S, b"* OK ready\r\n"), (C, b"a1 STARTTLS\r\n"), (S, b"a1 OK Begin TLS negotiation now.\r\n"), (C, CLIENT_HELLO))
    assert encrypted_from(imap) == 3


def test_no_tls_without_the_upgrade_or_when_the_server_refused_it():
    plain = _stream((S, b"220 mail\r\n"), (C, b"EHLO x\r\n"), (S, b"250 ok\r\n"), (C, b"QUIT\r\n"))
    assert encrypted_from(plain) is None
    refused = _stream((S, b"220 mail\r\n"), (C, b"STARTTLS\r\n"), (S, b"454 4.7.0 TLS not available\r\n"), (C, b"QUIT\r\n"))
    assert encrypted_from(refused) is None
    # "STARTTLS" inside a message body is not an upgrade
    body = _stream((C, b"DATA\r\n"), (S, b"354 go\r\n"), (C, b"use STARTTLS please\r\n.\r\n"), (C, CLIENT_HELLO))
    assert encrypted_from(body) is None


def test_follow_prints_control_characters_as_escapes(capsys):
    # Sent by anyone to port 25: an ESC sequence for the student's terminal, a lone CR that
    # would show the rest of the line as a command of its own, a NUL.
    hostile = _stream((S, b"220 mail ESMTP\r\n"), (C, b"EHLO x\rX-Injected: 1\r\n"),
                      (S, b"501 5.5.2 Syntax error\r\n"), (C, b"MAIL FROM:<\x1b[31mred\x00@y.z>\r\n"),
                      (S, b"250 2.1.0 Ok\r\n"))
    print_stream(hostile)
    printed = capsys.readouterr().out
    assert "C: EHLO x\\rX-Injected: 1\n" in printed
    assert "C: MAIL FROM:<\\x1b[31mred\\x00@y.z>\n" in printed
    assert "S: 250 2.1.0 Ok\n" in printed and "\nC: \n" not in printed
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f]", printed)
