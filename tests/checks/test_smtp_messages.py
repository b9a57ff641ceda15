"""The messages the checks of exercise 10 (items h, i, j) read from the capture's SMTP
dialogues: mail anyone can send to port 25 must not take those checks down."""
from __future__ import annotations

from labctl.capture.streams import Chunk, Direction, Endpoint
from labctl.capture.tcp import TcpStream
from labctl.checks.sessions import capture_session
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


def smtp_session(*messages: bytes, sender: bytes = b"yo@redes2024.com.ar", to: bytes = b"alumno@redes2024.com.ar",
                 chunks: int = 0) -> TcpStream:
    """A clear session sending each message with DATA, or with BDAT in `chunks` pieces (CHUNKING)."""
    turns = [(S, b"220 mail ESMTP Postfix\r\n"), (C, b"EHLO x\r\n"), (S, b"250 mail\r\n")]
    for content in messages:
        turns += [(C, b"MAIL FROM:<%s>\r\n" % sender), (S, b"250 2.1.0 Ok\r\n"),
                  (C, b"RCPT TO:<%s>\r\n" % to), (S, b"250 2.1.5 Ok\r\n")]
        if chunks:
            size = -(-len(content) // chunks)
            pieces = [content[n:n + size] for n in range(0, len(content), size)]
            for n, piece in enumerate(pieces):
                last = b" LAST" if n == len(pieces) - 1 else b""
                turns += [(C, b"BDAT %d%s\r\n%s" % (len(piece), last, piece)), (S, b"250 2.0.0 Ok\r\n")]
        else:
            turns += [(C, b"DATA\r\n"), (S, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
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


SWAKS_PDF = ("Date: Sun, 29 Nov 2026 01:00:00 +0000\r\nTo: alumnoimap@redes.unlp.edu.ar\r\n"
             "From: redesycomunicaciones@redes.unlp.edu.ar\r\nSubject: SMTP-Pr\u00e1ctica4\r\n"
             "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
             "--b\r\nContent-Type: text/plain\r\n\r\nThis is a test mailing\r\n\r\n"
             "--b\r\nContent-Type: application/octet-stream; name=\"archivo.pdf\"\r\n"
             "Content-Transfer-Encoding: BASE64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n").encode()  # raw 8-bit subject, as swaks sends it


def test_a_message_sent_with_bdat_is_read_whole():
    [message] = stream_messages(smtp_session(SWAKS_PDF, sender=b"redesycomunicaciones@redes.unlp.edu.ar",
                                             to=b"alumnoimap@redes.unlp.edu.ar", chunks=3))
    assert message.rcpt_to == ("alumnoimap@redes.unlp.edu.ar",)
    assert message.summary.subject == "SMTP-Práctica4"
    assert [a.sniffed for a in message.summary.attachments] == ["application/pdf"]


def test_a_refused_chunk_ends_the_transaction():
    stream = smtp_session(SWAKS_PDF, chunks=2)
    refused = next(n for n, chunk in enumerate(stream.messages) if chunk.data.startswith(b"BDAT")) + 1
    stream.messages[refused] = stream.messages[refused]._replace(data=b"552 5.3.4 Message size exceeds fixed limit\r\n")
    assert stream_messages(stream) == []


def test_a_session_typed_into_nc_ahead_of_the_banner_with_bare_lf_lines_is_read():
    """(printf 'helo pc\\n'; ...) | nc mail 25: the lines end in a bare LF, as Postfix takes
    them, and the client spoke before the banner, which the server sends first all the same."""
    typed = b"helo pc\nmail from:<alumnopop@redes.unlp.edu.ar>\nrcpt to:<alumnoimap@redes.unlp.edu.ar>\ndata\n"
    turns = [(C, typed), (S, b"220 mail ESMTP Postfix\r\n250 mail\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                         b"354 End data with <CR><LF>.<CR><LF>\r\n"),
             (C, b"From: alumnopop@redes.unlp.edu.ar\nSubject: uno\n\n..punto\nhola\n.\nquit\n"),
             (S, b"250 2.0.0 Ok: queued as CC6827C692\r\n221 2.0.0 Bye\r\n")]
    chunks = [Chunk(direction, float(n), data) for n, (direction, data) in enumerate(turns)]
    stream = TcpStream(0, Endpoint("172.28.0.100", 40000), Endpoint("172.28.0.90", 25), "smtp", chunks,
                       0.0, 4.0, 4, True, 0)
    [message] = stream_messages(stream)
    assert (message.mail_from, message.rcpt_to) == ("alumnopop@redes.unlp.edu.ar", ("alumnoimap@redes.unlp.edu.ar",))
    assert message.summary.subject == "uno" and message.summary.text == ".punto\nhola\n"
    session = capture_session(stream)
    assert session.answered() == ["HELO", "MAIL", "RCPT", "DATA", "QUIT"] and session.messages == 1
