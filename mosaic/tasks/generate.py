"""``generate_qa``: view sets -> candidate questions per type -> capped, balanced QA items.

Determinism: one RNG per scene seeded from sha256(seed, scene id) draws the view sets; each
question type then draws from its own RNG seeded from (scene seed, type name), so turning a
type on or off never changes the items of another type.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from ..config import MosaicConfig
from ..errors import UnknownNameError
from ..families import FAMILY_SPECS
from ..relations import build_spatial_graph
from ..structures import FAMILY_OF, OPTION_LETTERS, QA_TYPES, QAItem, Scene, ViewVisibility
from . import existence
from .context import PER_SET, POOL_FACTOR, Draft, TaskContext, stable_int, type_cap
from .options import place_options, select_drafts
from .viewsets import sample_view_sets

if TYPE_CHECKING:
    from ..scene_pool import ScenePool

# an object reference with coordinates, as wording.reference writes it
COORDS = re.compile(r" at \(\d+, \d+\)")

# Below this many requested items (cap x types) one process is faster: a spawned worker costs
# about a second to start, receive the views and rebuild its lookups (docs/performance.md).
PARALLEL_MIN_ITEMS = 1000


def family_module(qtype: str) -> ModuleType:
    """The module of the family a question type belongs to (``mosaic.families``)."""
    return FAMILY_SPECS[FAMILY_OF[qtype]].load()


def class_cycle(qtype: str) -> tuple[tuple[str, ...], bool]:
    """(answer-class cycle, strict) of a type: its family module's ``CLASS_CYCLES`` entry, or
    no balancing."""
    return getattr(family_module(qtype), "CLASS_CYCLES", {}).get(qtype, ((), False))


def build_context(
    scene: Scene, views: list[ViewVisibility], seed: int, cfg: MosaicConfig
) -> TaskContext:
    """View sets, spatial graph and visibility lookups of one scene."""
    from ..visibility import overlap_matrix

    scene_seed = stable_int("mosaic-qa", int(seed), scene.scene_id)
    rng = np.random.default_rng(scene_seed)
    views = sorted(views, key=lambda v: v.frame_id)
    overlap = overlap_matrix(scene, views) if len(views) > 1 else np.zeros((len(views),) * 2)
    viewsets = sample_view_sets(overlap, [v.frame_id for v in views], rng, cfg.viewsets)
    graph = build_spatial_graph(scene, views, cfg.qa, slack_px=cfg.qa.relation_slack_px)
    return TaskContext(scene, views, graph, viewsets, cfg, scene_seed)


def generate_qa(
    scene: Scene,
    views: list[ViewVisibility],
    config: MosaicConfig | None = None,
    workers: int = 1,
) -> list[QAItem]:
    """Questions of the 17 types (or ``config.qa.types``) over low-overlap view sets.

    Args:
        scene: the scene (mesh, objects, posed frames).
        views: labelled views to draw from (``mosaic.pipeline.label_views`` makes them).
        config: the run configuration (defaults when None); ``config.seed`` with the scene id
            seeds the scene's RNG.
        workers: processes that generate the types side by side (``tasks.parallel``) when
            at least ``PARALLEL_MIN_ITEMS`` items are asked for; the items do not depend on
            it.

    Returns:
        Items grouped by type in ``QA_TYPES`` order; same inputs give identical items.
    """
    from ..scene_pool import ScenePool

    cfg = config or MosaicConfig()
    # a pool started for the questions alone pays its start-up: worth it only at volume
    n = len(question_types(cfg)) * type_cap(cfg, scene.split)
    with ScenePool(workers if n >= PARALLEL_MIN_ITEMS else 1) as pool:
        return questions_in_pool(scene, views, cfg, pool)


def question_types(cfg: MosaicConfig) -> list[str]:
    """The types to generate (``qa.types``, default all) in ``QA_TYPES`` order."""
    wanted = tuple(cfg.qa.types) or QA_TYPES
    for t in wanted:
        if t not in FAMILY_OF:
            raise UnknownNameError("question type", t, QA_TYPES)
    return [t for t in QA_TYPES if t in wanted]


def questions_in_pool(scene: Scene, views: list[ViewVisibility], cfg: MosaicConfig,
                      pool: ScenePool) -> list[QAItem]:
    """``generate_qa``'s items, in ``QA_TYPES`` order; the types are generated in
    ``parallel.POOL_ORDER`` over a started pool (``tasks.parallel``; a pool of one process
    generates them here)."""
    from .parallel import QuestionTypes, pool_order

    types = question_types(cfg)
    ctx = build_context(scene, views, cfg.seed, cfg)
    order = pool_order(types)
    by_type = dict(zip(order, pool.run(QuestionTypes(ctx), order), strict=True))
    return [item for t in types for item in by_type[t]]


def type_items(ctx: TaskContext, qtype: str) -> list[QAItem]:
    """The items of one type: candidates, selection, arrangement and wording, drawn from the
    type's own RNG (seeded by the scene seed and the type name), so a type's items depend on
    nothing else generated; no two with the same id."""
    rng = np.random.default_rng([ctx.scene_seed, stable_int("type", qtype)])
    drafts = collect_drafts(ctx, qtype, rng)
    cycle, strict = class_cycle(qtype)
    chosen = select_drafts(
        drafts,
        rng,
        ctx.type_cap,
        ctx.cfg.qa.per_category_per_type,
        class_cycle=cycle,
        strict_classes=strict,
    )
    arrange = getattr(family_module(qtype), "arrange", None)
    if arrange is not None:
        chosen = arrange(ctx, chosen, rng)
    offset = int(rng.integers(4))
    items: list[QAItem] = []
    seen_ids: set[str] = set()
    for k, d in enumerate(chosen):
        item = finalize(ctx, d, (offset + k) % 4, rng)
        if item.id not in seen_ids:  # ids hold the type, so types never share one
            seen_ids.add(item.id)
            items.append(item)
    return items


def collect_drafts(
    ctx: TaskContext, qtype: str, rng: np.random.Generator
) -> list[tuple[Draft, str]]:
    """Candidate drafts of one type, with their occlusion level, from view sets in random
    order: at most ``PER_SET`` per answer class per set, until the pool is large enough. A
    family's ``candidates`` returns its drafts, or answer class -> candidates of that class in
    the same order (``LazyDrafts``: drafted when drawn)."""
    module = family_module(qtype)
    cycle = class_cycle(qtype)[0]
    factor = getattr(module, "POOL_FACTOR", POOL_FACTOR)
    need = factor * ctx.type_cap * max(1, len(set(cycle)))
    pool: list[tuple[Draft, str]] = []
    for i in rng.permutation(len(ctx.viewsets)):
        cands = module.candidates(ctx, ctx.viewsets[int(i)], qtype, rng)
        if isinstance(cands, dict):
            by_class = {cls: group for cls, group in cands.items() if len(group)}
        else:
            by_class = {}
            for d in cands:
                by_class.setdefault(d.answer_class, []).append(d)
        for cls in sorted(by_class):
            group = by_class[cls]
            for j in rng.permutation(len(group))[:PER_SET]:
                d = group[int(j)]
                pool.append((d, ctx.occ_level(ctx.occlusion_avg(d.viewset, d.targets))))
        if len(pool) >= need:
            break
    return pool


def finalize(ctx: TaskContext, d: Draft, target: int, rng: np.random.Generator) -> QAItem:
    """Template, option order, diagnostics and provenance of one drawn question."""
    vs = d.viewset
    templates = ctx.templates["types"][d.qtype]
    tmpl = templates[int(rng.integers(len(templates)))]
    fields = {"k": len(vs.frame_ids), **d.fields}
    question = tmpl["text"].format(**fields)
    if d.qtype.startswith("obj_localization") or COORDS.search(question):
        # frame id 0 is a real frame: test for None, not falsiness
        shown = vs.frame_ids[0] if d.named_frame is None else d.named_frame
        question += " " + ctx.pixel_note(shown)
    if not d.distractors:
        options: tuple[str, ...] = ()
        answer = d.correct
    elif len(d.distractors) == 1:
        # yes/no keeps the conventional order; balance comes from the answer classes
        options = (existence.YES, existence.NO)
        answer = OPTION_LETTERS[0 if d.correct == existence.YES else 1]
    else:
        options, answer = place_options(d.correct, d.distractors, target, rng)
    occ = round(ctx.occlusion_avg(vs, d.targets), 4)  # the level is the bin of the stored value
    bbox = None if d.bbox_2d is None else tuple(round(float(v), 2) for v in d.bbox_2d)
    diag = None if bbox is None else round(math.hypot(bbox[2] - bbox[0], bbox[3] - bbox[1]), 2)
    content = json.dumps(
        [list(vs.frame_ids), question, list(options), answer], separators=(",", ":")
    )
    digest = hashlib.sha1(content.encode()).hexdigest()[:10]
    evidence = {
        "query": d.query,
        "options": [d.semantics.get(o) for o in options],
        "named_frame": d.named_frame,
        "max_pair_overlap": round(vs.max_overlap, 3),
        "visibility": ctx.evidence_of(vs, d.targets),
    }
    return QAItem(
        id=f"{ctx.scene.scene_id}-{d.qtype}-{digest}",
        scene_id=ctx.scene.scene_id,
        question_type=d.qtype,
        family=FAMILY_OF[d.qtype],
        frame_ids=tuple(int(f) for f in vs.frame_ids),
        question=question,
        options=options,
        answer=answer,
        ground_truth=d.correct,
        overlap_avg=round(float(vs.overlap_avg), 3),
        overlap_level=vs.overlap_level,
        occlusion_avg=occ,
        occ_level=ctx.occ_level(occ),
        vis_level=ctx.vis_level(vs, d.targets),
        coverage=ctx.coverage(vs, d.coverage_categories),
        bbox_2d=bbox,
        bbox_2d_diag=diag,
        targets=tuple(int(t) for t in d.targets),
        template_id=str(tmpl["id"]),
        seed=int(ctx.scene_seed),
        evidence=evidence,
    )
