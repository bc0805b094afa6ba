"""Ray-caster interface shared by every backend, and camera ray generation.

A backend builds a caster from a triangle mesh; a caster answers first-hit queries:

    caster = get_backend("embree").build(vertices, faces)
    face, t = caster.cast(origins, directions)
    hit = caster.hits(origins, directions)  # (N,) bool, face >= 0

``origins`` and ``directions`` are (N, 3) float32 world coordinates; directions need not be
unit length. ``face`` is (N,) int32 (-1 = miss) and ``t`` is (N,) float32 ray parameter in units
of the direction's length (inf = miss).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import BackendUnavailableError
from ..registry import Registry, Spec


class Caster(Protocol):
    def cast(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First hit of each ray: (face (N,) int32, -1 = miss; t (N,) float32, inf = miss)."""
        ...

    def hits(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """Whether each ray hits the mesh: (N,) bool (``cast(...)[0] >= 0``, maybe cheaper)."""
        ...


class Backend(Protocol):
    name: str

    def build(self, vertices: np.ndarray, faces: np.ndarray) -> Caster:
        """A caster over the mesh (vertices (V,3) float, faces (F,3) int)."""
        ...


@dataclass(frozen=True)
class BackendSpec(Spec):
    """A ray-casting backend: ``cls`` names the module's ``Backend`` class; ``hint`` says how
    to install it."""

    cls: str = ""


BACKENDS: Registry[BackendSpec] = Registry("backend", [
    BackendSpec("embree", "mosaic.visibility.embree", "pip install embreex", cls="EmbreeBackend"),
    BackendSpec("warp", "mosaic.visibility.warp", "pip install 'mosaic[warp]'",
                cls="WarpBackend"),
    BackendSpec("open3d", "mosaic.visibility.open3d",
                "pip install 'mosaic[open3d]' (and on Debian: apt-get install libusb-1.0-0)",
                cls="Open3DBackend"),
    BackendSpec("reference", "mosaic.visibility.reference", "(built in)",
                cls="ReferenceBackend"),
])


def get_backend(name: str, **options: object) -> Backend:
    """Instantiate a backend by name; options go to its constructor (e.g. ``device``).

    Raises ``UnknownNameError`` for an unknown name and ``BackendUnavailableError`` with an
    install hint when the backend's package cannot be imported here.
    """
    spec = BACKENDS[name]
    try:
        return spec.attr(spec.cls)(**options)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend {name!r} is not usable here ({exc}); install it with: {spec.hint}"
        ) from None


def available_backends() -> dict[str, str]:
    """Map each backend name to "ok" or the reason it cannot be used here."""
    status = {}
    for name in BACKENDS:
        try:
            get_backend(name)
            status[name] = "ok"
        except BackendUnavailableError as exc:
            status[name] = str(exc)
    return status


def pixel_directions(K: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Camera-frame ray directions (N, 3) float64 with z = 1 through continuous pixel coords."""
    Kinv = np.linalg.inv(K)
    pix = np.stack([xs, ys, np.ones_like(xs)], axis=1)
    # einsum, not @: with this small inner dimension BLAS matmul is ~20x slower here
    return np.einsum("ij,nj->ni", Kinv, pix)


def camera_to_world_dirs(d_cam: np.ndarray, cam_to_world: np.ndarray) -> np.ndarray:
    """Rotate (N, 3) camera-frame directions into the world frame, float32."""
    return np.einsum("ij,nj->ni", cam_to_world[:3, :3], d_cam).astype(np.float32)


def world_ray_directions(
    K: np.ndarray, cam_to_world: np.ndarray, width: int, height: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """World directions (N, 3) float32 through every pixel centre, row-major, camera z = 1.

    Without skew the direction of pixel (i, j) is x_j * r0 + y_i * r1 + r2 (r = the camera axes
    in world coordinates): a separable sum, one broadcast add instead of a product per ray.
    ``out``: an (N, 3) float32 C-contiguous array to fill (e.g. a slice of a batch).
    """
    if out is None:
        out = np.empty((width * height, 3), np.float32)
    if K[0, 1] != 0 or K[1, 0] != 0:
        u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
        out[:] = camera_to_world_dirs(pixel_directions(K, u.ravel(), v.ravel()), cam_to_world)
        return out
    R = cam_to_world[:3, :3]
    x = (np.arange(width) + 0.5 - K[0, 2]) / K[0, 0]
    y = (np.arange(height) + 0.5 - K[1, 2]) / K[1, 1]
    cols = (x[:, None] * R[:, 0]).astype(np.float32)  # (w, 3)
    rows = (y[:, None] * R[:, 1] + R[:, 2]).astype(np.float32)  # (h, 3)
    grid = out.reshape(height, width, 3)
    for c in range(3):  # per component: a broadcast add over a 3-wide last axis is ~3x slower
        np.add(rows[:, c, None], cols[None, :, c], out=grid[:, :, c])
    return out


def camera_rays(
    K: np.ndarray, cam_to_world: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One ray per pixel centre of a (height, width) image, row-major.

    Args:
        K: (3, 3) intrinsics for this width and height.
        cam_to_world: (4, 4) OpenCV camera to world.

    Returns:
        origins (N, 3) float32, directions (N, 3) float32 world (camera z component = 1, so the
        ray parameter t of a hit *is* its camera depth in metres), and the same directions in
        camera coordinates (N, 3) float32. N = width * height.
    """
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    d_cam = pixel_directions(K, u.ravel(), v.ravel())
    d_world = world_ray_directions(K, cam_to_world, width, height)
    origins = np.broadcast_to(cam_to_world[:3, 3].astype(np.float32), d_world.shape)
    return np.ascontiguousarray(origins), d_world, d_cam.astype(np.float32)


def labelling_size(width: int, height: int, max_side: int) -> tuple[int, int, float]:
    """(w, h, scale) of the labelling image: long side ``max_side`` (never upscaled)."""
    scale = min(1.0, max_side / max(width, height))
    w = max(1, int(round(width * scale)))
    h = max(1, int(round(height * scale)))
    return w, h, w / width
