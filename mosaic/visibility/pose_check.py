"""Pose quality: rendered depth against the sensor's depth, per frame (docs/concepts.md).

A frame whose median |rendered - sensor| depth over pixels valid in both exceeds ``max_error``
metres is rejected as a bad pose. Frames that cannot be checked are kept and reported, never
silently: reason ``NO_DEPTH`` when the source has no depth image for the frame (colour-only
exports, cameras without a depth sensor: the frame store's ``has_depth`` says so), reason
``NO_VALID_DEPTH`` when the depth image has no valid pixel. A frame whose sensor sees surfaces
but whose render shares no valid pixel with it (the pose looks where the mesh is not) is
rejected with ``error_m`` = inf.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..structures import Scene
from .base import Caster, get_backend

NO_DEPTH = "pose not checked: no depth"
NO_VALID_DEPTH = "pose not checked: no valid sensor depth"


@dataclass(frozen=True)
class PoseCheck:
    """Outcome of the depth comparison for one frame.

    Attributes:
        frame_id: source frame number.
        error_m: median absolute depth difference in metres (NaN when not checked; inf when
            the sensor has valid depth but the render shares no valid pixel with it).
        valid_px: number of pixels valid in both depths.
        rejected: True when ``error_m`` > max_error.
        reason: "" when kept and checked; otherwise why: rejected, or not checked
            (``NO_DEPTH``, ``NO_VALID_DEPTH``).
    """

    frame_id: int
    error_m: float
    valid_px: int
    rejected: bool
    reason: str

    @property
    def checked(self) -> bool:
        """The rendered depth was compared with sensor depth (kept or rejected)."""
        return self.rejected or not self.reason


def check_poses(
    scene: Scene,
    frames: Iterable[int] | Iterable[object] | None = None,
    max_error: float = 0.10,
    backend: str = "embree",
    stride: int = 4,
    caster: Caster | None = None,
) -> list[PoseCheck]:
    """Compare rendered and sensor depth for frames of a scene.

    Args:
        frames: frame ids, or objects with a ``frame_id`` (e.g. ViewVisibility); default all.
        stride: compare every ``stride``-th sensor depth pixel in x and y (cheap and robust).
        caster: an existing full-scene caster to reuse.

    A frame store without ``has_depth`` is taken to have depth for every frame.
    """
    if frames is None:
        ids = [f.frame_id for f in scene.frames]
    else:
        ids = [int(getattr(f, "frame_id", f)) for f in frames]
    has_depth = getattr(scene.store, "has_depth", None)
    if caster is None and ids:
        caster = get_backend(backend).build(scene.vertices, scene.faces)
    out = []
    for fid in ids:
        frame = scene.frame(fid)
        if has_depth is not None and not has_depth(fid):
            out.append(PoseCheck(fid, float("nan"), 0, False, NO_DEPTH))
            continue
        d = scene.read_depth(fid)
        sensor = d.depth[::stride, ::stride]
        h, w = sensor.shape
        # rays through the centres of the sampled depth pixels (j*stride + 0.5, i*stride + 0.5)
        u, v = np.meshgrid(np.arange(w) * stride + 0.5, np.arange(h) * stride + 0.5)
        pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=0)
        d_cam = (np.linalg.inv(d.K) @ pix).T  # camera z = 1, so t is depth
        dirs = (d_cam @ frame.cam_to_world[:3, :3].T).astype(np.float32)
        origins = np.broadcast_to(frame.cam_to_world[:3, 3].astype(np.float32), dirs.shape)
        f, t = caster.cast(origins, dirs)
        rendered = np.where(f >= 0, t, 0.0).reshape(h, w)
        sensed = sensor > 0
        both = sensed & (rendered > 0)
        n = int(both.sum())
        if n == 0:
            n_sensed = int(sensed.sum())
            if n_sensed == 0:
                out.append(PoseCheck(fid, float("nan"), 0, False, NO_VALID_DEPTH))
            else:  # the sensor sees surfaces where the posed mesh shows none: a bad pose
                out.append(PoseCheck(
                    fid, float("inf"), 0, True,
                    f"rendered depth shares no valid pixel with the sensor's {n_sensed} "
                    "(the pose looks where the mesh is not)",
                ))
            continue
        err = float(np.median(np.abs(rendered[both] - sensor[both])))
        rejected = err > max_error
        reason = f"depth error {err:.3f} m > {max_error:.3f} m" if rejected else ""
        out.append(PoseCheck(fid, err, n, rejected, reason))
    return out
