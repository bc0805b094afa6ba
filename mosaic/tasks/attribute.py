"""Object Attribute family: ``obj_attribute_occ_{ab,fb,lr}`` (4 category names).

"In Frame j, which object appears <rel> B?" Exactly one option satisfies the relation: every
visible instance of the correct category is <rel> B beyond the margin. Each wrong option is a
category whose every visible instance in Frame j is on the other side of B beyond the margin,
or which has no instance visible in Frame j. Categories with an instance on a visibility
threshold in Frame j are never options.

Selection spreads the fact behind the answer as for Object Existence
(``context.relation_priors``). Wrong options are chosen after selection (``arrange``) so that
neither a text-only model's idea of which categories usually lie on that side of B nor how
often a category is the answer finds the answer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np

from .context import (
    Draft,
    LazyDrafts,
    TaskContext,
    direction_word,
    needed_pairs,
    pairs_in_view,
    relation_phrase,
    relation_priors,
)
from .options import spread
from .viewsets import ViewSet

# a larger candidate pool than other families: facts that go against the usual relation of two
# categories are rare, and selection needs them to balance the usual ones
POOL_FACTOR = 20


MIXED = 2  # side code of a category that is mixed, undecided or on a visibility threshold


def side_table(ctx: TaskContext, f: int, axis: str) -> np.ndarray:
    """(n_categories, n_visible) int8 for view f: [c, k] = +1/-1 when every instance of
    category c (``ctx.by_category`` order) clearly visible in view f is on that side of the
    k-th visible object (``ctx.graph.views[f].ids`` order) beyond the margin, 0 when none is
    visible, ``MIXED`` when mixed, undecided or on a visibility threshold. Once per view and
    axis, from the view's sign matrix (``side_of`` is the per-pair reference)."""
    key = ("attribute.sides", f, axis)
    hit = ctx.memo.get(key)
    if hit is not None:
        return hit
    view = ctx.graph.views[f]
    signs = view.signs[axis]
    out = np.zeros((len(ctx.by_category), len(view.ids)), np.int8)
    for c, ids in enumerate(ctx.by_category.values()):
        states = [ctx.status(f, i) for i in ids]
        if "border" in states:
            out[c] = MIXED
            continue
        rows = [view.index(i) for i, st in zip(ids, states, strict=True) if st == "vis"]
        if not rows:
            continue
        if None in rows:  # clearly visible but not related in this view: undecided
            out[c] = MIXED
            continue
        block = signs[rows]
        pos, neg = (block > 0).any(0), (block < 0).any(0)
        out[c] = np.where(pos & ~neg, 1, np.where(neg & ~pos, -1, MIXED))
        out[c][(block == 0).any(0)] = MIXED
    ctx.memo[key] = out
    return out


def side_of(ctx: TaskContext, f: int, cat: str, b: int, axis: str) -> int | None:
    """Reference of one ``side_table`` entry: +1/-1 when every instance of ``cat`` visible
    in view f is on that side of b beyond the margin, 0 when none is visible, None when
    mixed, undecided or on a visibility threshold."""
    signs = set()
    for i in ctx.by_category[cat]:
        st = ctx.status(f, i)
        if st == "border":
            return None
        if st == "vis":
            signs.add(ctx.graph.relation(f, i, b, axis))
    if not signs:
        return 0
    if len(signs) == 1 and 0 not in signs:
        return signs.pop()
    return None


def _wrong_pool(ctx: TaskContext, f: int, cat_a: str, b: int, axis: str, s: int
                ) -> tuple[str, ...]:
    """Categories that are provably not <rel> b in view f: every visible instance on the other
    side beyond the margin, or none visible (never b's own category or the answer's)."""
    wrong = _could_be_wrong(side_table(ctx, f, axis)[:, ctx.graph.views[f].index(b)], s)
    cat_b = ctx.objects[b].category
    return tuple(
        c
        for c, w in zip(ctx.by_category, wrong.tolist(), strict=True)
        if w and c not in (cat_a, cat_b)
    )


def _could_be_wrong(sides: np.ndarray, s: int) -> np.ndarray:
    """bool mask of ``side_table`` entries whose category is provably not on side ``s``:
    every visible instance on the other side, or none visible."""
    return (sides == -s) | (sides == 0)


def _draft(ctx: TaskContext, vs: ViewSet, qtype: str, f: int, a: int, b: int, s: int) -> Draft:
    """The question "in Frame j, which object is <rel> b?" whose answer is a's category."""
    axis = qtype.rsplit("_", 1)[1]
    cat_a, cat_b = ctx.objects[a].category, ctx.objects[b].category
    return Draft(
        qtype=qtype,
        viewset=vs,
        fields={
            "frame": ctx.frame_label(vs, f),
            "b": ctx.name(f, b),
            "rel": relation_phrase(ctx, axis, s),
        },
        correct=cat_a,
        distractors=[],
        semantics={},
        targets=(a, b),
        coverage_categories=(cat_a, cat_b),
        named_frame=f,
        query={
            "frame": vs.frame_ids.index(f) + 1,
            "b": b,
            "axis": axis,
            "direction": direction_word(axis, s),
        },
        priors=(*relation_priors(ctx, f, a, b, axis, s), ("answer", cat_a)),
    )


def candidates(
    ctx: TaskContext, vs: ViewSet, qtype: str, rng: np.random.Generator
) -> dict[str, LazyDrafts]:
    axis = qtype.rsplit("_", 1)[1]
    segments = [((ctx, vs, qtype, f), needed_pairs(ctx, vs, f, _answerable(ctx, f, axis)))
                for f in vs.frame_ids]
    return {"": LazyDrafts(_draft, segments)}


def _answerable(ctx: TaskContext, f: int, axis: str) -> list[tuple[int, int, int]]:
    """The (a, b, sign) pairs of view f whose question has one answer (every visible
    instance of a's category on that side of b) and three wrong options; once per view."""
    key = ("attribute.pairs", f, axis)
    hit = ctx.memo.get(key)
    if hit is not None:
        return hit
    pairs = pairs_in_view(ctx, f, axis, named_a=False, coords_ok=True)
    hit = []
    if pairs:
        table = side_table(ctx, f, axis)
        sides = table.tolist()  # per pair, Python lists are read faster than the array
        view = ctx.graph.views[f]
        cat_row = {c: k for k, c in enumerate(ctx.by_category)}
        # per visible b: how many categories could be wrong options for each asked side (never
        # b's own: b is clearly visible and unrelated to itself, so its entry is MIXED)
        wrong_for = {s: _could_be_wrong(table, s).sum(0).tolist() for s in (1, -1)}
        for a, b, s in pairs:
            col = view.index(b)
            if sides[cat_row[ctx.objects[a].category]][col] == s and wrong_for[s][col] >= 3:
                hit.append((a, b, s))
    ctx.memo[key] = hit
    return hit


def arrange(ctx: TaskContext, drafts: list[Draft], rng: np.random.Generator) -> list[Draft]:
    """Three wrong options per selected draft.

    Two things a text-only model could learn are kept even. (1) Which categories usually lie
    on the asked side of B: each candidate is rated by ``TaskContext.side_rate``, and the
    correct category's rank r among the four ratings is spread evenly over the drafts
    (``spread``); the wrong options are r candidates rated below it and 3 - r above it
    (equal ratings fall on either side at random). (2) How often a category is the answer
    when offered: wrong options are taken first from the categories the least offered as wrong
    options relative to three times their number of correct answers among these drafts, so
    every category is right about once in four times it is offered.
    """
    plans = []
    for d in drafts:
        q = d.query
        f, b, axis = d.named_frame, q["b"], q["axis"]
        s = 1 if q["direction"] == direction_word(axis, 1) else -1
        pool = _wrong_pool(ctx, f, d.correct, b, axis, s)
        rate = {c: s * ctx.side_rate(c, b, axis) for c in [d.correct, *pool]}
        mine = rate[d.correct]
        jitter = {c: float(rng.random()) for c in pool}
        below = [c for c in pool if (rate[c], jitter[c]) < (mine, 0.5)]
        above = [c for c in pool if (rate[c], jitter[c]) > (mine, 0.5)]
        plans.append((below, above))
    allowed = [[(r,) for r in range(4) if len(lo) >= r and len(hi) >= 3 - r] for lo, hi in plans]
    picks = spread(allowed, rng)
    right = Counter(d.correct for d in drafts)
    wrong: Counter[str] = Counter()
    out = list(drafts)
    for i in rng.permutation(len(drafts)):
        d, (below, above) = drafts[int(i)], plans[int(i)]
        r = allowed[int(i)][picks[int(i)]][0]

        def need(c: str) -> tuple[int, float]:
            return (wrong[c] - 3 * right[c], float(rng.random()))

        chosen = sorted(below, key=need)[:r] + sorted(above, key=need)[: 3 - r]
        wrong.update(chosen)
        sem = {d.correct: {"category": d.correct, "satisfies": True}}
        sem.update({c: {"category": c, "satisfies": False} for c in chosen})
        out[int(i)] = replace(d, distractors=chosen, semantics=sem, features=(r,))
    return out
