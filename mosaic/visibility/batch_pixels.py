"""Array helpers of the vectorised ``pruned`` labelling (``ViewLabeller.label``): per-object
pixel statistics from one pass over a batch's first-hit buffers, the out-of-image rectangles
each object's amodal footprint can reach, and the pixels and cells inside its silhouette.

Pixel coordinates are at the labelling resolution; objects are indexed 0..n-1 in the
batch's target order (``hulls.TargetHulls``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hulls import Silhouettes

OUTSIDE_RAYS = 1024  # out-of-image rays per object for the pruned method (sub-grid above it)


class VisibleStats:
    """Box and median depth of every group's visible pixels (a group: an object in a view),
    from one pass over the views' first-hit buffers.

    px: (n,) flat pixel indices within their view of the pixels whose first hit is a target;
    group: (n,) their group; d: (n,) their depths (float32, >= 0); counts: (G,) pixels per
    group; w, h: image size.
    """

    def __init__(self, px: np.ndarray, group: np.ndarray, d: np.ndarray, counts: np.ndarray,
                 w: int, h: int):
        nz = np.flatnonzero(counts)
        self._index = {k: i for i, k in enumerate(nz.tolist())}
        if not len(nz):
            return
        rows = px // w
        # boxes: which rows and columns hold each group's pixels (flat indices: a 2D fancy
        # assignment is twice as slow)
        present = np.zeros(len(counts) * h, bool)
        present[group * h + rows] = True
        p = present.reshape(-1, h)[nz]
        self._rows = (p.argmax(1).tolist(), (h - 1 - p[:, ::-1].argmax(1)).tolist())
        present = np.zeros(len(counts) * w, bool)
        present[group * w + (px - rows * w)] = True
        p = present.reshape(-1, w)[nz]
        self._cols = (p.argmax(1).tolist(), (w - 1 - p[:, ::-1].argmax(1)).tolist())
        # medians: one sort of (group, depth) keys; a non-negative float32's bits sort as
        # the float does. np.median's value: the float32 mean of the two middle values
        key = (group.astype(np.uint64) << np.uint64(32)) | d.view(np.uint32)
        d = np.sort(key).astype(np.uint32).view(np.float32)  # the low 32 bits: the depths
        n = counts[nz]
        st = np.cumsum(n) - n
        self._median = ((d[st + (n - 1) // 2] + d[st + n // 2]) / np.float32(2)).tolist()

    def span(self, k: int) -> tuple[int, int, int, int] | None:
        """(r_min, r_max, c_min, c_max) of group k's visible pixels, None when it has none."""
        i = self._index.get(k)
        if i is None:
            return None
        return self._rows[0][i], self._rows[1][i], self._cols[0][i], self._cols[1][i]

    def median(self, k: int) -> float:
        i = self._index.get(k)
        return float("nan") if i is None else self._median[i]


@dataclass(frozen=True)
class Rects:
    """Rectangles of cells, ordered by object: end-exclusive pixel bounds x0, y0, x1, y1 on the
    (enlarged) image plane, the cell size ``step`` (1: pixels) and the object slot ``obj``, all
    (R,) int64."""

    obj: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    step: np.ndarray


def outside_rects(objs: np.ndarray, box: tuple[np.ndarray, ...], w: int, h: int) -> Rects:
    """``engine._outside_strips`` of objects ``objs`` (ascending) with the sub-grid step
    ``ViewLabeller._outside_hits`` chooses for them, vectorised."""
    c0, r0, c1, r1 = (b[objs] for b in box)
    mr0, mr1 = np.maximum(r0, 0), np.minimum(r1, h)
    mid = mr0 < mr1
    strips = np.stack([
        np.stack([c0, r0, c1, np.minimum(r1, 0)], 1),
        np.stack([c0, np.maximum(r0, h), c1, r1], 1),
        np.stack([c0, mr0, np.minimum(c1, 0), mr1], 1),
        np.stack([np.maximum(c0, w), mr0, c1, mr1], 1),
    ], 1)  # (n, 4 strips, 4)
    use = np.stack([r0 < 0, r1 > h, mid & (c0 < 0), mid & (c1 > w)], 1)
    use &= (strips[..., 0] < strips[..., 2]) & (strips[..., 1] < strips[..., 3])
    area = ((strips[..., 2] - strips[..., 0]) * (strips[..., 3] - strips[..., 1]) * use).sum(1)
    step = np.where(area > OUTSIDE_RAYS,
                    np.ceil(np.sqrt(area / OUTSIDE_RAYS)), 1).astype(np.int64)
    flat = use.ravel()
    rect = strips.reshape(-1, 4)[flat]
    return Rects(np.repeat(objs, 4)[flat], rect[:, 0], rect[:, 1], rect[:, 2], rect[:, 3],
                  np.repeat(step, 4)[flat])


def rect_rows(rects: Rects, sil: Silhouettes, n_obj: int) -> tuple[np.ndarray, ...]:
    """Rows of cells of every rectangle and the run of cells on each row whose sample point
    (the cell centre; a narrower last cell's centre lies left of a full one's) may lie inside
    its object's silhouette lines (all cells for objects without lines).

    Returns per row (M,): rectangle index, top pixel row cy0, height ch, sample y, index lo of
    its first cell and the cell count (int64, y float64).
    """
    step = rects.step
    ny = (rects.y1 - rects.y0 + step - 1) // step
    nx = (rects.x1 - rects.x0 + step - 1) // step
    rr = np.repeat(np.arange(len(ny)), ny)
    iy = np.arange(len(rr)) - np.repeat(np.cumsum(ny) - ny, ny)
    st = step[rr]
    cy0 = rects.y0[rr] + iy * st
    ch = np.minimum(st, rects.y1[rr] - cy0)
    yc = cy0 + ch / 2.0
    lo = np.zeros(len(rr))
    hi = (nx[rr] - 1).astype(np.float64)
    b = np.flatnonzero(sil.bounded[rects.obj[rr]])
    if len(b):
        xlo, xhi = sil.row_intervals(rects.obj[rr[b]], yc[b], n_obj)
        x0, sb = rects.x0[rr[b]], st[b]
        # full cell ix has its centre at x0 + (ix + 1/2) step
        lo[b] = np.maximum(lo[b], np.ceil((xlo - x0) / sb - 0.5))
        hi[b] = np.minimum(hi[b], np.floor((xhi - x0) / sb - 0.5) + (sb > 1))
    count = np.maximum(hi - lo + 1, 0)
    lo = np.where(count > 0, lo, 0).astype(np.int64)
    return rr, cy0, ch, yc, lo, count.astype(np.int64)


def window_pixels(objs: np.ndarray, win: tuple[np.ndarray, ...], base: np.ndarray,
                   sil: Silhouettes, n_obj: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of the in-image windows (ic0, ir0, ic1, ir1) of owners ``objs`` (ascending)
    inside their silhouette lines: (owner, flat pixel index + the owner's ``base``), owner by
    owner in raster order. base: (len(objs),) offset of each owner's view in the batch."""
    ic0, ir0, ic1, ir1 = (b[objs] for b in win)
    ones = np.ones(len(objs), np.int64)
    rr, cy0, _, _, lo, count = rect_rows(Rects(objs, ic0, ir0, ic1, ir1, ones), sil, n_obj)
    first = base[rr] + cy0 * w + ic0[rr] + lo - (np.cumsum(count) - count)
    n = int(count.sum())
    return np.repeat(objs[rr], count), np.repeat(first, count) + np.arange(n)


def outside_cells(rects: Rects, sil: Silhouettes, n_obj: int) -> tuple[np.ndarray, ...]:
    """Cells of the out-of-image rectangles inside their silhouette lines: object slot (N,),
    sample point x, y (N,) float64 and area (N,) int64, object by object."""
    rr, cy0, ch, yc, lo, count = rect_rows(rects, sil, n_obj)
    cell_row = np.repeat(np.arange(len(rr)), count)
    ix = lo[cell_row] + np.arange(len(cell_row)) - np.repeat(np.cumsum(count) - count, count)
    r = rr[cell_row]
    st = rects.step[r]
    cx0 = rects.x0[r] + ix * st
    cw = np.minimum(st, rects.x1[r] - cx0)
    return rects.obj[r], cx0 + cw / 2.0, yc[cell_row], cw * ch[cell_row]


def pixel_spans(pixel: np.ndarray, counts: np.ndarray, w: int
                ) -> dict[int, tuple[int, int, int, int]]:
    """(r_min, r_max, c_min, c_max) of each object's pixels (object-contiguous, raster order
    within an object)."""
    nz = np.flatnonzero(counts)
    if not len(nz):
        return {}
    n = counts[nz]
    st = np.cumsum(n) - n
    rows = pixel // w
    cols = pixel - rows * w
    return dict(zip(nz.tolist(), zip(rows[st].tolist(), rows[st + n - 1].tolist(),
                                     np.minimum.reduceat(cols, st).tolist(),
                                     np.maximum.reduceat(cols, st).tolist(), strict=True),
                    strict=True))


def occluder_counts(obj: np.ndarray, occ: np.ndarray) -> dict[int, tuple[tuple[int, int], ...]]:
    """Per object, (instance id, pixels) of what hides it, most pixels first, then by id."""
    if not len(obj):
        return {}
    base = int(occ.max()) + 2
    ids, counts = np.unique(obj.astype(np.int64) * base + (occ + 1), return_counts=True)
    o, i = ids // base, ids % base - 1
    order = np.lexsort((i, -counts, o))
    out: dict[int, list[tuple[int, int]]] = {}
    for k, iid, c in zip(o[order].tolist(), i[order].tolist(), counts[order].tolist(),
                         strict=True):
        out.setdefault(k, []).append((iid, c))
    return {k: tuple(v) for k, v in out.items()}
