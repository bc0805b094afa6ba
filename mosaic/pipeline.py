"""The per-scene pipeline, once: frames -> pose check -> visibility -> view sets -> questions.

``mosaic.generate_qa`` (when it labels the views itself) and the dataset stage
(``mosaic.stages.scene_task``) both call these functions; the stage only adds timing, records
and writing. ``stage`` arguments take a context
manager factory (``stage("pose")``) so a caller can time each step without this module knowing
about clocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .config import MosaicConfig
from .errors import SceneDataError
from .structures import QAItem, Scene, ViewVisibility

if TYPE_CHECKING:  # annotations only: the visibility package loads the ray casters
    from .scene_pool import ScenePool
    from .visibility import PoseCheck
    from .visibility.engine import ViewLabeller

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
                pool: ScenePool | None = None) -> LabelledViews:
    """Subsample frames, drop frames whose pose the depth check rejects or whose colour image
    does not decode, label the rest; batches of ``visibility.batch_views`` sampled frames go
    through ``CheckAndLabel`` in ``pool`` (default: this process alone). The labels do not
    depend on the pool. With a pool of several processes the checks are timed as part of the
    "visibility" stage (they run inside its batches).

    Raises ``SceneDataError`` when the scene has no usable frame. A process builds the scene
    BVH once and shares it between the pose check and labelling.
    """
    from .scene_pool import ScenePool
    from .tasks.viewsets import subsample_frames
    from .visibility.parallel import view_batches

    sampled = tuple(subsample_frames(scene, config.viewsets.frame_step))
    if not sampled:
        raise SceneDataError(
            scene.scene_id, None, "no usable frames (every pose is non-finite or missing)",
            "check the scene's camera poses",
        )
    pool = pool or ScenePool(1)
    batches = view_batches(sampled, config.visibility)
    if pool.workers > 1:
        with stage("visibility"):
            parts = pool.run(CheckAndLabel(scene, config), batches)
    else:
        parts = pool.run(CheckAndLabel(scene, config, stage), batches)
    return LabelledViews(
        sampled,
        tuple(v for p in parts for v in p.views),
        tuple(c for p in parts for c in p.checks),
        tuple(r for p in parts for r in p.undecodable),
    )


@dataclass(frozen=True)
class CheckedBatch:
    """What ``CheckAndLabel`` makes of a batch of sampled frames (fields as
    ``LabelledViews``)."""

    checks: tuple[PoseCheck, ...]
    undecodable: tuple[RejectedFrame, ...]
    views: list[ViewVisibility]


class CheckAndLabel:
    """The ``SceneJob`` (``mosaic.scene_pool``) of ``label_views``: a batch of sampled frame
    ids -> pose check (when on and the scene has a frame store, i.e. depth to compare),
    decode check of the frames it keeps, labels of those that decode. ``stage`` times each
    step in this process (a worker does not time)."""

    def __init__(self, scene: Scene, config: MosaicConfig, stage: Stage = _no_timing):
        self.scene, self.config, self.stage = scene, config, stage

    @cached_property
    def labeller(self) -> ViewLabeller:
        """The scene's BVHs and labeller, built by the process on its first batch."""
        from .visibility.engine import ViewLabeller

        return ViewLabeller(self.scene, self.config.visibility)

    def run(self, frame_ids: Sequence[int]) -> CheckedBatch:
        from .visibility import check_poses

        vcfg, scene = self.config.visibility, self.scene
        checks: list[PoseCheck] = []
        if vcfg.pose_check and scene.store is not None:
            # checking first saves labelling frames that would be dropped
            with self.stage("pose"):
                checks = check_poses(scene, frame_ids, vcfg.pose_max_error,
                                     caster=self.labeller.casters.full)
        bad = {int(c.frame_id) for c in checks if c.rejected}
        with self.stage("read"):
            kept, undecodable = _decodable(scene, [f for f in frame_ids if f not in bad])
        with self.stage("visibility"):
            views = self.labeller.label([scene.frame(f) for f in kept]) if kept else []
        return CheckedBatch(tuple(checks), undecodable, views)

    def __getstate__(self) -> dict[str, Any]:
        return {"scene": self.scene, "config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["scene"], state["config"])  # type: ignore[misc]


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
    config: MosaicConfig, stage: Stage = _no_timing, pool: ScenePool | None = None,
) -> list[QAItem]:
    """Questions over the labelled views (none when no view survived); the question types
    are spread over ``pool`` (default: this process alone); the items do not depend on it."""
    from .scene_pool import ScenePool
    from .tasks.generate import questions_in_pool

    if not views:
        return []
    with stage("qa"):
        return questions_in_pool(scene, list(views), config, pool or ScenePool(1))
