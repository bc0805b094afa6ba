"""Pose quality: rendered depth against the sensor's depth, per frame (product.md section 2).

A frame whose median |rendered - sensor| depth over pixels valid in both exceeds ``max_error``
metres is rejected as a bad pose. Frames without any valid sensor depth cannot be checked: they
are kept and reported with reason "no valid sensor depth". A frame whose sensor sees surfaces
but whose render shares no valid pixel with it (the pose looks where the mesh is not) is
rejected with ``error_m`` = inf.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..structures import Scene
from .base import Caster, get_backend


@dataclass(frozen=True)
class PoseCheck:
    """Outcome of the depth comparison for one frame.

    Attributes:
        frame_id: source frame number.
        error_m: median absolute depth difference in metres (NaN when the sensor has no
            valid depth; inf when it has some but the render shares no valid pixel with it).
        valid_px: number of pixels valid in both depths.
        rejected: True when ``error_m`` > max_error.
        reason: "" when kept and checked; otherwise why (rejected, or not comparable).
    """

    frame_id: int
    error_m: float
    valid_px: int
    rejected: bool
    reason: str


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
    """
    if frames is None:
        ids = [f.frame_id for f in scene.frames]
    else:
        ids = [int(getattr(f, "frame_id", f)) for f in frames]
    if caster is None:
        caster = get_backend(backend).build(scene.vertices, scene.faces)
    out = []
    for fid in ids:
        frame = scene.frame(fid)
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
                out.append(PoseCheck(fid, float("nan"), 0, False, "no valid sensor depth"))
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
