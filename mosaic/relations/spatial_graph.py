"""Scene-level spatial graph: objects, 3D boxes, pairwise 3D distances, per-view relations.

This is the structure the question generators read (and the one spatial-knowledge-graph data
synthesis builds on): nodes are the non-structural objects of a scene, 3D edges carry centre
distances in metres, and each view adds its own view-dependent lr / ab / fb relations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..config import QAConfig
from ..structures import OrientedBox, Scene, ViewVisibility
from .view_relations import ViewRelations, view_relations


@dataclass(frozen=True)
class GraphNode:
    """One object of the graph.

    Attributes:
        instance_id: ScanNet convention objectId + 1.
        category: the name used in questions.
        center: (3,) float64 centre of the axis-aligned box (world, metres).
        aabb_min, aabb_max: (3,) float64 axis-aligned box (world, metres).
        obb: oriented box (world).
    """

    instance_id: int
    category: str
    center: np.ndarray
    aabb_min: np.ndarray
    aabb_max: np.ndarray
    obb: OrientedBox

    @property
    def longest_side(self) -> float:
        """Longest side of the oriented box (metres)."""
        return float(np.max(self.obb.extent))


@dataclass(frozen=True)
class SpatialGraph:
    """Objects, 3D boxes, pairwise 3D centre distances and per-view relations of a scene.

    Attributes:
        scene_id: the scene.
        nodes: non-structural objects, sorted by instance id.
        distances: (n, n) float64 Euclidean distances between box centres (metres), in the
            order of ``nodes``.
        views: frame id -> relations among the objects visible in that view.
    """

    scene_id: str
    nodes: tuple[GraphNode, ...]
    distances: np.ndarray
    views: dict[int, ViewRelations]

    @cached_property
    def _index(self) -> dict[int, int]:
        return {n.instance_id: i for i, n in enumerate(self.nodes)}

    def node(self, instance_id: int) -> GraphNode:
        """The node of one instance (KeyError if structural or absent)."""
        return self.nodes[self._index[int(instance_id)]]

    def has(self, instance_id: int) -> bool:
        return int(instance_id) in self._index

    def distance(self, a: int, b: int) -> float:
        """3D distance between the box centres of two instances (metres)."""
        idx = self._index
        return float(self.distances[idx[int(a)], idx[int(b)]])

    def relation(self, frame_id: int, a: int, b: int, axis: str) -> int:
        """View-dependent relation sign of a to b in one view (0 = undecided / not visible)."""
        view = self.views.get(frame_id)
        return 0 if view is None else view.relation(a, b, axis)

    def relations(self, frame_ids: Iterable[int], a: int, b: int, axis: str) -> dict[int, int]:
        """``relation`` of a to b in each of the given views: frame id -> sign."""
        views = self.views
        return {f: 0 if (view := views.get(f)) is None else view.relation(a, b, axis)
                for f in frame_ids}

    def edges(self, frame_id: int, axis: str) -> list[tuple[int, int, int]]:
        """(a, b, sign) for every decided ordered pair in one view on one axis."""
        view = self.views.get(int(frame_id))
        return [] if view is None else view.pairs(axis)

    def by_category(self) -> dict[str, list[int]]:
        """category -> instance ids (sorted)."""
        out: dict[str, list[int]] = {}
        for n in self.nodes:
            out.setdefault(n.category, []).append(n.instance_id)
        return out


def build_spatial_graph(
    scene: Scene,
    views: list[ViewVisibility],
    qa: QAConfig | None = None,
    slack_px: float = 0.0,
) -> SpatialGraph:
    """The spatial graph of a scene for the given views.

    Args:
        scene: the scene (its non-structural objects become nodes).
        views: visibility of the views to relate.
        qa: margins (defaults of ``QAConfig`` when None).
        slack_px: extra margin in labelling pixels for lr / ab, converted to original pixels
            per view (keeps decided relations a pixel or two away from the margin edge).
    """
    qa = qa or QAConfig()
    objs = [o for o in scene.objects if not o.structural]
    nodes = tuple(
        GraphNode(o.instance_id, o.category, o.center, o.aabb_min, o.aabb_max, o.obb) for o in objs
    )
    centers = np.array([n.center for n in nodes], dtype=np.float64).reshape(-1, 3)
    distances = np.linalg.norm(centers[:, None, :] - centers[None, :, :], axis=-1)
    keep = {n.instance_id for n in nodes}
    rels: dict[int, ViewRelations] = {}
    for v in views:
        frame = scene.frame(v.frame_id)
        recs = [r for r in v.objects if r.visible and r.instance_id in keep]
        slack = slack_px / v.scale if v.scale > 0 else 0.0
        rels[v.frame_id] = view_relations(
            recs, v.frame_id, frame.width, frame.height, qa, slack={"lr": slack, "ab": slack}
        )
    return SpatialGraph(scene.scene_id, nodes, distances, rels)
