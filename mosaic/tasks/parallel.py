"""Generating one scene's question types in several processes, with the items of one process.

Each question type draws from its own RNG and reads the scene's :class:`TaskContext` only
through lookups that depend on the views alone (``generate.type_items``), so a type gives the
same items in any process. ``QuestionTypes`` is the ``SceneJob`` (``mosaic.scene_pool``) whose
items are question types; a worker rebuilds the context from the scene without its frame
store and the views without the buffers questions never read (depth, faces, visible faces).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..structures import FAMILY_OF, QAItem, ViewVisibility
from .context import TaskContext

# The order a ``ScenePool`` takes the families in: its workers from the front, the calling
# process from the back, so families that share lookups (usable pairs, relation signs: the
# relation, attribute and existence families) stay together at one end and the types of one
# family mostly in one process. Measured at SpatialMosaic's volume on the real-size benchmark
# scan, one process: relation 3.8 s, attribute 2.1 s, existence 2.4 s, the rest 5 s.
POOL_ORDER = (
    "object_relation", "object_attribute", "object_existence", "numeric", "object_count",
    "best_view", "object_localization",
)


def pool_order(types: Sequence[str]) -> list[str]:
    """``types`` family by family in ``POOL_ORDER`` (a family's types in the given order;
    families not listed last)."""
    rank = {fam: k for k, fam in enumerate(POOL_ORDER)}
    return sorted(types, key=lambda t: rank.get(FAMILY_OF[t], len(rank)))


@dataclasses.dataclass
class QuestionTypes:
    """The items of one question type at a time (``generate.type_items``) over one context."""

    ctx: TaskContext

    def run(self, qtype: str) -> list[QAItem]:
        from .generate import type_items

        return type_items(self.ctx, qtype)

    def __getstate__(self) -> dict[str, Any]:
        ctx = self.ctx
        return {
            "scene": dataclasses.replace(ctx.scene, store=None),
            "views": [_light(v) for v in ctx.views.values()],
            "rest": (ctx.graph, ctx.viewsets, ctx.cfg, ctx.scene_seed),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.ctx = TaskContext(state["scene"], state["views"], *state["rest"])


def _light(view: ViewVisibility) -> ViewVisibility:
    """The view without the buffers questions never read (its instance buffer stays)."""
    return dataclasses.replace(
        view,
        depth=np.zeros((0, 0), np.float32),
        face_buffer=np.zeros((0, 0), np.int32),
        visible_faces=np.zeros(0, np.int64),
    )
