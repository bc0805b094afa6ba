"""Convex hulls of a scene's target objects, projected into a view all at once.

The labeller needs, per view and object, a conservative bound on the pixels the object can cover
(the pixels whose ray might hit it): every ray that meets an object meets its convex hull. For a
camera centre ``c`` outside a convex polytope, the rays from ``c`` that meet it form a convex
cone bounded by the planes through ``c`` and the polytope's *silhouette edges* (edges between a
facet facing ``c`` and one facing away). In a view each such plane is a line in pixel
coordinates, so the object's possible footprint is an intersection of half-planes, known per
image row as one interval of columns. This holds whether or not the object reaches behind the
camera, so only a camera inside (or within ``CAMERA_MARGIN`` of) a hull leaves an object
unbounded (``Silhouettes``).

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
        """Hull points in the camera frames of views (4, 4) or (V, 4, 4): (P, 3) or (V, P, 3)
        float64 (R^T (X - t))."""
        if cam_to_world.ndim == 2:
            return np.einsum("nj,jk->nk", self.points - cam_to_world[:3, 3], cam_to_world[:3, :3])
        # one einsum per view: ~3x faster than a batched einsum here
        return np.stack([self.camera_points(P) for P in cam_to_world])

    def silhouettes(self, cam_to_world: np.ndarray, K: np.ndarray, wanted: np.ndarray
                    ) -> Silhouettes:
        """Half-planes bounding the pixels each wanted (object, view) pair can cover.

        Args:
            cam_to_world: (V, 4, 4) OpenCV camera to world of V views.
            K: (V, 3, 3) intrinsics of their labelling images (no skew).
            wanted: (K * V,) bool per pair, object-major: pair q = k * V + v.

        Pairs get lines when wanted, the object is solid and the camera is outside its hull by
        ``CAMERA_MARGIN`` (``Silhouettes.bounded``, indexed by pair).
        """
        nv, n_obj = len(cam_to_world), len(self.ids)
        c, R = cam_to_world[:, :3, 3], cam_to_world[:, :3, :3]
        side = c @ self.facets[:, :3].T + self.facets[:, 3]  # (V, F) > 0: facing the camera
        bounded = wanted.reshape(n_obj, nv) & self.solid[:, None]
        if side.shape[1]:
            outside = np.full((n_obj, nv), -np.inf)
            has = np.flatnonzero(self.solid)
            outside[has] = np.maximum.reduceat(side, self.facet_starts[has], axis=1).T
            bounded &= outside > CAMERA_MARGIN
        front = side > 0
        sil = (front[:, self.edge_f] != front[:, self.edge_g]) & bounded.T[:, self.edge_obj]
        view, e = np.nonzero(sil)
        obj = self.edge_obj[e]
        owner = obj * nv + view
        cv = np.take(c, view, axis=0)
        pa = np.take(self.points, self.edge_a[e], axis=0) - cv
        pb = np.take(self.points, self.edge_b[e], axis=0) - cv
        # normal of the plane through the camera and the edge (np.cross is slow on short arrays)
        m = np.stack([pa[:, 1] * pb[:, 2] - pa[:, 2] * pb[:, 1],
                      pa[:, 2] * pb[:, 0] - pa[:, 0] * pb[:, 2],
                      pa[:, 0] * pb[:, 1] - pa[:, 1] * pb[:, 0]], axis=1)
        inward = np.einsum("nj,nj->n", m, np.take(self.interior, obj, axis=0) - cv)
        m *= np.where(inward > 0, -1.0, 1.0)[:, None]  # the hull on the negative side
        mc = np.einsum("nj,njk->nk", m, R[view])  # camera frame
        # the plane holds the ray of pixel (x, y) when a x + b y + c = 0
        Kv = K[view]
        a = mc[:, 0] / Kv[:, 0, 0]
        b = mc[:, 1] / Kv[:, 1, 1]
        c0 = mc[:, 2] - a * Kv[:, 0, 2] - b * Kv[:, 1, 2] - PIXEL_SLACK * np.hypot(a, b)
        pairs = bounded.ravel() & (np.bincount(owner, minlength=n_obj * nv) > 0)
        return Silhouettes.from_lines(a, b, c0, owner, pairs)


@dataclass(frozen=True)
class Silhouettes:
    """Per owner (an object, or an object in one view), bounds on the columns x it may cover on
    a row y: x >= lo_k y + lo_c for each of its ``lo`` lines and x <= hi_k y + hi_c for each of
    its ``hi`` lines (owner-contiguous, one neutral line per bounded owner in each set so that
    none is empty); ``bounded`` (owners,) bool the owners that have lines (the others may cover
    any pixel)."""

    lo_k: np.ndarray
    lo_c: np.ndarray
    lo_owner: np.ndarray
    hi_k: np.ndarray
    hi_c: np.ndarray
    hi_owner: np.ndarray
    bounded: np.ndarray

    @classmethod
    def from_lines(cls, a: np.ndarray, b: np.ndarray, c: np.ndarray, owner: np.ndarray,
                   bounded: np.ndarray) -> Silhouettes:
        """From half-planes a x + b y + c <= 0 (L,) and their owners. A line with a = 0 only
        bounds y; it is dropped, which keeps the bound conservative."""
        objs = np.flatnonzero(bounded)
        with np.errstate(divide="ignore", invalid="ignore"):
            k, c1 = -b / a, -c / a
        sets = []
        for sel, neutral in ((a < 0, -np.inf), (a > 0, np.inf)):
            own = np.concatenate([owner[sel], objs])
            order = np.argsort(own, kind="stable")
            sets += [np.concatenate([k[sel], np.zeros(len(objs))])[order],
                     np.concatenate([c1[sel], np.full(len(objs), neutral)])[order], own[order]]
        return cls(*sets, bounded)

    def row_intervals(self, row_obj: np.ndarray, ys: np.ndarray, n_obj: int
                      ) -> tuple[np.ndarray, np.ndarray]:
        """The allowed x of each row: [lo, hi] (N,) float64, empty when lo > hi.

        row_obj: (N,) int64 the row's object (bounded objects only); ys: (N,) its y.
        """
        return (np.maximum.reduceat(*_per_row(self.lo_k, self.lo_c, self.lo_owner, row_obj, ys,
                                              n_obj)),
                np.minimum.reduceat(*_per_row(self.hi_k, self.hi_c, self.hi_owner, row_obj, ys,
                                              n_obj)))


def _per_row(k: np.ndarray, c: np.ndarray, owner: np.ndarray, row_obj: np.ndarray,
             ys: np.ndarray, n_obj: int) -> tuple[np.ndarray, np.ndarray]:
    """k y + c of every (row, line of the row's object) pair, row by row, and each row's first
    pair (for ``reduceat``)."""
    n = np.bincount(owner, minlength=n_obj)
    per_row = n[row_obj]
    starts = np.cumsum(per_row) - per_row
    line = np.repeat((np.cumsum(n) - n)[row_obj] - starts, per_row) + np.arange(
        int(per_row.sum()))
    return k[line] * np.repeat(ys, per_row) + c[line], starts
