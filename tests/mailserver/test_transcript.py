"""The course's SMTP capture (practica4-student-answers.txt, exercise 3b), replayed byte for byte.

Each server reply must be the same octets as the course's Postfix sent, and
arrive in one TCP segment, as students see it in Wireshark (one frame for the
whole multi-line EHLO reply).
"""
from __future__ import annotations

import re

from .conftest import IMAP, POP, RawClient, RunningServer, make_config, maildir_files, wait_for

# Thunderbird's message from the capture (its User-Agent line was wrapped by the student's editor).
COURSE_MESSAGE = (
    b"Message-ID: <2a0fd16a-fc14-92f0-18fb-4357ceb90e9a@redes.unlp.edu.ar>\r\n"
    b"Date: Tue, 12 Sep 2023 16:50:13 -0300\r\n"
    b"MIME-Version: 1.0\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:91.0) Gecko/20100101 Thunderbird/91.12.0\r\n"
    b"Content-Language: en-US\r\n"
    b"To: alumnoimap@redes.unlp.edu.ar\r\n"
    b"From: alumnopop <alumnopop@redes.unlp.edu.ar>\r\n"
    b"Subject: estoy probando\r\n"
    b"Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"\r\n"
    b"estoy probando holitas\r\n"
    b"\r\n"
)
QUEUED = re.compile(rb"250 2\.0\.0 Ok: queued as [0-9A-F]{10}\r\n\Z")  # the course's: 42E8C6010E

COURSE_DIALOGUE: list[tuple[bytes | None, bytes | re.Pattern]] = [
    (None, b"220 mail.redes.unlp.edu.ar ESMTP Postfix (Lihuen-4.01/GNU)\r\n"),
    (b"EHLO [172.28.0.1]\r\n",
     b"250-mail.redes.unlp.edu.ar\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
     b"250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 CHUNKING\r\n"),
    (f"MAIL FROM:<{POP}> BODY=8BITMIME SIZE=467\r\n".encode(), b"250 2.1.0 Ok\r\n"),
    (f"RCPT TO:<{IMAP}>\r\n".encode(), b"250 2.1.5 Ok\r\n"),
    (b"DATA\r\n", b"354 End data with <CR><LF>.<CR><LF>\r\n"),
    (COURSE_MESSAGE + b".\r\n", QUEUED),
    (b"QUIT\r\n", b"221 2.0.0 Bye\r\n"),
]


def receive_reply(client: RawClient) -> bytes:
    """Octets up to the end of a complete (possibly multi-line) reply."""
    data = b""
    while not re.search(rb"(?:\A|\r\n)\d{3} [^\r\n]*\r\n\Z", data):
        chunk = client.sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def test_course_smtp_dialogue_byte_for_byte_one_segment_per_reply(tmp_path, certificate):
    cert, key = certificate
    with RunningServer(make_config(tmp_path, tls_cert=cert, tls_key=key)) as server:
        client = RawClient(server.smtp_port)
        segments_before = 0  # nothing but the handshake before the greeting
        for sent, expected in COURSE_DIALOGUE:
            if sent is not None:
                client.send(sent)
            reply = receive_reply(client)
            if isinstance(expected, bytes):
                assert reply == expected
            else:
                assert expected.match(reply), reply
            segments = client.data_segments_received()
            assert segments - segments_before == 1, f"reply to {sent!r} came in {segments - segments_before} segments"
            segments_before = segments
        client.close()
        [path] = wait_for(lambda: maildir_files(server.config, "alumnoimap"))
    assert path.read_bytes().endswith(COURSE_MESSAGE.replace(b"\r\n", b"\n"))
