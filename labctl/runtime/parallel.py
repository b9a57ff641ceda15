"""Waiting on several containers at once: one thread per item, for calls that
mostly wait on the engine or on a process in a container."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def all_at_once(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`fn` of every item, all started together; the results in the items' order,
    the first exception raised once all have ended."""
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(fn, items))
