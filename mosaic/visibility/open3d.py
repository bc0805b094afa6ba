"""Ray casting with Open3D's ``RaycastingScene`` (Embree inside; an optional extra)."""

from __future__ import annotations

import numpy as np


class Open3DCaster:
    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        import open3d as o3d

        self.n_faces = int(len(faces))
        self._scene = o3d.t.geometry.RaycastingScene()
        self._o3d = o3d
        if self.n_faces:
            self._scene.add_triangles(
                o3d.core.Tensor(np.asarray(vertices, np.float32)),
                o3d.core.Tensor(np.asarray(faces, np.uint32)),
            )

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(origins)
        if n == 0 or self.n_faces == 0:
            return np.full(n, -1, np.int32), np.full(n, np.inf, np.float32)
        rays = np.concatenate([origins, directions], axis=1).astype(np.float32)
        out = self._scene.cast_rays(self._o3d.core.Tensor(rays))
        prim = out["primitive_ids"].numpy()
        t = out["t_hit"].numpy().astype(np.float32)
        miss = ~np.isfinite(t) | (prim == self._o3d.t.geometry.RaycastingScene.INVALID_ID)
        face = prim.astype(np.int64)
        face[miss] = -1
        t[miss] = np.inf
        return face.astype(np.int32), t

    def hits(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        return self.cast(origins, directions)[0] >= 0


class Open3DBackend:
    name = "open3d"

    def __init__(self) -> None:
        import open3d  # noqa: F401

    def build(self, vertices: np.ndarray, faces: np.ndarray) -> Open3DCaster:
        return Open3DCaster(vertices, faces)
