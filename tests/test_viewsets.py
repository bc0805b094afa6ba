"""View-set sampling: overlap limit, sizes, levels, determinism, no enumeration."""

from __future__ import annotations

import numpy as np
import pytest

from mosaic.config import ViewSetConfig
from mosaic.tasks.viewsets import overlap_level, sample_view_sets, set_overlap


def _random_overlap(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.uniform(0, 60, (n, n))
    m = (m + m.T) / 2
    np.fill_diagonal(m, 100.0)
    return m


def test_every_pair_below_limit_and_stats_consistent():
    ov = _random_overlap(60, 1)
    ids = list(range(0, 600, 10))
    cfg = ViewSetConfig(max_pair_overlap=30.0, sets_per_scene=80)
    sets = sample_view_sets(ov, ids, np.random.default_rng(3), cfg)
    assert len(sets) == 80
    pos = {f: i for i, f in enumerate(ids)}
    sizes = set()
    for s in sets:
        idx = [pos[f] for f in s.frame_ids]
        assert len(set(idx)) == len(idx)
        sizes.add(len(idx))
        sub = ov[np.ix_(idx, idx)]
        assert (sub[~np.eye(len(idx), dtype=bool)] < 30.0).all()
        avg, mx = set_overlap(ov, idx)
        assert s.overlap_avg == pytest.approx(avg) and s.max_overlap == mx
        assert s.overlap_level == overlap_level(avg, cfg.overlap_bins)
    assert sizes == {2, 3, 4, 5}
    assert len({frozenset(s.frame_ids) for s in sets}) == len(sets)


def test_deterministic_per_rng_and_different_across_seeds():
    ov = _random_overlap(40, 2)
    ids = list(range(40))
    a = sample_view_sets(ov, ids, np.random.default_rng(5))
    b = sample_view_sets(ov, ids, np.random.default_rng(5))
    c = sample_view_sets(ov, ids, np.random.default_rng(6))
    assert a == b
    assert a != c


def test_overlap_levels_bins():
    assert overlap_level(0.0, (5.0, 15.0)) == "low"
    assert overlap_level(4.99, (5.0, 15.0)) == "low"
    assert overlap_level(5.0, (5.0, 15.0)) == "medium"
    assert overlap_level(15.0, (5.0, 15.0)) == "high"


def test_default_overlap_cut_points_agree_with_spatialmosaics_public_example():
    # their README's example record: overlap_avg 3.9537576000000003 -> "high"
    assert overlap_level(3.9537576000000003, ViewSetConfig().overlap_bins) == "high"


def test_impossible_sizes_are_dropped_not_forced():
    # two clusters of mutually overlapping frames: at most one frame per cluster fits
    n = 20
    ov = np.full((n, n), 80.0)
    ov[:10, 10:] = ov[10:, :10] = 2.0
    sets = sample_view_sets(ov, list(range(n)), np.random.default_rng(0))
    assert sets and all(len(s.frame_ids) == 2 for s in sets)
    assert all((f < 10) != (g < 10) for s in sets for f, g in [s.frame_ids])
    assert sample_view_sets(np.zeros((1, 1)), [0], np.random.default_rng(0)) == []


def test_large_frame_count_is_fast_enough_to_not_enumerate():
    # 600 frames: C(600, 5) combinations could never be enumerated; growth draws are O(k n)
    ov = _random_overlap(600, 4)
    sets = sample_view_sets(
        ov, list(range(600)), np.random.default_rng(1), ViewSetConfig(sets_per_scene=200)
    )
    assert len(sets) == 200
