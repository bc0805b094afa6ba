"""Visibility engine: ray-cast first-hit buffers, exact amodal footprints, per-view labels.

Public API:
    compute_visibility(scene, frame_ids=None, backend=None, max_side=None, *, config=None,
                       workers=1, ...) -> list[ViewVisibility]   (None: the config's value)
    overlap_matrix(scene, views) -> (n, n) percent;  view_overlap(scene, a, b) -> percent
    check_poses(scene, frames, max_error=0.10) -> list[PoseCheck]
    get_backend(name), available_backends(), BACKENDS
"""

from .base import BACKENDS, available_backends, camera_rays, get_backend
from .engine import SceneCasters, ViewLabeller, compute_visibility
from .overlap import face_areas, overlap_matrix, view_overlap
from .pose_check import PoseCheck, check_poses

__all__ = [
    "BACKENDS",
    "PoseCheck",
    "SceneCasters",
    "ViewLabeller",
    "available_backends",
    "camera_rays",
    "check_poses",
    "compute_visibility",
    "face_areas",
    "get_backend",
    "overlap_matrix",
    "view_overlap",
]
