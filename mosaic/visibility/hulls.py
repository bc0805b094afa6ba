"""Convex hulls of a scene's target objects, projected into a view all at once.

The labeller needs, per view and object, a conservative bound on the pixels the object can cover
(the pixels whose ray might hit it): every ray that meets an object meets its convex hull. For a
camera centre ``c`` outside a convex polytope, the rays from ``c`` that meet it form a convex
cone bounded by the planes through ``c`` and the polytope's *silhouette edges* (edges between a
facet facing ``c`` and one facing away). In a view each such plane is a line in pixel
coordinates, so the object's possible footprint is an intersection of half-planes, known per
image row as one interval of columns. This holds whether or not the object reaches behind the
camera, so only a camera inside (or within ``CAMERA_MARGIN`` of) a hull leaves an object
unbounded.

Everything here is vectorised over objects: hull points, facets and edges of all targets are
concatenated once per scene, and a view costs a few array operations instead of a 2D hull per
object.

Frames: world (metres, z up); camera OpenCV (x right, y down, z forward); pixel (x, y) has its
centre at (j + 0.5, i + 0.5) for column j and row i.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CAMERA_MARGIN = 1e-3  # m: a camera nearer a hull than this leaves the object unbounded
PIXEL_SLACK = 1.0  # px: lines are moved out by this much (guards rounding; hits are exact)


def hull_points(verts: np.ndarray) -> np.ndarray:
    """Vertices of the 3D convex hull (all points when the hull is degenerate, e.g. flat)."""
    if len(verts) <= 8:
        return verts
    from scipy.spatial import ConvexHull, QhullError

    try:
        return verts[ConvexHull(verts).vertices]
    except (QhullError, ValueError):
        return verts


@dataclass(frozen=True)
class TargetHulls:
    """Hulls of the target objects, concatenated.

    Attributes:
        ids: (K,) int64 instance ids, in labelling order (objects without faces left out).
        points: (P, 3) float64 world hull vertices; object k owns ``points[starts[k]:ends[k]]``.
        starts, ends: (K,) int64.
        facets: (F, 4) float64 outward unit normal and offset of hull facets (n . x + d <= 0
            inside), object-contiguous; ``facet_starts`` (K,) int64 the first of each object's
            (objects with a flat hull own none and have ``solid`` False).
        edge_a, edge_b: (E,) int64 indices into ``points`` of each hull edge's end points;
            ``edge_f``, ``edge_g``: (E,) int64 the two facets that share it; ``edge_obj``: (E,)
            int64 owner; object-contiguous.
        interior: (K, 3) float64 a point strictly inside each solid hull.
        solid: (K,) bool, the hull has volume (silhouettes are defined).
    """

    ids: np.ndarray
    points: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    facets: np.ndarray
    facet_starts: np.ndarray
    edge_a: np.ndarray
    edge_b: np.ndarray
    edge_f: np.ndarray
    edge_g: np.ndarray
    edge_obj: np.ndarray
    interior: np.ndarray
    solid: np.ndarray

    @classmethod
    def build(cls, ids: list[int], hulls: list[np.ndarray]) -> TargetHulls:
        """From each target's hull points ((M, 3) float64; empty arrays are skipped)."""
        from scipy.spatial import ConvexHull, QhullError

        keep = [(i, h) for i, h in zip(ids, hulls, strict=True) if len(h)]
        pts, facets, fstart, edges, interior, solid = [], [], [], [], [], []
        n_pts = n_facets = 0
        for k, (_, h) in enumerate(keep):
            fstart.append(n_facets)
            interior.append(h.mean(axis=0))
            try:
                hull = ConvexHull(h)
            except (QhullError, ValueError):
                hull = None
            solid.append(hull is not None)
            if hull is not None:
                simp, nb = hull.simplices, hull.neighbors
                # facet i's edge opposite its vertex j is shared with neighbours[i, j]
                fi = np.repeat(np.arange(len(simp)), 3)
                fg = nb.ravel()
                j = np.tile(np.arange(3), len(simp))
                a = simp[fi, (j + 1) % 3]
                b = simp[fi, (j + 2) % 3]
                once = fi < fg
                edges.append(np.stack([a[once] + n_pts, b[once] + n_pts, fi[once] + n_facets,
                                       fg[once] + n_facets, np.full(once.sum(), k)], axis=1))
                facets.append(hull.equations)
                n_facets += len(simp)
            pts.append(h)
            n_pts += len(h)
        lengths = np.array([len(h) for h in pts], np.int64)
        ends = np.cumsum(lengths)
        e = np.concatenate(edges) if edges else np.zeros((0, 5), np.int64)
        return cls(
            ids=np.array([i for i, _ in keep], np.int64),
            points=np.concatenate(pts) if pts else np.zeros((0, 3)),
            starts=ends - lengths,
            ends=ends,
            facets=np.concatenate(facets) if facets else np.zeros((0, 4)),
            facet_starts=np.array(fstart, np.int64),
            edge_a=e[:, 0].astype(np.int64),
            edge_b=e[:, 1].astype(np.int64),
            edge_f=e[:, 2].astype(np.int64),
            edge_g=e[:, 3].astype(np.int64),
            edge_obj=e[:, 4].astype(np.int64),
            interior=np.array(interior).reshape(-1, 3),
            solid=np.array(solid, bool),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def camera_points(self, cam_to_world: np.ndarray) -> np.ndarray:
        """(P, 3) float64 hull points in the camera frame (R^T (X - t))."""
        R, t = cam_to_world[:3, :3], cam_to_world[:3, 3]
        return np.einsum("nj,jk->nk", self.points - t, R)

    def silhouette_lines(
        self, cam_to_world: np.ndarray, K: np.ndarray, wanted: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Half-planes bounding the pixels each wanted object can cover.

        Args:
            cam_to_world: (4, 4) OpenCV camera to world.
            K: (3, 3) intrinsics of the labelling image (no skew).
            wanted: (K,) bool objects to bound.

        Returns:
            lines (L, 3) float64 (a, b, c): pixel centre (x, y) may be covered only if
            a x + b y + c <= 0 for every line of its object (``PIXEL_SLACK`` included);
            owner (L,) int64 object of each line, ascending; bounded (K,) bool, the objects
            that got lines (wanted, solid, camera outside the hull by ``CAMERA_MARGIN``).
        """
        c, R = cam_to_world[:3, 3], cam_to_world[:3, :3]
        n_obj = len(self.ids)
        side = self.facets[:, :3] @ c + self.facets[:, 3]  # > 0: the facet faces the camera
        bounded = wanted & self.solid
        if len(side):
            outside = np.full(n_obj, -np.inf)
            has = np.flatnonzero(self.solid)
            outside[has] = np.maximum.reduceat(side, self.facet_starts[has])
            bounded &= outside > CAMERA_MARGIN
        front = side > 0
        sil = (front[self.edge_f] != front[self.edge_g]) & bounded[self.edge_obj]
        e = np.flatnonzero(sil)
        owner = self.edge_obj[e]
        pa = self.points[self.edge_a[e]] - c
        pb = self.points[self.edge_b[e]] - c
        m = np.cross(pa, pb)  # normal of the plane through the camera and the edge
        inward = np.einsum("nj,nj->n", m, self.interior[owner] - c)
        m *= np.where(inward > 0, -1.0, 1.0)[:, None]  # the hull on the negative side
        mc = np.einsum("nj,jk->nk", m, R)  # camera frame
        a = mc[:, 0] / K[0, 0]
        b = mc[:, 1] / K[1, 1]
        c0 = mc[:, 2] - a * K[0, 2] - b * K[1, 2]
        lines = np.stack([a, b, c0 - PIXEL_SLACK * np.hypot(a, b)], axis=1)
        bounded &= np.bincount(owner, minlength=n_obj) > 0
        return lines, owner, bounded


def row_intervals(
    lines: np.ndarray, owner: np.ndarray, row_obj: np.ndarray, ys: np.ndarray,
    n_obj: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Interval of x a half-plane polygon allows on each row.

    Args:
        lines: (L, 3) (a, b, c), inside when a x + b y + c <= 0; owner (L,) int64 ascending.
        row_obj: (N,) int64 object of each row (objects must own lines); ys: (N,) float64 the
            row's y.
        n_obj: number of objects (owner and row_obj index them).

    Returns:
        (lo, hi) (N,) float64: the row's allowed x is [lo, hi] (empty when lo > hi).
    """
    n_lines = np.bincount(owner, minlength=n_obj)
    first = np.cumsum(n_lines) - n_lines
    per_row = n_lines[row_obj]
    total = int(per_row.sum())
    row_of = np.repeat(np.arange(len(row_obj)), per_row)
    starts = np.cumsum(per_row) - per_row
    line = first[row_obj][row_of] + np.arange(total) - starts[row_of]
    a, b, c = lines[line, 0], lines[line, 1], lines[line, 2]
    q = -(b * ys[row_of] + c)  # a x <= q
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = q / a
    lo = np.where(a < 0, bound, -np.inf)
    hi = np.where(a > 0, bound, np.inf)
    flat_out = (a == 0) & (q < 0)  # a horizontal line the row lies outside of
    lo[flat_out] = np.inf
    return np.maximum.reduceat(lo, starts), np.minimum.reduceat(hi, starts)
