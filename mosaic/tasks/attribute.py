"""Object Attribute family: ``obj_attribute_occ_{ab,fb,lr}`` (4 category names).

"In Frame j, which object appears <rel> B?" Exactly one option satisfies the relation: every
visible instance of the correct category is <rel> B beyond the margin. Each wrong option is a
category whose every visible instance in Frame j is on the other side of B beyond the margin,
or which has no instance visible in Frame j (those seen elsewhere in the set first, as they
are the plausible ones). Categories with an instance on a visibility threshold in Frame j are
never options.
"""

from __future__ import annotations

import numpy as np

from .context import Draft, TaskContext, decided_pairs, direction_word, relation_phrase
from .viewsets import ViewSet


def _side(ctx: TaskContext, f: int, cat: str, b: int, axis: str) -> int | None:
    """+1/-1 when every instance of ``cat`` visible in view f is on that side of b beyond the
    margin, 0 when none is visible, None when mixed, undecided or on a visibility threshold."""
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


def candidates(ctx: TaskContext, vs: ViewSet, qtype: str, rng: np.random.Generator) -> list[Draft]:
    axis = qtype.rsplit("_", 1)[1]
    out: list[Draft] = []
    in_set = {c for c, ids in ctx.by_category.items() for i in ids if ctx.visible_frames(vs, i)}
    for f in vs.frame_ids:
        label = ctx.frame_label(vs, f)
        sides: dict[int, dict[str, int | None]] = {}
        for a, b, s in decided_pairs(ctx, vs, f, axis):
            cat_a, cat_b = ctx.objects[a].category, ctx.objects[b].category
            if b not in sides:
                sides[b] = {c: _side(ctx, f, c, b, axis) for c in ctx.by_category if c != cat_b}
            side = sides[b]
            if side.get(cat_a) != s:
                continue
            opposite = [c for c, v in side.items() if v == -s]
            absent = [c for c, v in side.items() if v == 0]
            absent_seen = [c for c in absent if c in in_set]
            absent_other = [c for c in absent if c not in in_set]
            wrong: list[str] = []
            for group in (opposite + absent_seen, absent_other):
                for i in rng.permutation(len(group)):
                    if len(wrong) < 3:
                        wrong.append(group[int(i)])
            if len(wrong) < 3:
                continue
            sem = {cat_a: {"category": cat_a, "satisfies": True}}
            sem.update({c: {"category": c, "satisfies": False} for c in wrong})
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
                    distractors=wrong,
                    semantics=sem,
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
                )
            )
    return out
