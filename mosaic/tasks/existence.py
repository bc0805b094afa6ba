"""Object Existence family: ``obj_existence_occ_{ab,fb,lr}`` (Yes/No).

"In Frame j, does A appear <rel> B?" for a pair whose relation on the axis is decided beyond
the margin; "Yes" asks the true direction, "No" the opposite one. Options are always
("Yes", "No"); the generator draws yes and no answers alternately so they are balanced.

A text-only model can learn which of two categories is usually above (or in front of) the
other; selection spreads the facts a question rests on (``context.relation_priors``) so that
this knowledge is right about as often as it is wrong, and the two objects are written in the
order that spreads the asked direction over yes and no answers (``alternatives``).
"""

from __future__ import annotations

import numpy as np

from .context import (
    Draft,
    LazyDrafts,
    TaskContext,
    decided_pairs,
    direction_word,
    relation_phrase,
    relation_priors,
)
from .options import choose_alternatives
from .viewsets import ViewSet

# yes and no strictly alternating
CLASS_CYCLES = {t: (("yes", "no"), True)
                for t in ("obj_existence_occ_ab", "obj_existence_occ_fb", "obj_existence_occ_lr")}

YES, NO = "Yes", "No"

# a larger candidate pool than other families: facts that go against the usual relation of two
# categories are rare, and selection needs them to balance the usual ones
POOL_FACTOR = 20


def _draft(
    ctx: TaskContext, vs: ViewSet, qtype: str, f: int, a: int, b: int, s: int, asked: int
) -> Draft:
    """The question "in Frame j, is a <asked direction> b?" for a pair with relation sign s."""
    axis = qtype.rsplit("_", 1)[1]
    correct, wrong = (YES, NO) if asked == s else (NO, YES)
    return Draft(
        qtype=qtype,
        viewset=vs,
        fields={
            "frame": ctx.frame_label(vs, f),
            "a": ctx.name(f, a),
            "b": ctx.name(f, b),
            "rel": relation_phrase(ctx, axis, asked),
        },
        correct=correct,
        distractors=[wrong],
        semantics={YES: {"holds": True}, NO: {"holds": False}},
        targets=(a, b),
        coverage_categories=(ctx.objects[a].category, ctx.objects[b].category),
        answer_class="yes" if asked == s else "no",
        named_frame=f,
        query={
            "frame": vs.frame_ids.index(f) + 1,
            "a": a,
            "b": b,
            "axis": axis,
            "direction": direction_word(axis, asked),
        },
        priors=relation_priors(ctx, f, a, b, axis, s),
        features=(0 if asked > 0 else 1,),
        fact=(f, frozenset((a, b)), asked == s),
    )


def candidates(
    ctx: TaskContext, vs: ViewSet, qtype: str, rng: np.random.Generator
) -> dict[str, LazyDrafts]:
    """Every decided pair of every view of the set, asked in its true direction ("yes") and
    in the opposite one ("no")."""
    axis = qtype.rsplit("_", 1)[1]
    segments = [((ctx, vs, qtype, f), decided_pairs(ctx, vs, f, axis)) for f in vs.frame_ids]
    return {"yes": LazyDrafts(_draft_yes, segments), "no": LazyDrafts(_draft_no, segments)}


def _draft_yes(ctx: TaskContext, vs: ViewSet, qtype: str, f: int, a: int, b: int, s: int
               ) -> Draft:
    return _draft(ctx, vs, qtype, f, a, b, s, s)


def _draft_no(ctx: TaskContext, vs: ViewSet, qtype: str, f: int, a: int, b: int, s: int
              ) -> Draft:
    return _draft(ctx, vs, qtype, f, a, b, s, -s)


def alternatives(ctx: TaskContext, d: Draft, rng: np.random.Generator) -> list[Draft]:
    """The question as drafted and with the two objects swapped ("is b <opposite> a?", same
    answer); feature = whether the asked direction is left/above/closer, so the direction
    word says nothing about the answer."""
    q = d.query
    f, a, b = d.named_frame, q["a"], q["b"]
    s = ctx.graph.relation(f, a, b, q["axis"])
    asked = 1 if q["direction"] == direction_word(q["axis"], 1) else -1
    return [d, _draft(ctx, d.viewset, d.qtype, f, b, a, -s, -asked)]


def arrange(ctx: TaskContext, drafts: list[Draft], rng: np.random.Generator) -> list[Draft]:
    """The selected drafts, each as the alternative that keeps the features even."""
    return choose_alternatives(ctx, drafts, rng, alternatives)
