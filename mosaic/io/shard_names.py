"""Shard names and the run plan that decides them: chunk i of n of a split is the shard
``<split>-<i:05d>-of-<n:05d>.h5`` (docs/data_format.md), and ``plan.json`` records each split's
sorted scenes and the chunk size. The driver, the readers' verification and ``mosaic status``
all derive shard names here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

PLAN_NAME = "plan.json"
SHARD_RE = re.compile(r"^(?P<split>[^/\\]+)-(?P<index>\d{5})-of-(?P<n>\d{5})\.h5$")


def shard_name(split: str, index: int, n_chunks: int) -> str:
    return f"{split}-{index:05d}-of-{n_chunks:05d}.h5"


def split_of(name: str) -> str | None:
    """The output split a shard name belongs to (None for another file name)."""
    m = SHARD_RE.match(name)
    return m.group("split") if m else None


def planned_chunks(plan: dict[str, Any]) -> dict[str, list[str]]:
    """shard name -> its scenes, from a ``plan.json`` document (consecutive chunks of
    ``chunk_size`` sorted scenes per split). Raises KeyError, TypeError or ValueError for a
    malformed plan."""
    size = int(plan["chunk_size"])
    if size < 1:
        raise ValueError(f"chunk_size {size} < 1")
    chunks: dict[str, list[str]] = {}
    for split, ids in dict(plan["splits"]).items():
        ids = sorted(ids)
        n = -(-len(ids) // size)
        for i in range(n):
            chunks[shard_name(split, i, n)] = ids[i * size : (i + 1) * size]
    return chunks


def chunk_siblings(names: Iterable[str]) -> set[str]:
    """The names given plus every shard of each split they name (``-of-N`` tells how many)."""
    out = set(names)
    for name in list(out):
        m = SHARD_RE.match(name)
        if m:
            n = int(m.group("n"))
            out.update(shard_name(m.group("split"), i, n) for i in range(n))
    return out
