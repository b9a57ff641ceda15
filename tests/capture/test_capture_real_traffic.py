"""Streams captured from real traffic on loopback, checked byte for byte against tshark."""
from __future__ import annotations

import pytest

from labctl.capture import dialogue, load_capture
from labctl.capture.tshark import follow_streams, stream_count
from lab_traffic import MAIL

LINK_LAYERS = ["ethernet", "sll", "sll2"]


@pytest.mark.parametrize("link", LINK_LAYERS)
def test_every_stream_matches_tshark_follow(lab_capture, link):
    pcap = lab_capture.files[link]
    capture = load_capture([pcap], ports=lab_capture.ports.protocols())
    assert len(capture.streams) == stream_count(pcap)
    reference = follow_streams(pcap, [stream.index for stream in capture.streams])
    for stream in capture.streams:
        tshark = reference[stream.index]
        assert stream.client_bytes() == tshark.bytes_from(str(stream.client)), stream.title
        assert stream.server_bytes() == tshark.bytes_from(str(stream.server)), stream.title


@pytest.mark.parametrize("link", LINK_LAYERS)
def test_streams_are_told_apart_by_protocol(lab_capture, link):
    capture = load_capture([lab_capture.files[link]], ports=lab_capture.ports.protocols())
    protocols = sorted(stream.proto for stream in capture.streams)
    assert protocols == ["dns", "http", "imap", "pop", "smtp"]
    for stream in capture.streams:
        assert stream.handshake_seen
        assert stream.server.port in lab_capture.ports.protocols()
        assert stream.client.ip == "127.0.0.1" and stream.client.port not in lab_capture.ports.protocols()
        assert stream.missing_bytes == 0


def test_smtp_dialogue_as_the_student_reads_it(lab_capture):
    capture = load_capture([lab_capture.files["ethernet"]], ports=lab_capture.ports.protocols())
    (smtp,) = capture.tcp_streams("smtp")
    exchanges = dialogue(smtp)
    commands = [exchange.command_text.split("\r\n")[0] for exchange in exchanges]
    # The lines as smtplib sent them: "mail FROM:", "rcpt TO:" up to Python 3.12, lower case since 3.13.
    commands = [command.lower() if command.lower().startswith(("mail", "rcpt")) else command for command in commands]
    assert commands == [
        "",
        "ehlo [172.28.0.1]",
        "mail from:<alumnopop@redes.unlp.edu.ar> size=%d" % len(MAIL),
        "rcpt to:<alumnoimap@redes.unlp.edu.ar>",
        "data",
        "From: alumnopop@redes.unlp.edu.ar",
        "QUIT",
    ]
    replies = [exchange.reply_text[:3] for exchange in exchanges]
    assert replies == ["220", "250", "250", "250", "354", "250", "221"]
    assert exchanges[1].reply_text.count("\r\n250") >= 1  # the multi-line EHLO reply is one reply
    message = exchanges[5].command.data
    assert message.endswith(b"\r\n.\r\n") and b"Subject: estoy probando" in message
    assert exchanges[5].reply_text == "250 2.0.0 Ok: queued as 42E8C6010E\r\n"


def test_pop3_multiline_replies(lab_capture):
    capture = load_capture([lab_capture.files["ethernet"]], ports=lab_capture.ports.protocols())
    (pop,) = capture.tcp_streams("pop")
    exchanges = dialogue(pop)
    pairs = [(e.command_text.strip(), e.reply_text.split("\r\n")[0]) for e in exchanges]
    assert pairs == [
        ("", "+OK Dovecot ready."),
        ("CAPA", "+OK"),
        ("AUTH PLAIN", "+ "),
        ("AGFsdW1ub3BvcABhbHVtbm9wb3BwYXNz", "+OK Logged in."),
        ("STAT", "+OK 1 %d" % len(MAIL)),
        ("LIST", "+OK 1 messages:"),
        ("UIDL", "+OK"),
        ("RETR 1", "+OK %d octets" % len(MAIL)),
        ("QUIT", "+OK Logging out."),
    ]
    assert exchanges[1].reply_text.endswith("SASL PLAIN\r\n.\r\n")
    assert exchanges[7].reply.data == b"+OK %d octets\r\n" % len(MAIL) + MAIL.encode() + b".\r\n"


def test_imap_tagged_untagged_and_literals(lab_capture):
    capture = load_capture([lab_capture.files["ethernet"]], ports=lab_capture.ports.protocols())
    (imap,) = capture.tcp_streams("imap")
    exchanges = dialogue(imap)
    verbs = [e.command_text.split()[1] if e.command else None for e in exchanges]
    assert verbs == [None, "CAPABILITY", "LOGIN", "SELECT", "FETCH", "APPEND", "IDLE", "LOGOUT"]
    greeting, *_, fetch, append, idle, logout = exchanges
    assert greeting.reply_text.startswith("* OK [CAPABILITY")
    assert MAIL.encode() in fetch.reply.data and fetch.reply_text.endswith("OK Fetch completed.\r\n")
    assert append.command.data.endswith(b"{23}\r\nSubject: hola\r\n\r\nhola\r\n\r\n")
    assert append.reply_text == "+ OK\r\n" + append.command_text.split()[0] + " OK Append completed.\r\n"
    assert idle.command_text.endswith("IDLE\r\nDONE\r\n")
    assert idle.reply_text.startswith("+ idling\r\n* 2 EXISTS\r\n")
    assert logout.reply_text.startswith("* BYE")


def test_http_requests_paired_with_responses(lab_capture):
    capture = load_capture([lab_capture.files["ethernet"]], ports=lab_capture.ports.protocols())
    (web,) = capture.tcp_streams("http")
    exchanges = dialogue(web)
    assert [e.command_text.split("\r\n")[0] for e in exchanges] == ["GET /index.html HTTP/1.1", "GET /chunked HTTP/1.1"]
    assert all(e.reply_text.startswith("HTTP/1.0 200") or e.reply_text.startswith("HTTP/1.1 200") for e in exchanges)
    assert exchanges[1].reply.data.endswith(b"0\r\n\r\n")
    assert b"".join(e.reply.data for e in exchanges) == web.server_bytes()


@pytest.mark.parametrize("link", LINK_LAYERS)
def test_dns_queries_and_answers_over_udp_and_tcp(lab_capture, link):
    capture = load_capture([lab_capture.files[link]], ports=lab_capture.ports.protocols())
    summary = [(m.transport, m.is_response, m.qname, m.qtype, m.rcode, [a.value for a in m.answers])
               for m in capture.dns_messages()]
    assert summary == [
        ("udp", False, "www.redes.unlp.edu.ar.", "A", "NOERROR", []),
        ("udp", True, "www.redes.unlp.edu.ar.", "A", "NOERROR", ["172.28.0.50"]),
        ("udp", False, "nada.redes.unlp.edu.ar.", "A", "NOERROR", []),
        ("udp", True, "nada.redes.unlp.edu.ar.", "A", "NXDOMAIN", []),
        ("tcp", False, "mail.redes.unlp.edu.ar.", "A", "NOERROR", []),
        ("tcp", True, "mail.redes.unlp.edu.ar.", "A", "NOERROR", ["172.28.0.90"]),
    ]
    query, response = capture.dns_messages()[:2]
    assert query.id == response.id and query.server.port == lab_capture.ports.dns
    assert response.answers[0].ttl == 300 and response.answers[0].type == "A"
