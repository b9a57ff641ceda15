"""The header/body boundary as Postfix's cleanup(8) queues it (compared with the real Postfix
in test_stored_message_parity); here what must hold for any input."""
from __future__ import annotations

from labctl.mailserver.header_section import as_cleanup_queues


def joined(content: bytes) -> bytes:
    return b"".join(as_cleanup_queues(content))


def test_a_plain_message_is_passed_on_as_it_came_not_copied():
    content = bytearray(b"Subject: x\r\n\r\n" + b"a" * 998 + b"\r\n") * 10000
    [part] = as_cleanup_queues(content)
    assert part is content


def test_text_without_a_header_gets_the_empty_line_on_top():
    assert joined(b"hola\r\n") == b"\r\nhola\r\n"
    assert joined(b"Subject: a\r\nhola\r\n") == b"Subject: a\r\n\r\nhola\r\n"


def test_a_field_that_looks_like_text_later_in_the_body_is_left_alone():
    content = b"Subject: a\r\n\r\nhola\r\nX-Foo : bar\r\nFrom alumno\r\n"
    assert as_cleanup_queues(content) == (content,)


def test_only_the_header_section_is_rewritten():
    body = b"From alumno\r\nX : y\r\n"
    assert joined(b"From a\r\nX-A : b\r\n\r\n" + body) == b"X-Mailbox-Line: From a\r\nX-A: b\r\n\r\n" + body


def test_a_header_with_nothing_after_it_and_an_empty_message_stay_as_they_are():
    assert as_cleanup_queues(b"Subject: a\r\n") == (b"Subject: a\r\n",)
    assert as_cleanup_queues(b"") == (b"",)
