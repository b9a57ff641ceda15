"""Fixtures of the check tests (the helpers live in checklab.py)."""
from __future__ import annotations

import pytest

from checklab import exercise_lab


@pytest.fixture(scope="module")
def ex3(engine):
    yield from exercise_lab(engine, "3")
