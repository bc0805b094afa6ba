"""The per-scene pipeline, once: frames -> pose check -> visibility -> view sets -> questions.

``mosaic.generate_qa`` and the dataset stage (``mosaic.stages.scene_task``) both call these
functions; the stage only adds timing, records and writing. ``stage`` arguments take a context
manager factory (``stage("pose")``) so a caller can time each step without this module knowing
about clocks.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from .config import MosaicConfig
from .errors import SceneDataError
from .structures import QAItem, Scene, ViewVisibility
from .visibility import PoseCheck

Stage = Callable[[str], AbstractContextManager[object]]


def _no_timing(_name: str) -> AbstractContextManager[object]:
    return nullcontext()


@dataclass(frozen=True)
class LabelledViews:
    """The views of one scene that questions are drawn from.

    Attributes:
        sampled: frame ids kept by subsampling (every ``viewsets.frame_step``-th usable frame).
        views: labels of the sampled frames the pose check kept, in frame order.
        pose_checks: one ``PoseCheck`` per checked frame (empty when the check is off or the
            scene has no frame store, i.e. no sensor depth).
    """

    sampled: tuple[int, ...]
    views: tuple[ViewVisibility, ...]
    pose_checks: tuple[PoseCheck, ...]

    @property
    def rejected(self) -> tuple[PoseCheck, ...]:
        """Pose checks that dropped their frame."""
        return tuple(c for c in self.pose_checks if c.rejected)

    @property
    def unchecked(self) -> tuple[PoseCheck, ...]:
        """Kept frames whose pose could not be checked (no depth image, or no valid pixel)."""
        return tuple(c for c in self.pose_checks if not c.checked)


def label_views(scene: Scene, config: MosaicConfig, stage: Stage = _no_timing) -> LabelledViews:
    """Subsample frames, drop frames whose pose the depth check rejects, label the rest.

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
    with stage("visibility"):
        views = compute_visibility(scene, kept, config=vcfg, casters=casters) if kept else []
    return LabelledViews(sampled, tuple(views), tuple(checks))


def questions_of(
    scene: Scene, views: tuple[ViewVisibility, ...] | list[ViewVisibility],
    config: MosaicConfig, stage: Stage = _no_timing,
) -> list[QAItem]:
    """Questions over the labelled views (none when no view survived)."""
    from .tasks import generate_qa

    if not views:
        return []
    with stage("qa"):
        return generate_qa(scene, list(views), config)
