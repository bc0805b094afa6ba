"""Frame subsampling and low-overlap view-set sampling (docs/tasks.md, "Pipeline of one scene").

Sets are grown at random from a seed frame: each step adds a frame drawn uniformly from those
whose overlap with *every* member is below the limit (a boolean AND over rows of the overlap
matrix), so drawing one set costs O(k n) and no combination is ever enumerated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import ViewSetConfig
from ..structures import Scene

OVERLAP_LEVELS: tuple[str, str, str] = ("low", "medium", "high")


@dataclass(frozen=True)
class ViewSet:
    """An ordered set of frames shown together ("Frame 1" = ``frame_ids[0]``).

    Attributes:
        frame_ids: source frame numbers in display order.
        overlap_avg: mean pairwise view overlap, percent.
        overlap_level: ``"low"`` / ``"medium"`` / ``"high"`` bin of ``overlap_avg``.
        max_overlap: largest pairwise overlap in the set, percent.
    """

    frame_ids: tuple[int, ...]
    overlap_avg: float
    overlap_level: str
    max_overlap: float


def subsample_frames(scene: Scene, step: int) -> list[int]:
    """Every ``step``-th usable frame id (scene.frames already excludes non-finite poses)."""
    step = max(1, int(step))
    return [f.frame_id for f in scene.frames[::step]]


def overlap_level(overlap_avg: float, bins: tuple[float, float]) -> str:
    """Bin a mean overlap (percent): low [0, b0), medium [b0, b1), high [b1, ...]."""
    if overlap_avg < bins[0]:
        return OVERLAP_LEVELS[0]
    if overlap_avg < bins[1]:
        return OVERLAP_LEVELS[1]
    return OVERLAP_LEVELS[2]


def set_overlap(overlap: np.ndarray, idx: list[int] | tuple[int, ...]) -> tuple[float, float]:
    """(mean, max) pairwise overlap (percent) of the views at positions ``idx``."""
    idx = list(idx)
    if len(idx) < 2:
        return 0.0, 0.0
    sub = overlap[np.ix_(idx, idx)]
    iu = np.triu_indices(len(idx), k=1)
    vals = sub[iu]
    return float(vals.mean()), float(vals.max())


def sample_view_sets(
    overlap: np.ndarray,
    frame_ids: list[int],
    rng: np.random.Generator,
    config: ViewSetConfig | None = None,
) -> list[ViewSet]:
    """Draw up to ``config.sets_per_scene`` distinct sets of low mutual overlap.

    Args:
        overlap: (n, n) float64 pairwise overlap in percent, rows in the order of ``frame_ids``.
        frame_ids: the candidate frames (source frame numbers).
        rng: the scene's generator (the only source of randomness).
        config: set sizes, overlap limit and bins, number of sets and draw budget.

    Returns:
        Sets in draw order; sizes spread over ``config.set_sizes`` (a size that cannot be
        reached from a seed frame is retried with another seed, then dropped).
    """
    cfg = config or ViewSetConfig()
    n = len(frame_ids)
    if n < 2 or overlap.shape != (n, n):
        return []
    ok = overlap < cfg.max_pair_overlap
    np.fill_diagonal(ok, False)
    sizes = [k for k in cfg.set_sizes if 2 <= k <= n]
    if not sizes:
        return []
    seen: set[frozenset[int]] = set()
    out: list[ViewSet] = []
    for _ in range(cfg.max_tries):
        if len(out) >= cfg.sets_per_scene:
            break
        k = int(sizes[len(out) % len(sizes)]) if rng.random() < 0.5 else int(rng.choice(sizes))
        members = [int(rng.integers(n))]
        allowed = ok[members[0]].copy()
        while len(members) < k:
            cand = np.flatnonzero(allowed)
            if cand.size == 0:
                break
            nxt = int(rng.choice(cand))
            members.append(nxt)
            allowed &= ok[nxt]
        if len(members) < k:
            continue
        key = frozenset(members)
        if key in seen:
            continue
        seen.add(key)
        avg, mx = set_overlap(overlap, members)
        order = [members[i] for i in rng.permutation(len(members))]
        out.append(
            ViewSet(
                tuple(int(frame_ids[i]) for i in order),
                avg,
                overlap_level(avg, cfg.overlap_bins),
                mx,
            )
        )
    return out
