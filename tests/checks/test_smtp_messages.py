"""The messages the checks of exercise 10 (items h, i, j) read from the capture's SMTP
dialogues: mail anyone can send to port 25 must not take those checks down."""
from __future__ import annotations

from labctl.capture.streams import Chunk, Direction, Endpoint
from labctl.capture.tcp import TcpStream
from labctl.checks.smtp_messages import stream_messages

C, S = Direction.CLIENT, Direction.SERVER
FORGED = b"From: rector@unlp.edu.ar\r\nTo: alumno@redes2024.com.ar\r\nSubject: forged\r\n\r\nhola\r\n"
NESTED = b"Subject: nested\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n" + b"".join(
    b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (n, n + 1) for n in range(1000))
HOSTILE = {
    "Message-ID <<>>@@": b"From: x@y.z\r\nMessage-ID: <<>>@@\r\nSubject: bad id\r\n\r\nhola\r\n",
    "1,000 nested multiparts": NESTED,
    "a From of nested comments": b"From: " + b"(" * 5000 + b"a" + b")" * 5000 + b" <x@y.z>\r\n\r\nhola\r\n",
}


def smtp_session(*messages: bytes) -> TcpStream:
    turns = [(S, b"220 mail ESMTP Postfix\r\n"), (C, b"EHLO x\r\n"), (S, b"250 mail\r\n")]
    for content in messages:
        turns += [(C, b"MAIL FROM:<yo@redes2024.com.ar>\r\n"), (S, b"250 2.1.0 Ok\r\n"),
                  (C, b"RCPT TO:<alumno@redes2024.com.ar>\r\n"), (S, b"250 2.1.5 Ok\r\n"),
                  (C, b"DATA\r\n"), (S, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
                  (C, content + b".\r\n"), (S, b"250 2.0.0 Ok: queued as 42E8C6010E\r\n")]
    chunks = [Chunk(direction, float(n), data) for n, (direction, data) in enumerate(turns + [(C, b"QUIT\r\n"), (S, b"221 2.0.0 Bye\r\n")])]
    return TcpStream(0, Endpoint("203.0.113.100", 40000), Endpoint("203.0.113.111", 25), "smtp", chunks,
                     0.0, float(len(chunks)), len(chunks), True, 0)


def test_hostile_messages_are_left_out_and_the_student_s_still_counts():
    found = stream_messages(smtp_session(*HOSTILE.values(), FORGED))
    readable = {m.content["Subject"]: m for m in found}
    forged = readable["forged"]
    assert forged.mail_from == "yo@redes2024.com.ar" and forged.header_addresses("From") == ["rector@unlp.edu.ar"]
    # What the parser could read of the others, read within bounds.
    for message in found:
        message.header_addresses("From"), message.header_addresses("Message-ID")
    assert "nested" not in readable
