"""Best-View Selection family: ``bestview_count_occ`` (4 options "N <categories>; Frame j").

N is the number of distinct instances of the category visible across the set (as in Object
Count, same soundness rules). The question states its criterion: the best frame is the one in
which the most of them are visible. A set is used only when that frame is unique beyond doubt:
the number of instances *recognisable* in it (``TaskContext.recognisable``) exceeds the number
*visible* in every other frame, so no frame ties with it even if a sliver of an object in the
best frame were not counted.

Options: the 2 x 2 grid {N, N'} x {Frame j, Frame j'}, N' = N - 1 or N + 1 (a count the scene
can show: between 1 and its number of instances, or 2 for a category it holds once), j'
another frame of the set. Every count and every frame appears in exactly two options, so no
part of the correct option recurs more often than a wrong one's; whether N is the larger count
(for each pair of counts shown) and j the larger frame number is spread evenly over the
selected items of a scene (``alternatives``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .context import Draft, TaskContext
from .count import COUNT_CYCLE, count_class, countable
from .options import choose_alternatives
from .viewsets import ViewSet
from .wording import counted, plural

CLASS_CYCLES = {"bestview_count_occ": COUNT_CYCLE}  # as counting


def best_frame(ctx: TaskContext, vs: ViewSet, category: str) -> int | None:
    """Frame id of the unique best view of the category in the set, or None.

    Best: the most instances visible. Unique: its count of recognisable instances is larger
    than the count of visible instances of every other frame.
    """
    ids = ctx.by_category.get(category, [])
    seen = {f: sum(ctx.visible(f, i) for i in ids) for f in vs.frame_ids}
    best = max(vs.frame_ids, key=lambda f: (seen[f], -vs.frame_ids.index(f)))
    sure = sum(ctx.recognisable(best, i) for i in ids)
    if sure == 0 or any(seen[f] >= sure for f in vs.frame_ids if f != best):
        return None
    return best


def _text(ctx: TaskContext, cat: str, n: int, frame_no: int) -> str:
    return ctx.templates["bestview_option"].format(
        count=counted(n, cat), frame=f"Frame {frame_no}"
    )


def candidates(ctx: TaskContext, vs: ViewSet, qtype: str, rng: np.random.Generator) -> list[Draft]:
    out: list[Draft] = []
    for cat in ctx.by_category:
        found = countable(ctx, vs, cat)
        if not found:
            continue
        best = best_frame(ctx, vs, cat)
        if best is None:
            continue
        n = len(found)
        j = vs.frame_ids.index(best) + 1
        out.append(
            Draft(
                qtype=qtype,
                viewset=vs,
                fields={"category": cat, "categories": plural(cat)},
                correct=_text(ctx, cat, n, j),
                distractors=[],
                semantics={},
                targets=tuple(found),
                coverage_categories=(cat,),
                answer_class=count_class(ctx, vs, found),
                query={"category": cat, "count": n, "best_frame": j},
                priors=((cat, n), ("count", min(n, 3))),
            )
        )
    return out


def alternatives(ctx: TaskContext, d: Draft, rng: np.random.Generator) -> list[Draft]:
    """The 2 x 2 option grids of a selected draft, one per choice of N' and j'; features =
    (the smaller of the two counts and whether N is the larger, j is the larger frame number),
    so that for each pair of counts shown each is the answer as often as the other."""
    q = d.query
    cat, n, j = q["category"], q["count"], q["best_frame"]
    n_max = max(2, len(ctx.by_category[cat]))
    out = []
    for other_n in (n - 1, n + 1):
        if not 1 <= other_n <= n_max:
            continue
        for other_j in range(1, len(d.viewset.frame_ids) + 1):
            if other_j == j:
                continue
            grid = [(m, fr) for m in (n, other_n) for fr in (j, other_j)]
            out.append(
                replace(
                    d,
                    distractors=[_text(ctx, cat, m, fr) for m, fr in grid if (m, fr) != (n, j)],
                    semantics={
                        _text(ctx, cat, m, fr): {"count": m, "frame": fr} for m, fr in grid
                    },
                    features=((min(n, other_n), int(n > other_n)), int(j > other_j)),
                )
            )
    return out


def arrange(ctx: TaskContext, drafts: list[Draft], rng: np.random.Generator) -> list[Draft]:
    """The selected drafts, each as the alternative that keeps the features even."""
    return choose_alternatives(ctx, drafts, rng, alternatives)
