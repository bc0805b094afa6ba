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

import bisect
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import ndimage

from ..config import MosaicConfig
from ..relations import DIRECTIONS, SpatialGraph
from ..structures import (
    COVERAGE_LEVELS,
    VIS_LEVELS,
    ObjectVisibility,
    Scene,
    SceneObject,
    ViewVisibility,
    occlusion_bin,
)
from .viewsets import ViewSet
from .wording import pixel_note, reference

# Candidate pool per type: stop scanning view sets after this many times the per-type cap (a
# family module may set its own POOL_FACTOR).
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
        coverage_categories: the categories the question is about: each counts towards
            the per-category cap, and their full coverage decides ``coverage``.
        answer_class: balancing class ("yes"/"no" for yes/no, "present"/"absent" for
            localization, "cross"/"multi"/"single" for counting and best view), or "".
        named_frame: the frame id the question names, if any.
        bbox_2d: visible box (original pixels) for localization, else None.
        query: machine-readable content of the question (stored in the evidence).
        priors: (key, value) pairs a text-only model could learn to associate (e.g. a
            category and its count, a category pair and the side of a relation); selection
            spreads each key's values (``options.select_drafts``).
        features: for an alternative wording or option set of a selected draft (a family's
            ``alternatives``), what a text-only rule could key on, e.g. the rank of the
            correct value among the options; ``options.spread`` picks alternatives so each
            feature's values are even.
        fact: what the question asks, independent of its wording (e.g. the frame, the pair
            of objects and the answer), for a family whose ``alternatives`` reword it.
    """

    qtype: str
    viewset: ViewSet
    fields: dict[str, Any]
    correct: str
    distractors: list[str]
    semantics: dict[str, Any]
    targets: tuple[int, ...]
    coverage_categories: tuple[str, ...]
    answer_class: str = ""
    named_frame: int | None = None
    bbox_2d: tuple[float, float, float, float] | None = None
    query: dict[str, Any] = field(default_factory=dict)
    priors: tuple[tuple[Any, Any], ...] = ()
    features: tuple[Any, ...] = ()
    fact: tuple | None = None

    def key(self) -> tuple:
        """Content key used to drop duplicate drafts (``fact`` when set, so two wordings of
        one question are one draft)."""
        if self.fact is not None:
            return (self.qtype, self.viewset.frame_ids, self.fact)
        return (
            self.qtype,
            self.viewset.frame_ids,
            tuple(sorted((k, str(v)) for k, v in self.fields.items())),
            self.correct,
        )


class LazyDrafts(Sequence):
    """The candidates of one answer class in one view set, drafted only when drawn (a view
    set gives at most ``PER_SET`` drafts per class, so most candidates are never drafted).

    Item k is ``make(*head, *item)`` for the k-th item over the (head, items) segments, in
    order; building no object per candidate keeps millions of candidates cheap.
    """

    __slots__ = ("make", "segments", "ends")

    def __init__(self, make: Callable[..., Draft], segments: list[tuple[tuple, list[tuple]]]):
        self.make = make
        self.segments = [(head, items) for head, items in segments if items]
        self.ends = np.cumsum([len(items) for _, items in self.segments]).tolist()

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    def __getitem__(self, k):  # type: ignore[override]
        if not 0 <= k < len(self):
            raise IndexError(k)
        seg = bisect.bisect_right(self.ends, k)
        head, items = self.segments[seg]
        start = self.ends[seg - 1] if seg else 0
        return self.make(*head, *items[k - start])


def type_cap(cfg: MosaicConfig, split: str) -> int:
    """Items per question type for a scene of ``split``: ``qa.per_type_per_scene``, times
    ``qa.bench_cap_scale`` for a benchmark scene (the source's val split)."""
    scale = cfg.qa.bench_cap_scale if split == "val" else 1.0
    return max(1, round(cfg.qa.per_type_per_scene * scale))


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
        # per view: instance id -> record, and the ids counted as visible (the predicates
        # below are asked millions of times per scene at SpatialMosaic's volume)
        self._records = {v.frame_id: v.by_id for v in views}
        self._visible = {v.frame_id: frozenset(v.visible_ids()) for v in views}
        self._min_px: dict[int, float] = {}
        self._large_px: dict[int, float] = {}  # pixels that make an object visible by area
        for v in views:
            h, w = v.instance_buffer.shape[:2]
            self._min_px[v.frame_id] = max(1, math.ceil(config.visibility.min_visible_frac * w * h))
            self._large_px[v.frame_id] = math.ceil(config.visibility.large_visible_frac * w * h)
        self._status: dict[tuple[int, int], str] = {}
        self._anchor: dict[tuple[int, int], tuple[int, int]] = {}
        self._side: dict[tuple[str, int, str], float] = {}
        self._pair: dict[tuple[int, int, str], dict[int, int]] = {}
        self._recognisable: dict[tuple[int, int], bool] = {}
        # per-scene lookups of the families, keyed by view, view set, object or fact
        self.memo: dict[tuple, Any] = {}

    # ---- visibility predicates -------------------------------------------------------------
    def rec(self, frame_id: int, iid: int) -> ObjectVisibility | None:
        """The visibility record of one object in one view (None: no footprint)."""
        return self._records[frame_id].get(iid)

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
        return iid in self._visible[frame_id]

    def visible_frames(self, vs: ViewSet, iid: int) -> list[int]:
        return [f for f in vs.frame_ids if self.visible(f, iid)]

    def frame_ids_in(self, frame_id: int) -> tuple[int, ...]:
        """Non-structural instance ids visible in one view (once per view)."""
        key = ("frame_ids_in", frame_id)
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = tuple(
                i for i in self.views[frame_id].visible_ids() if i in self.objects)
        return hit

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
        the set (docs/tasks.md: every question needs its frames)."""
        need = self.needing_frames(vs, frame_id)
        return any(t in need for t in targets)

    def needing_frames(self, vs: ViewSet, frame_id: int | None) -> frozenset[int]:
        """The instances that make a question about them need the frames of ``vs`` (named
        frame ``frame_id``): occluded/truncated in the named frame or visible in only part of
        the set. Computed once per view and per set (generators ask for every pair)."""
        key = ("needing", vs.frame_ids, frame_id)
        hit = self.memo.get(key)
        if hit is None:
            hit = self._partial_ids(vs)
            if frame_id is not None:
                hit = hit | self._occluded_ids(frame_id)
            self.memo[key] = hit
        return hit

    def _partial_ids(self, vs: ViewSet) -> frozenset[int]:
        """Instances visible in only part of the set (``partial_in_set``), once per set."""
        key = ("partial", vs.frame_ids)
        hit = self.memo.get(key)
        if hit is None:
            # clearly visible in some frame, and clearly invisible (no record, or classified
            # "inv") in some frame: out of every frame's not-"inv" set
            seen = [self._states(f) for f in vs.frame_ids]
            hit = self.memo[key] = frozenset().union(*(vis for vis, _ in seen)).difference(
                frozenset.intersection(*(kept for _, kept in seen)) if seen else ())
        return hit

    def _states(self, frame_id: int) -> tuple[frozenset[int], frozenset[int]]:
        """(ids whose ``status`` is "vis", ids whose status is not "inv") among the records
        of one view, once per view."""
        key = ("states", frame_id)
        hit = self.memo.get(key)
        if hit is None:
            states = {o.instance_id: self.status(frame_id, o.instance_id)
                      for o in self.views[frame_id].objects}
            hit = self.memo[key] = (
                frozenset(i for i, st in states.items() if st == "vis"),
                frozenset(i for i, st in states.items() if st != "inv"),
            )
        return hit

    def _occluded_ids(self, frame_id: int) -> frozenset[int]:
        """Instances occluded or truncated in the view (``occluded_or_truncated``), once."""
        key = ("occluded", frame_id)
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = frozenset(
                o.instance_id for o in self.views[frame_id].objects
                if self.occluded_or_truncated(frame_id, o.instance_id)
            )
        return hit

    def recognisable(self, frame_id: int, iid: int) -> bool:
        """The object shows enough of itself in the view for a person to tell what it is: at
        least ``qa.min_target_ratio`` of its amodal footprint and ``qa.min_target_area`` of
        the image (docs/tasks.md says why these defaults)."""
        key = (frame_id, iid)
        hit = self._recognisable.get(key)
        if hit is None:
            r = self.rec(frame_id, iid)
            h, w = self.views[frame_id].instance_buffer.shape[:2]
            hit = bool(
                r is not None
                and r.visible
                and r.visible_ratio >= self.qa.min_target_ratio
                and r.visible_px >= self.qa.min_target_area * w * h
            )
            self._recognisable[key] = hit
        return hit

    def recognisable_in_set(self, vs: ViewSet, iid: int) -> bool:
        """Recognisable in at least one frame of the set."""
        return any(self.recognisable(f, iid) for f in vs.frame_ids)

    def vis_frames(self, iid: int) -> frozenset[int]:
        """The views in which an object is clearly visible (status ``vis``)."""
        key = ("vis_frames", iid)
        hit = self.memo.get(key)
        if hit is None:
            hit = frozenset(f for f in self.views if self.status(f, iid) == "vis")
            self.memo[key] = hit
        return hit

    def side_rate(self, category: str, b: int, axis: str) -> float:
        """How often, over all views of the scene, the instances of ``category`` lie on the
        left/above/front side of object b (+1), the other side (-1), in [-1, 1]; 0 when they
        are never clearly visible together. A scene-level stand-in for the prior a
        text-only model learns about the two categories."""
        key = (category, b, axis)
        hit = self._side.get(key)
        if hit is not None:
            return hit
        seen_b = self.vis_frames(b)
        # integer signs: their sum, hence the mean, does not depend on the order
        total = n = 0
        for i in self.by_category.get(category, []):
            if i != b:
                signs = self.graph.relations(seen_b & self.vis_frames(i), i, b, axis)
                total += sum(signs.values())
                n += len(signs)
        rate = total / n if n else 0.0
        self._side[key] = rate
        return rate

    def pair_rate(self, a: int, b: int, axis: str, skip: int) -> float | None:
        """Mean relation sign of a to b (+1 left/above/front) over the views of the scene other
        than ``skip`` in which both are clearly visible, in [-1, 1] (undecided views count 0);
        None when there is no such view."""
        key = (a, b, axis)
        signs = self._pair.get(key)
        if signs is None:
            signs = self.graph.relations(self.vis_frames(a) & self.vis_frames(b), a, b, axis)
            self._pair[key] = signs
        n = len(signs) - (skip in signs)
        if n == 0:
            return None
        return (sum(signs.values()) - signs.get(skip, 0)) / n

    # ---- naming ----------------------------------------------------------------------------
    def anchor(self, frame_id: int, iid: int) -> tuple[int, int]:
        """A point on a visible pixel of the object, in integer original-frame pixels.

        Among the object's labelling pixels at least half as deep inside its visible region
        as the deepest one (depth: Euclidean distance to the nearest pixel that is not the
        object, the image border included), the one nearest the centroid of the region. For
        a convex region this is its middle; for an L-shaped or partly hidden object it stays
        on the object, where the centre of the visible box may fall on something else. The
        point is the centre of that labelling pixel, rounded, so it maps back into it.
        """
        key = (frame_id, iid)
        hit = self._anchor.get(key)
        if hit is not None:
            return hit
        buf = self.views[frame_id].instance_buffer
        rows, cols = self._pixels_of(frame_id, iid)
        if rows.size == 0:
            raise ValueError(f"instance {iid} has no visible pixel in frame {frame_id}")
        # the object's box plus a one-pixel frame; pixels beyond the image count as not it
        r0, c0 = int(rows.min()), int(cols.min())
        mask = np.zeros((int(rows.max()) - r0 + 3, int(cols.max()) - c0 + 3), dtype=bool)
        mask[rows - r0 + 1, cols - c0 + 1] = True
        depth = ndimage.distance_transform_edt(mask)
        deep_r, deep_c = np.nonzero(depth >= max(1.0, 0.5 * float(depth.max())))
        cy, cx = float(rows.mean()) - r0 + 1, float(cols.mean()) - c0 + 1
        k = int(np.argmin((deep_r - cy) ** 2 + (deep_c - cx) ** 2))
        row, col = int(deep_r[k]) + r0 - 1, int(deep_c[k]) + c0 - 1
        frame = self.scene.frame(frame_id)
        h, w = buf.shape[:2]
        x = int(round((col + 0.5) * frame.width / w))
        y = int(round((row + 0.5) * frame.height / h))
        self._anchor[key] = (x, y)
        return x, y

    def _pixels_of(self, frame_id: int, iid: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the object's pixels in the view's instance buffer, row-major as
        ``np.nonzero`` gives them; searched within the record's visible box (one pixel of
        margin for rounding) when the box holds all of them (the buffer's count of the id,
        one ``bincount`` per view), else everywhere."""
        view = self.views[frame_id]
        buf = view.instance_buffer
        rec = self.rec(frame_id, iid)
        if rec is not None and rec.bbox_visible is not None:
            key = ("pixel_counts", frame_id)
            counts = self.memo.get(key)
            if counts is None:  # ids >= -1 (a miss): shifted by one
                counts = self.memo[key] = np.bincount(buf.ravel() + 1)
            total = int(counts[iid + 1]) if 0 <= iid + 1 < len(counts) else 0
            sy, sx = buf.shape[0] / self.scene.frame(frame_id).height, view.scale
            x0, y0, x1, y1 = rec.bbox_visible
            r0, c0 = max(0, math.floor(y0 * sy) - 1), max(0, math.floor(x0 * sx) - 1)
            r1, c1 = math.ceil(y1 * sy) + 1, math.ceil(x1 * sx) + 1
            rows, cols = np.nonzero(buf[r0:r1, c0:c1] == iid)
            if rows.size == total:
                return rows + r0, cols + c0
        return np.nonzero(buf == iid)

    def needs_coords(self, frame_id: int, iid: int) -> bool:
        """The category is not unique in the frame (other instances visible or borderline)."""
        key = ("needs_coords", frame_id, iid)
        hit = self.memo.get(key)
        if hit is None:
            cat = self.objects[iid].category
            hit = any(
                self.status(frame_id, j) != "inv" for j in self.by_category[cat] if j != iid
            )
            self.memo[key] = hit
        return hit

    def name(self, frame_id: int, iid: int) -> str:
        """``category`` or ``category at (x, y)`` with a point on the object (original
        pixels, :meth:`anchor`) when another instance of the category shows in the frame."""
        cat = self.objects[iid].category
        if self.needs_coords(frame_id, iid):
            return reference(cat, self.anchor(frame_id, iid))
        return cat

    def pixel_note(self, frame_id: int) -> str:
        """The sentence giving the pixel grid of a frame's coordinates."""
        frame = self.scene.frame(frame_id)
        return pixel_note(frame.width, frame.height)

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
        """Mean 1 - visible_ratio of the targets over the frames where they are visible
        (once per set and targets: several types ask about the same objects)."""
        key = ("occlusion_avg", vs.frame_ids, targets)
        hit = self.memo.get(key)
        if hit is None:
            vals = [
                1.0 - float(self.rec(f, t).visible_ratio)
                for t in targets
                for f in vs.frame_ids
                if self.visible(f, t)
            ]
            hit = self.memo[key] = float(np.mean(vals)) if vals else 1.0
        return hit

    @property
    def type_cap(self) -> int:
        """Items per question type for this scene (``type_cap``)."""
        return type_cap(self.cfg, self.scene.split)

    def occ_level(self, occlusion_avg: float) -> str:
        """``OCC_LEVELS`` bin of an occlusion (``structures.occlusion_bin``)."""
        return occlusion_bin(occlusion_avg, self.cfg.visibility.occ_bins)

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
    ctx: TaskContext,
    vs: ViewSet,
    frame_id: int,
    axis: str,
    named_a: bool = True,
    coords_ok: bool = False,
) -> list[tuple[int, int, int]]:
    """(a, b, sign) pairs usable for a question in one view of a set: ``pairs_in_view``
    whose frames are needed (one of the two occluded or truncated in the view, or visible in
    only part of the set)."""
    return needed_pairs(ctx, vs, frame_id, pairs_in_view(ctx, frame_id, axis, named_a, coords_ok))


def needed_pairs(
    ctx: TaskContext, vs: ViewSet, frame_id: int, pairs: list[tuple[int, int, int]]
) -> list[tuple[int, int, int]]:
    """The (a, b, sign) pairs of a view whose question needs the frames of ``vs``."""
    need = ctx.needing_frames(vs, frame_id)
    return [p for p in pairs if p[0] in need or p[1] in need]


def pairs_in_view(
    ctx: TaskContext, frame_id: int, axis: str, named_a: bool = True, coords_ok: bool = False
) -> list[tuple[int, int, int]]:
    """(a, b, sign) pairs of one view that a question may relate (computed once per view).

    Both objects clearly visible and recognisable in the view, of different categories, and
    the relation decided beyond the margin (plus slack). A named object (b, and a when
    ``named_a``) may not need coordinates, except b when ``coords_ok``: a written point says
    where the object is in the image, which answers left/right and above/below without
    looking.
    """
    key = ("pairs", frame_id, axis, named_a, coords_ok)
    in_view = ctx.memo.get(key)
    if in_view is None:
        bkey = ("pairs", frame_id, axis)
        base = ctx.memo.get(bkey)
        if base is None:  # what every variant shares, once per view and axis
            shown = {
                i for i in ctx.frame_ids_in(frame_id)
                if ctx.status(frame_id, i) == "vis" and ctx.recognisable(frame_id, i)
            }
            cat = {i: ctx.objects[i].category for i in shown}
            base = ctx.memo[bkey] = [
                (a, b, s) for a, b, s in ctx.graph.edges(frame_id, axis)
                if a in shown and b in shown and cat[a] != cat[b]
            ]
        in_view = [
            (a, b, s) for a, b, s in base
            if not (named_a and ctx.needs_coords(frame_id, a))
            and (coords_ok or not ctx.needs_coords(frame_id, b))
        ]
        ctx.memo[key] = in_view
    return in_view


# |scene-wide rate| bins of a relation fact, for balancing (see ``relation_priors``)
RATE_BINS = (0.25, 0.5, 0.75, 0.999)


def relation_priors(
    ctx: TaskContext, frame_id: int, a: int, b: int, axis: str, sign: int
) -> tuple[tuple[Any, Any], ...]:
    """(key, value) pairs of a relation fact for prior balancing (``Draft.priors``).

    What a text-only model knows about two categories is how they usually appear (a monitor
    above a desk; furniture against a wall behind a chair in the middle of the room). Three
    kinds of pairs spread that knowledge (one for each of the two categories, one for the pair,
    one for the majority):

    * each category and whether it is on the left/above/in front: every category on both
      sides as often as the pool allows;
    * the category pair (sorted) and which of the two is left/above/in front: both sides of
      a pair as often as each other;
    * whether this view agrees with the majority of the other views of the scene that show
      both objects (``TaskContext.pair_rate``), keyed by how strong that majority is: the
      usual relation is the answer as often as not at every strength, which favours pairs
      whose relation changes with the viewpoint. A pair seen together in no other view is
      keyed apart.

    A fact whose keys never take another value in the pool (a pair that never changes) is
    used last.
    """
    key = ("relation_priors", frame_id, a, b, axis, sign)
    hit = ctx.memo.get(key)
    if hit is None:
        hit = ctx.memo[key] = _relation_priors(ctx, frame_id, a, b, axis, sign)
    return hit


def _relation_priors(
    ctx: TaskContext, frame_id: int, a: int, b: int, axis: str, sign: int
) -> tuple[tuple[Any, Any], ...]:
    ca, cb = ctx.objects[a].category, ctx.objects[b].category
    side = sign if ca <= cb else -sign
    known = (((axis, "category", ca), sign), ((axis, "category", cb), -sign))
    pair = ((axis, "pair", *sorted((ca, cb))), side)
    rate = ctx.pair_rate(a, b, axis, frame_id)
    if rate is None:
        return (*known, pair, ((axis, "alone"), side))
    majority = ((axis, bisect.bisect_left(RATE_BINS, abs(rate))), int(sign * rate > 0))
    return (*known, pair, majority)
