"""Object Existence family: ``obj_existence_occ_{ab,fb,lr}`` (Yes/No).

"In Frame j, does A appear <rel> B?" for a pair whose relation on the axis is decided beyond
the margin; "Yes" asks the true direction, "No" the opposite one. Options are always
("Yes", "No"); the generator draws yes and no answers alternately so they are balanced.
"""

from __future__ import annotations

import numpy as np

from .context import Draft, TaskContext, decided_pairs, direction_word, relation_phrase
from .viewsets import ViewSet

YES, NO = "Yes", "No"


def candidates(ctx: TaskContext, vs: ViewSet, qtype: str, rng: np.random.Generator) -> list[Draft]:
    axis = qtype.rsplit("_", 1)[1]
    out: list[Draft] = []
    for f in vs.frame_ids:
        label = ctx.frame_label(vs, f)
        for a, b, s in decided_pairs(ctx, vs, f, axis):
            for asked, cls in ((s, "yes"), (-s, "no")):
                correct, wrong = (YES, NO) if cls == "yes" else (NO, YES)
                out.append(
                    Draft(
                        qtype=qtype,
                        viewset=vs,
                        fields={
                            "frame": label,
                            "a": ctx.name(f, a),
                            "b": ctx.name(f, b),
                            "rel": relation_phrase(ctx, axis, asked),
                        },
                        correct=correct,
                        distractors=[wrong],
                        semantics={YES: {"holds": True}, NO: {"holds": False}},
                        targets=(a, b),
                        category=ctx.objects[a].category,
                        coverage_categories=(ctx.objects[a].category, ctx.objects[b].category),
                        answer_class=cls,
                        named_frame=f,
                        query={
                            "frame": vs.frame_ids.index(f) + 1,
                            "a": a,
                            "b": b,
                            "axis": axis,
                            "direction": direction_word(axis, asked),
                        },
                    )
                )
    return out
