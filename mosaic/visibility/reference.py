"""Slow, exact pure-numpy ray casting (Moller-Trumbore against every triangle).

For tiny scenes in parity tests only: cost is rays x triangles. Ties between triangles at the
same distance go to the lowest face index.
"""

from __future__ import annotations

import numpy as np


class ReferenceCaster:
    def __init__(self, vertices: np.ndarray, faces: np.ndarray, chunk: int = 2_000_000):
        tri = np.asarray(vertices, np.float64)[np.asarray(faces, np.int64)]
        self.v0 = tri[:, 0]
        self.e1 = tri[:, 1] - tri[:, 0]
        self.e2 = tri[:, 2] - tri[:, 0]
        self.n_faces = len(tri)
        self.chunk = chunk  # rays x triangles evaluated per step (bounds memory)

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(origins)
        face = np.full(n, -1, np.int32)
        best = np.full(n, np.inf)
        if n == 0 or self.n_faces == 0:
            return face, best.astype(np.float32)
        o_all = np.asarray(origins, np.float64)
        d_all = np.asarray(directions, np.float64)
        step = max(1, self.chunk // self.n_faces)
        eps = 1e-12
        for s in range(0, n, step):
            o = o_all[s : s + step, None, :]
            d = d_all[s : s + step, None, :]
            p = np.cross(d, self.e2[None])
            det = np.einsum("rfk,fk->rf", p, self.e1)
            ok = np.abs(det) > eps
            inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
            tv = o - self.v0[None]
            u = np.einsum("rfk,rfk->rf", tv, p) * inv
            q = np.cross(tv, self.e1[None])
            v = np.einsum("rfk,rfk->rf", np.broadcast_to(d, q.shape), q) * inv
            t = np.einsum("rfk,fk->rf", q, self.e2) * inv
            hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
            t = np.where(hit, t, np.inf)
            idx = np.argmin(t, axis=1)
            tmin = t[np.arange(len(idx)), idx]
            found = np.isfinite(tmin)
            face[s : s + step][found] = idx[found]
            best[s : s + step] = tmin
        return face, best.astype(np.float32)

    def hits(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        return self.cast(origins, directions)[0] >= 0


class ReferenceBackend:
    name = "reference"

    def build(self, vertices: np.ndarray, faces: np.ndarray) -> ReferenceCaster:
        return ReferenceCaster(vertices, faces)
