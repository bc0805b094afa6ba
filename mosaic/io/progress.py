"""Progress of the commands that read a whole dataset (``export``, ``validate``, ``stats``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def counted(items: Iterable[T], progress: Callable[[int], None] | None) -> Iterator[T]:
    """Yield ``items``; call ``progress(1)`` once each item has been dealt with (when the
    consumer asks for the next one, so a ``continue`` in the loop still counts)."""
    for item in items:
        yield item
        if progress is not None:
            progress(1)
