"""View overlap: face-area-weighted IoU of the non-structural faces two views hit (percent)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..structures import Scene, ViewVisibility


def face_areas(scene: Scene) -> np.ndarray:
    """(F,) float64 triangle areas in square metres (``Scene.face_areas``, computed once)."""
    return scene.face_areas


def view_overlap(scene: Scene, a: ViewVisibility, b: ViewVisibility) -> float:
    """overlap(i, j) = area(F_i & F_j) / area(F_i | F_j) x 100 (0 when both sets are empty)."""
    areas = face_areas(scene)
    inter = np.intersect1d(a.visible_faces, b.visible_faces, assume_unique=True)
    union = np.union1d(a.visible_faces, b.visible_faces)
    denom = areas[union].sum()
    return float(100.0 * areas[inter].sum() / denom) if denom > 0 else 0.0


def overlap_matrix(scene: Scene, views: Sequence[ViewVisibility]) -> np.ndarray:
    """(n, n) float64 pairwise overlap in percent; the diagonal is 100 for non-empty views.

    Computed with one sparse incidence product: area-weighted intersections for all pairs, then
    unions as |A| + |B| - |A & B|.
    """
    from scipy import sparse

    n = len(views)
    if n == 0:
        return np.zeros((0, 0))
    areas = face_areas(scene)
    rows = np.concatenate([np.full(len(v.visible_faces), i) for i, v in enumerate(views)])
    cols = np.concatenate([v.visible_faces for v in views]).astype(np.int64)
    inc = sparse.csr_matrix(
        (np.ones(len(cols)), (rows, cols)), shape=(n, len(areas))
    )
    weighted = inc.multiply(areas[None, :]).tocsr()
    inter = np.asarray((weighted @ inc.T).todense())
    own = np.diag(inter).copy()
    union = own[:, None] + own[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, 100.0 * inter / union, 0.0)
    return out
