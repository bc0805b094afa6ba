"""Per-scene state shared by the question generators, and the draft an item starts as.

A :class:`TaskContext` holds the views of one scene (keyed by frame id), the spatial graph,
the sampled view sets, templates and the robust visibility predicates every family uses.

Robustness: an answer must not hinge on a label that sits on a threshold. Every
(object, view) is classified ``vis`` (clearly visible), ``inv`` (clearly not visible) or
``border`` (within ``qa.ambiguity_band`` times a visibility threshold: the minimum pixels, and
the visible ratio or, for large objects, the image share ``visibility.large_visible_frac``);
questions whose answer depends on a ``border`` label are skipped.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..config import MosaicConfig
from ..relations import DIRECTIONS, SpatialGraph
from ..structures import (
    COVERAGE_LEVELS,
    OCC_LEVELS,
    VIS_LEVELS,
    ObjectVisibility,
    Scene,
    SceneObject,
    ViewVisibility,
)
from .viewsets import ViewSet

# Candidate pool per type: stop scanning view sets after this many times the per-type cap.
POOL_FACTOR = 6
# Candidates kept from one view set per type (spreads items over many sets).
PER_SET = 2

TEMPLATES_PATH = Path(__file__).with_name("templates.yaml")


@lru_cache(maxsize=1)
def load_templates() -> dict[str, Any]:
    """The paraphrase templates (``templates.yaml``), parsed once."""
    return yaml.safe_load(TEMPLATES_PATH.read_text())


def stable_int(*parts: Any, bits: int = 60) -> int:
    """A platform-independent integer hash of the parts (sha256; never Python's hash())."""
    text = "\x1f".join(str(p) for p in parts)
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % (1 << bits)


@dataclass
class Draft:
    """A question before template choice and letter placement.

    Attributes:
        qtype: question type.
        viewset: the frames (display order) with their overlap figures.
        fields: template placeholders other than those of the type (e.g. a, b, rel).
        correct: correct option text (multiple choice) or answer value (open types).
        distractors: wrong option texts (empty for open types).
        semantics: option text -> machine-readable meaning (stored in the evidence).
        targets: instance ids the answer is about.
        category: the category used for the per-category cap.
        coverage_categories: categories whose full coverage decides ``coverage``.
        answer_class: balancing class ("yes"/"no" for yes/no, "present"/"absent" for
            localization, "cross"/"multi"/"single" for counting and best view), or "".
        named_frame: the frame id the question names, if any.
        bbox_2d: visible box (original pixels) for localization, else None.
        query: machine-readable content of the question (stored in the evidence).
    """

    qtype: str
    viewset: ViewSet
    fields: dict[str, Any]
    correct: str
    distractors: list[str]
    semantics: dict[str, Any]
    targets: tuple[int, ...]
    category: str
    coverage_categories: tuple[str, ...]
    answer_class: str = ""
    named_frame: int | None = None
    bbox_2d: tuple[float, float, float, float] | None = None
    query: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple:
        """Content key used to drop duplicate drafts."""
        return (
            self.qtype,
            self.viewset.frame_ids,
            tuple(sorted((k, str(v)) for k, v in self.fields.items())),
            self.correct,
        )


class TaskContext:
    """Everything the generators of one scene read; built once by ``generate_qa``."""

    def __init__(
        self,
        scene: Scene,
        views: list[ViewVisibility],
        graph: SpatialGraph,
        viewsets: list[ViewSet],
        config: MosaicConfig,
        scene_seed: int,
    ):
        self.scene = scene
        self.views = {v.frame_id: v for v in views}
        self.graph = graph
        self.viewsets = viewsets
        self.cfg = config
        self.qa = config.qa
        self.scene_seed = scene_seed
        self.templates = load_templates()
        self.objects: dict[int, SceneObject] = {
            o.instance_id: o for o in scene.objects if not o.structural
        }
        self.by_category: dict[str, list[int]] = {}
        for iid, o in sorted(self.objects.items()):
            self.by_category.setdefault(o.category, []).append(iid)
        self._min_px: dict[int, float] = {}
        self._large_px: dict[int, float] = {}  # pixels that make an object visible by area
        for v in views:
            h, w = v.instance_buffer.shape[:2]
            self._min_px[v.frame_id] = max(1, math.ceil(config.visibility.min_visible_frac * w * h))
            self._large_px[v.frame_id] = math.ceil(config.visibility.large_visible_frac * w * h)
        self._status: dict[tuple[int, int], str] = {}

    # ---- visibility predicates -------------------------------------------------------------
    def rec(self, frame_id: int, iid: int) -> ObjectVisibility | None:
        """The visibility record of one object in one view (None: no footprint)."""
        return self.views[frame_id].get(iid)

    def status(self, frame_id: int, iid: int) -> str:
        """``vis`` / ``inv`` / ``border`` (see module docstring)."""
        key = (frame_id, iid)
        st = self._status.get(key)
        if st is None:
            st = self._classify(frame_id, iid)
            self._status[key] = st
        return st

    def _classify(self, frame_id: int, iid: int) -> str:
        r = self.rec(frame_id, iid)
        if r is None or r.visible_px == 0:
            return "inv"
        min_px, large_px = self._min_px[frame_id], self._large_px[frame_id]
        min_ratio = self.cfg.visibility.min_visible_ratio
        low, high = self.cfg.qa.ambiguity_band  # robust band on pixel count, ratio and area
        px = r.visible_px
        if px < low * min_px or (r.visible_ratio < low * min_ratio and px < low * large_px):
            return "inv" if not r.visible else "border"
        if r.visible and px >= high * min_px and (
            r.visible_ratio >= high * min_ratio or px >= high * large_px
        ):
            return "vis"
        return "border"

    def visible(self, frame_id: int, iid: int) -> bool:
        """Counted as visible (ObjectVisibility.visible)."""
        r = self.rec(frame_id, iid)
        return bool(r is not None and r.visible)

    def visible_frames(self, vs: ViewSet, iid: int) -> list[int]:
        return [f for f in vs.frame_ids if self.visible(f, iid)]

    def frame_ids_in(self, frame_id: int) -> list[int]:
        """Non-structural instance ids visible in one view."""
        return [i for i in self.views[frame_id].visible_ids() if i in self.objects]

    def category_clear(self, vs: ViewSet, category: str) -> bool:
        """No instance of the category is on a visibility threshold in any frame of the set."""
        return all(
            self.status(f, i) != "border"
            for i in self.by_category.get(category, [])
            for f in vs.frame_ids
        )

    def occluded_or_truncated(self, frame_id: int, iid: int) -> bool:
        r = self.rec(frame_id, iid)
        if r is None or not r.visible:
            return False
        t = self.cfg.visibility.full_threshold + self.cfg.qa.need_margin
        return r.occlusion > t or r.truncation > t

    def partial_in_set(self, vs: ViewSet, iid: int) -> bool:
        """Visible in some frames of the set and clearly invisible in at least one other."""
        states = [self.status(f, iid) for f in vs.frame_ids]
        return "vis" in states and "inv" in states

    def frames_needed(self, vs: ViewSet, targets: list[int], frame_id: int | None) -> bool:
        """Some target is occluded/truncated in the named frame or visible in only part of
        the set (product.md: every question needs its frames)."""
        for t in targets:
            if frame_id is not None and self.occluded_or_truncated(frame_id, t):
                return True
            if self.partial_in_set(vs, t):
                return True
        return False

    # ---- naming ----------------------------------------------------------------------------
    def center_int(self, frame_id: int, iid: int) -> tuple[int, int]:
        c = self.rec(frame_id, iid).center_visible
        return int(round(c[0])), int(round(c[1]))

    def needs_coords(self, frame_id: int, iid: int) -> bool:
        """The category is not unique in the frame (other instances visible or borderline)."""
        cat = self.objects[iid].category
        return any(
            self.status(frame_id, j) != "inv" for j in self.by_category[cat] if j != iid
        )

    def name(self, frame_id: int, iid: int) -> str:
        """``category`` or ``category(x,y)`` with the visible centre (original pixels)."""
        cat = self.objects[iid].category
        if self.needs_coords(frame_id, iid):
            x, y = self.center_int(frame_id, iid)
            return f"{cat}({x},{y})"
        return cat

    def article(self, word: str) -> str:
        """"a" or "an" for a category name (by its first letter; good enough for labels)."""
        return "an" if word[:1].lower() in "aeiou" else "a"

    def frame_label(self, vs: ViewSet, frame_id: int) -> str:
        return f"Frame {vs.frame_ids.index(frame_id) + 1}"

    # ---- diagnostics -----------------------------------------------------------------------
    def evidence_of(self, vs: ViewSet, targets: tuple[int, ...]) -> dict[str, Any]:
        """Per target, per frame of the set: the visibility numbers answers are built from."""
        out: dict[str, Any] = {}
        for t in targets:
            per: dict[str, Any] = {}
            for f in vs.frame_ids:
                r = self.rec(f, t)
                if r is None:
                    per[str(f)] = None
                    continue
                per[str(f)] = {
                    "visible": bool(r.visible),
                    "state": r.state,
                    "visible_px": int(r.visible_px),
                    "visible_ratio": round(float(r.visible_ratio), 4),
                    "occlusion": round(float(r.occlusion), 4),
                    "truncation": round(float(r.truncation), 4),
                    "center": None
                    if r.center_visible is None
                    else [round(float(c), 2) for c in r.center_visible],
                    "depth_median": None
                    if not np.isfinite(r.depth_median)
                    else round(float(r.depth_median), 4),
                }
            out[str(t)] = per
        return out

    def occlusion_avg(self, vs: ViewSet, targets: tuple[int, ...]) -> float:
        """Mean 1 - visible_ratio of the targets over the frames where they are visible."""
        vals = [
            1.0 - float(self.rec(f, t).visible_ratio)
            for t in targets
            for f in vs.frame_ids
            if self.visible(f, t)
        ]
        return float(np.mean(vals)) if vals else 1.0

    def occ_level(self, occlusion_avg: float) -> str:
        """``OCC_LEVELS`` bin of an occlusion: [0, b0) low, [b0, b1) medium, ... (0 is low)."""
        rank = sum(occlusion_avg >= b for b in self.cfg.visibility.occ_bins)
        return OCC_LEVELS[rank]

    def vis_level(self, vs: ViewSet, targets: tuple[int, ...]) -> str:
        full = all(
            any(self.visible(f, t) and self.rec(f, t).state == "full" for f in vs.frame_ids)
            for t in targets
        )
        return VIS_LEVELS[0] if full else VIS_LEVELS[1]

    def coverage(self, vs: ViewSet, categories: tuple[str, ...]) -> str:
        for cat in categories:
            for i in self.by_category.get(cat, []):
                if not self.visible_frames(vs, i):
                    return COVERAGE_LEVELS[1]
        return COVERAGE_LEVELS[0]


def direction_word(axis: str, sign: int) -> str:
    """``left``/``right``, ``above``/``below`` or ``front``/``behind`` for a relation sign."""
    return DIRECTIONS[axis][0 if sign > 0 else 1]


def relation_phrase(ctx: TaskContext, axis: str, sign: int) -> str:
    """The template phrase of a relation, e.g. "to the left of"."""
    return ctx.templates["relations"][axis][direction_word(axis, sign)]


def decided_pairs(
    ctx: TaskContext, vs: ViewSet, frame_id: int, axis: str
) -> list[tuple[int, int, int]]:
    """(a, b, sign) pairs usable for a question in one view of a set.

    Both objects clearly visible, the relation decided beyond the margin (plus slack), at most
    one of the two written with coordinates, and the frames needed (one of them occluded or
    truncated in the view, or visible in only part of the set).
    """
    out = []
    for a, b, s in ctx.graph.edges(frame_id, axis):
        if ctx.status(frame_id, a) != "vis" or ctx.status(frame_id, b) != "vis":
            continue
        if ctx.objects[a].category == ctx.objects[b].category:
            continue
        if ctx.needs_coords(frame_id, a) and ctx.needs_coords(frame_id, b):
            continue
        if not ctx.frames_needed(vs, [a, b], frame_id):
            continue
        out.append((a, b, s))
    return out
