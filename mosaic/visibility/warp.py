"""Ray casting with NVIDIA Warp (``mesh_query_ray`` over a Warp BVH).

The same kernel runs on ``device="cuda:0"`` (an NVIDIA GPU) and on ``device="cpu"`` (one thread
per launch; slow but exact, which is how it is tested on machines without a GPU). Kernels are
compiled on first use and cached by Warp.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

_KERNEL = None


def _kernel():
    """Build the cast kernel once per process (Warp kernels must be module-level or cached)."""
    global _KERNEL
    if _KERNEL is None:
        import warp as wp

        @wp.kernel
        def cast_first_hit(
            mesh: wp.uint64,
            origins: wp.array(dtype=wp.vec3),
            dirs: wp.array(dtype=wp.vec3),
            face_out: wp.array(dtype=wp.int32),
            t_out: wp.array(dtype=wp.float32),
        ):
            i = wp.tid()
            hit = wp.mesh_query_ray(mesh, origins[i], dirs[i], 1.0e30)
            if hit.result:
                face_out[i] = hit.face
                t_out[i] = hit.t
            else:
                face_out[i] = -1
                t_out[i] = wp.inf

        _KERNEL = cast_first_hit
    return _KERNEL


class WarpCaster:
    def __init__(self, vertices: np.ndarray, faces: np.ndarray, device: str):
        import warp as wp

        self._wp = wp
        self.device = device
        self.n_faces = int(len(faces))
        self._mesh = None
        if self.n_faces:
            points = wp.array(np.asarray(vertices, np.float32), dtype=wp.vec3, device=device)
            indices = wp.array(
                np.asarray(faces, np.int32).ravel(), dtype=wp.int32, device=device
            )
            self._mesh = wp.Mesh(points=points, indices=indices)

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(origins)
        if n == 0 or self._mesh is None:
            return np.full(n, -1, np.int32), np.full(n, np.inf, np.float32)
        wp = self._wp
        o = wp.array(np.ascontiguousarray(origins, np.float32), dtype=wp.vec3, device=self.device)
        d = wp.array(
            np.ascontiguousarray(directions, np.float32), dtype=wp.vec3, device=self.device
        )
        face = wp.empty(n, dtype=wp.int32, device=self.device)
        t = wp.empty(n, dtype=wp.float32, device=self.device)
        wp.launch(_kernel(), dim=n, inputs=[self._mesh.id, o, d], outputs=[face, t],
                  device=self.device)
        return face.numpy(), t.numpy()

    def hits(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        return self.cast(origins, directions)[0] >= 0


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool):
    """Send file descriptor 2 to /dev/null for the duration (native code bypasses sys.stderr)."""
    if not enabled:
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class WarpBackend:
    """Warp BVH casting; ``device`` is "cpu" or "cuda:N"."""

    name = "warp"

    def __init__(self, device: str = "cpu") -> None:
        import warp as wp

        from ..errors import BackendUnavailableError

        wp.config.log_level = wp.LOG_ERROR  # the library never prints; Warp would announce itself
        with native_stderr_silenced(enabled=True):
            wp.init()  # without a CUDA driver the native layer warns on stderr
        try:
            wp.get_device(device)
        except (ValueError, RuntimeError) as exc:
            # otherwise the first cast fails with a bare "Invalid device identifier"
            raise BackendUnavailableError(
                f"warp device {device!r} is not usable here ({exc}; "
                f"{wp.get_cuda_device_count()} CUDA devices visible); set visibility.device "
                "to 'cpu' or an existing 'cuda:N', or use visibility.backend=embree"
            ) from None
        self.device = device

    def build(self, vertices: np.ndarray, faces: np.ndarray) -> WarpCaster:
        return WarpCaster(vertices, faces, self.device)
