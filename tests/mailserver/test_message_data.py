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


def read_whole(data: bytes, size_limit: int = 10_000) -> tuple[bytes, int] | None:
    """The one-step path: (content, bytes used through the end of data), or None if it declines."""
    reader = DotTerminatedContent(size_limit, lf_may_end=False)
    first, _, rest = data.partition(b"\n")
    taken = reader.take_whole(first + b"\n", rest)
    return None if taken is None else (bytes(reader.content), len(first) + 1 + taken)


def read_by_lines(data: bytes, size_limit: int = 10_000) -> tuple[bytes, str | None, int]:
    lines = data.splitlines(keepends=True)
    content, problem, used = read(lines, size_limit=size_limit)
    return content, problem, sum(map(len, lines[:used]))


@pytest.mark.parametrize("data", [
    b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n",
    b".\r\n",
    b"\r\n.\r\n",
    b"..stuffed\r\n.x\r\n...\r\n.\r\n",
    b"a\r\n..\r\n.\r\nMAIL FROM:<a@b>\r\n",
    b"x" * 3000 + b"\r\n.\r\n",
])
def test_a_whole_ordinary_message_is_taken_in_one_step_as_line_by_line(data):
    assert read_whole(data) is not None
    content, used = read_whole(data)
    assert (content, None, used) == read_by_lines(data)


@pytest.mark.parametrize("data", [
    b"a\nb\r\n.\r\n",  # a bare LF: made CRLF line by line
    b"a\rb\r\n.\r\n",  # a bare CR: refused line by line
    b"a\r\n.\n.\r\n",  # '.' after a CRLF but ending in LF: content
    b"a\0\r\n.\r\n",  # NUL: refused line by line
    b"x" * 20_000 + b"\r\n.\r\n",  # over the size limit: refused line by line
    b"no end yet\r\n",
])
def test_anything_else_is_left_to_the_line_by_line_reader(data):
    assert read_whole(data) is None


def test_the_one_step_path_agrees_with_the_reader_on_random_input():
    import random

    rng = random.Random(12)
    fragments = [b"a", b"x y", b".", b"..", b"\r\n", b"\r\n", b"\n", b"\r", b"\0", b"\r\n.", b"\r\n.\r"]
    taken = declined = 0
    for _ in range(3000):
        data = b"".join(rng.choice(fragments) for _ in range(rng.randrange(0, 12))) + b"\r\n.\r\nNEXT\r\n"
        whole = read_whole(data, size_limit=40)
        if whole is None:
            declined += 1
            continue
        taken += 1
        content, used = whole
        assert (content, None, used) == read_by_lines(data, size_limit=40), data
    assert taken > 300 and declined > 300


def test_crs_before_the_lf_are_the_line_end_also_across_pieces():
    assert read([b"a\r\r\n", b"x" * 10 + b"\r\r", b"\r", b"\r\n", b".\r\r\n"]) == (b"a\r\nxxxxxxxxxx\r\n", None, 5)
    assert read([b"a" * 10 + b"\r\r", b"b\r\n", b".\r\n"])[1] == BARE_CR  # a run of CRs not before an LF


def test_bdat_crs_before_a_line_end_are_dropped_and_the_last_line_ended():
    assert normalise_chunked(b"a\r\r\nb\nc") == (b"a\r\nb\r\nc\r\n", None)
    assert normalise_chunked(b"") == (b"", None)
    assert normalise_chunked(b"a\r\rb\r\n")[1] == BARE_CR
