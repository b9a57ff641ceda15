"""The DATA/BDAT content rules, piece by piece as the reader hands them over (long lines come in pieces)."""
from __future__ import annotations

import pytest

from labctl.mailserver.message_data import BARE_CR, NUL, TOO_BIG, DotTerminatedContent, normalise_chunked


def read(pieces: list[bytes], *, lf_may_end: bool = False, size_limit: int = 10_000) -> tuple[bytes, str | None, int]:
    """(content, problem, pieces consumed up to and including the end of data)."""
    data = DotTerminatedContent(size_limit, lf_may_end=lf_may_end)
    for used, piece in enumerate(pieces, 1):
        if data.feed(piece):
            return bytes(data.content), data.problem, used
    raise AssertionError("no end of data")


def test_only_crlf_dot_crlf_after_a_crlf_ends_a_strict_data():
    pieces = [b"a\n", b".\r\n", b"b\r\n", b".\n", b"c\r\n", b".\r\n", b"after\r\n"]
    assert read(pieces) == (b"a\r\n\r\nb\r\n\r\nc\r\n", None, 6)


def test_lf_typed_data_ends_on_dot_lf():
    assert read([b"Subject: x\n", b"\n", b"..dot\n", b".\n", b"QUIT\n"], lf_may_end=True) == (
        b"Subject: x\r\n\r\n.dot\r\n", None, 4)


def test_a_long_line_in_pieces_with_the_cr_at_a_piece_end():
    assert read([b"x" * 1001, b"y" * 999 + b"\r", b"\n", b".\r\n"]) == (b"x" * 1001 + b"y" * 999 + b"\r\n", None, 4)


def test_cr_dot_cr_hidden_across_pieces_is_a_bare_cr():
    assert read([b"x" * 1001 + b"\r", b".\r\n", b"more\r\n", b".\r\n"]) == (b"", BARE_CR, 4)


@pytest.mark.parametrize("pieces, problem", [
    ([b"a\0b\r\n", b".\r\n"], NUL),
    ([b"x" * 600 + b"\r\n", b"y" * 600 + b"\r\n", b".\r\n"], TOO_BIG),
])
def test_refusals_read_to_the_end_and_keep_nothing(pieces, problem):
    assert read(pieces, size_limit=1000) == (b"", problem, len(pieces))


def test_chunked_content_is_normalised_or_refused():
    assert normalise_chunked(b"a\nb\r\n.\n") == (b"a\r\nb\r\n.\r\n", None)
    assert normalise_chunked(bytearray(b"a\r.\r\n")) == (b"", BARE_CR)
    assert normalise_chunked(b"a\0") == (b"", NUL)
