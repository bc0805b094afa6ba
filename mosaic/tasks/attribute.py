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
    TaskContext,
    decided_pairs,
    direction_word,
    relation_phrase,
    relation_priors,
)
from .options import spread
from .viewsets import ViewSet

# a larger candidate pool than other families: facts that go against the usual relation of two
# categories are rare, and selection needs them to balance the usual ones
POOL_FACTOR = 20


def _side(ctx: TaskContext, f: int, cat: str, b: int, axis: str) -> int | None:
    """+1/-1 when every instance of ``cat`` visible in view f is on that side of b beyond the
    margin, 0 when none is visible, None when mixed, undecided or on a visibility threshold."""
    key = ("attribute.side", f, cat, b, axis)
    if key not in ctx.memo:
        ctx.memo[key] = _side_of(ctx, f, cat, b, axis)
    return ctx.memo[key]


def _side_of(ctx: TaskContext, f: int, cat: str, b: int, axis: str) -> int | None:
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
    key = ("attribute.wrong", f, cat_a, b, axis, s)
    if key not in ctx.memo:
        ctx.memo[key] = _wrong_pool_of(ctx, f, cat_a, b, axis, s)
    return ctx.memo[key]


def _wrong_pool_of(ctx: TaskContext, f: int, cat_a: str, b: int, axis: str, s: int
                   ) -> tuple[str, ...]:
    cat_b = ctx.objects[b].category
    out = []
    for c in ctx.by_category:
        if c in (cat_a, cat_b):
            continue
        v = _side(ctx, f, c, b, axis)
        if v == -s or v == 0:
            out.append(c)
    return tuple(out)


def candidates(ctx: TaskContext, vs: ViewSet, qtype: str, rng: np.random.Generator) -> list[Draft]:
    axis = qtype.rsplit("_", 1)[1]
    out: list[Draft] = []
    for f in vs.frame_ids:
        label = ctx.frame_label(vs, f)
        for a, b, s in decided_pairs(ctx, vs, f, axis, named_a=False, coords_ok=True):
            cat_a, cat_b = ctx.objects[a].category, ctx.objects[b].category
            if _side(ctx, f, cat_a, b, axis) != s:
                continue
            if len(_wrong_pool(ctx, f, cat_a, b, axis, s)) < 3:
                continue
            out.append(
                Draft(
                    qtype=qtype,
                    viewset=vs,
                    fields={
                        "frame": label,
                        "b": ctx.name(f, b),
                        "rel": relation_phrase(ctx, axis, s),
                    },
                    correct=cat_a,
                    distractors=[],
                    semantics={},
                    targets=(a, b),
                    category=cat_a,
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
            )
    return out


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
