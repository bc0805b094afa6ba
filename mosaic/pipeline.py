"""The per-scene pipeline, once: frames -> pose check -> visibility -> view sets -> questions.

``mosaic.generate_qa`` and the dataset stage (``mosaic.stages.scene_task``) both call these
functions; the stage only adds timing, records and writing. ``stage`` arguments take a context
manager factory (``stage("pose")``) so a caller can time each step without this module knowing
about clocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import MosaicConfig
from .errors import SceneDataError
from .structures import QAItem, Scene, ViewVisibility

if TYPE_CHECKING:  # annotations only: the visibility package loads the ray casters
    from .visibility import PoseCheck

Stage = Callable[[str], AbstractContextManager[object]]


def _no_timing(_name: str) -> AbstractContextManager[object]:
    return nullcontext()


DECODE_REASON = "colour image does not decode"


@dataclass(frozen=True)
class RejectedFrame:
    """A sampled frame left out of labelling.

    Attributes:
        frame_id: source frame number.
        reason: why (the pose check's reason, or ``DECODE_REASON``).
        error_m: the pose check's depth error in metres (NaN for a frame that does not decode).
        detail: the decoder's message for an undecodable image ("" otherwise).
    """

    frame_id: int
    reason: str
    error_m: float = math.nan
    detail: str = ""


@dataclass(frozen=True)
class LabelledViews:
    """The views of one scene that questions are drawn from.

    Attributes:
        sampled: frame ids kept by subsampling (every ``viewsets.frame_step``-th usable frame).
        views: labels of the sampled frames the pose check kept, in frame order.
        pose_checks: one ``PoseCheck`` per checked frame (empty when the check is off or the
            scene has no frame store, i.e. no sensor depth).
        undecodable: frames the pose check kept whose colour image does not decode.
    """

    sampled: tuple[int, ...]
    views: tuple[ViewVisibility, ...]
    pose_checks: tuple[PoseCheck, ...]
    undecodable: tuple[RejectedFrame, ...] = ()

    @property
    def rejected(self) -> tuple[RejectedFrame, ...]:
        """Every sampled frame left out: rejected poses, then undecodable images."""
        poses = tuple(RejectedFrame(int(c.frame_id), c.reason, float(c.error_m))
                      for c in self.pose_checks if c.rejected)
        return poses + self.undecodable

    @property
    def unchecked(self) -> tuple[PoseCheck, ...]:
        """Kept frames whose pose could not be checked (no depth image, or no valid pixel)."""
        return tuple(c for c in self.pose_checks if not c.checked)


def label_views(scene: Scene, config: MosaicConfig, stage: Stage = _no_timing,
                workers: int = 1) -> LabelledViews:
    """Subsample frames, drop frames whose pose the depth check rejects, label the rest
    (``workers`` processes side by side; the labels do not depend on it).

    Raises ``SceneDataError`` when the scene has no usable frame. The scene BVH is built once
    and shared by the pose check and labelling.
    """
    from .tasks.viewsets import subsample_frames
    from .visibility import SceneCasters, check_poses, compute_visibility

    vcfg = config.visibility
    sampled = tuple(subsample_frames(scene, config.viewsets.frame_step))
    if not sampled:
        raise SceneDataError(
            scene.scene_id, None, "no usable frames (every pose is non-finite or missing)",
            "check the scene's camera poses",
        )
    casters = SceneCasters(scene, vcfg.backend, vcfg.device)
    checks: list[PoseCheck] = []
    if vcfg.pose_check and scene.store is not None:
        # checking first saves labelling frames that would be dropped
        with stage("pose"):
            checks = check_poses(scene, sampled, vcfg.pose_max_error, caster=casters.full)
    bad = {int(c.frame_id) for c in checks if c.rejected}
    kept = [f for f in sampled if f not in bad]
    with stage("read"):
        kept, undecodable = _decodable(scene, kept)
    with stage("visibility"):
        views = (compute_visibility(scene, kept, config=vcfg, casters=casters, workers=workers)
                 if kept else [])
    return LabelledViews(sampled, tuple(views), tuple(checks), undecodable)


def _decodable(scene: Scene, frame_ids: Sequence[int]
               ) -> tuple[list[int], tuple[RejectedFrame, ...]]:
    """(frames whose colour image decodes at the frame's size, the rest as rejections), so no
    question shows a broken image. A scene without a frame store has no images to check."""
    from .sources.image_check import decode_problem

    if scene.store is None:
        return list(frame_ids), ()
    kept: list[int] = []
    bad: list[RejectedFrame] = []
    for fid in frame_ids:
        frame = scene.frame(fid)
        why = decode_problem(scene.read_color(fid), (int(frame.width), int(frame.height)))
        if why is None:
            kept.append(fid)
        else:
            bad.append(RejectedFrame(int(fid), DECODE_REASON, detail=f"frame {fid} colour image "
                                                                     f"{why}"))
    return kept, tuple(bad)


def questions_of(
    scene: Scene, views: tuple[ViewVisibility, ...] | list[ViewVisibility],
    config: MosaicConfig, stage: Stage = _no_timing, workers: int = 1,
) -> list[QAItem]:
    """Questions over the labelled views (none when no view survived); ``workers`` processes
    generate the question types side by side (the items do not depend on it)."""
    from .tasks import generate_qa

    if not views:
        return []
    with stage("qa"):
        return generate_qa(scene, list(views), config, workers=workers)
