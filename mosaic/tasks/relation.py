"""Object Relation family: ``obj_spatial_occ_{ab,fb,lr}`` (4 statements).

"In Frame j, where does A appear relative to B?" The question does not name the axis: the one
true statement is on the type's axis; the three false ones are its opposite and, on each other
axis, the statement opposite to the relation that holds there beyond the margin. So a pair is
used only when all three axes are decided in that view (no statement inside a margin is ever
offered).
"""

from __future__ import annotations

import numpy as np

from ..relations import AXES
from .context import Draft, TaskContext, decided_pairs, direction_word, relation_phrase
from .viewsets import ViewSet


def candidates(ctx: TaskContext, vs: ViewSet, qtype: str, rng: np.random.Generator) -> list[Draft]:
    axis = qtype.rsplit("_", 1)[1]
    others = [x for x in AXES if x != axis]
    out: list[Draft] = []
    for f in vs.frame_ids:
        label = ctx.frame_label(vs, f)
        for a, b, s in decided_pairs(ctx, vs, f, axis):
            other_signs = [ctx.graph.relation(f, a, b, x) for x in others]
            if 0 in other_signs:
                continue
            name_a, name_b = ctx.name(f, a), ctx.name(f, b)

            def stmt(ax: str, sign: int, name_a: str = name_a, name_b: str = name_b) -> str:
                return ctx.templates["statement"].format(
                    a=name_a, b=name_b, rel=relation_phrase(ctx, ax, sign)
                )

            correct = stmt(axis, s)
            wrong_specs = [(axis, -s)]
            wrong_specs += [(x, -sx) for x, sx in zip(others, other_signs, strict=True)]
            distractors = [stmt(x, sx) for x, sx in wrong_specs]
            sem = {correct: {"axis": axis, "direction": direction_word(axis, s), "true": True}}
            sem.update(
                {
                    stmt(x, sx): {"axis": x, "direction": direction_word(x, sx), "true": False}
                    for x, sx in wrong_specs
                }
            )
            out.append(
                Draft(
                    qtype=qtype,
                    viewset=vs,
                    fields={
                        "frame": label,
                        "a": name_a,
                        "b": name_b,
                    },
                    correct=correct,
                    distractors=distractors,
                    semantics=sem,
                    targets=(a, b),
                    category=ctx.objects[a].category,
                    coverage_categories=(ctx.objects[a].category, ctx.objects[b].category),
                    named_frame=f,
                    query={"frame": vs.frame_ids.index(f) + 1, "a": a, "b": b, "axis": axis},
                )
            )
    return out
