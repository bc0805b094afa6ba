"""Labelling one scene's views in several processes, with the labels of one process.

``LabelFrames`` is the ``SceneJob`` (``mosaic.scene_pool``) of labelling: its items are batches
of frames. A worker builds its own BVHs from the pickled scene and sends back whole views (their
buffers travel out of band: cheaper to copy than to derive again here).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cached_property
from typing import Any, TypeVar

from ..config import VisibilityConfig
from ..structures import Frame, Scene, ViewVisibility
from .engine import SceneCasters, ViewLabeller

T = TypeVar("T")


def view_batches(items: Sequence[T], config: VisibilityConfig) -> list[Sequence[T]]:
    """``items`` (frames, frame ids) in consecutive batches of ``config.batch_views`` (at
    least 1): what one backend call casts, and what a pool hands out."""
    step = max(1, config.batch_views)
    return [items[s : s + step] for s in range(0, len(items), step)]


@dataclasses.dataclass
class LabelFrames:
    """Label batches of views of one scene (``ViewLabeller.label``).

    Attributes:
        scene: the scene (frames, images and metadata are not pickled: the items carry the
            frames).
        config: the labelling settings.
        casters: the scene's BVHs when already built in the calling process (not pickled; a
            worker builds its own on its first batch).
    """

    scene: Scene
    config: VisibilityConfig
    casters: SceneCasters | None = None

    @cached_property
    def labeller(self) -> ViewLabeller:
        return ViewLabeller(self.scene, self.config, self.casters)

    def run(self, frames: Sequence[Frame]) -> list[ViewVisibility]:
        return self.labeller.label(frames)

    def __getstate__(self) -> dict[str, Any]:
        geometry = dataclasses.replace(self.scene, frames=(), skipped_frames=(), store=None,
                                       meta={})
        return {"scene": geometry, "config": self.config, "casters": None}
