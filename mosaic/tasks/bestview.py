"""Best-View Selection family: ``bestview_count_occ`` (4 options "N <category>; Frame j").

N is the number of distinct instances of the category visible across the set (as in Object
Count); the best frame is the one with the most visible instances, ties broken by total visible
pixels. A set is used only when the best frame is unique: a strictly larger count, or on a tie
a pixel total at least ``qa.bestview_px_tie_ratio`` times the runner-up's.
"""

from __future__ import annotations

import numpy as np

from .context import Draft, TaskContext
from .count import count_class, countable
from .viewsets import ViewSet


def best_frame(ctx: TaskContext, vs: ViewSet, category: str) -> int | None:
    """Frame id of the unique best view of the category in the set, or None."""
    ids = ctx.by_category.get(category, [])
    scores = []
    for f in vs.frame_ids:
        vis = [i for i in ids if ctx.visible(f, i)]
        px = sum(ctx.rec(f, i).visible_px for i in vis)
        scores.append((len(vis), px, f))
    scores.sort(reverse=True)
    (n1, p1, f1), (n2, p2, _) = scores[0], scores[1]
    if n1 == 0:
        return None
    if n1 > n2 or p1 >= ctx.qa.bestview_px_tie_ratio * max(p2, 1):
        return f1
    return None


def candidates(ctx: TaskContext, vs: ViewSet, qtype: str, rng: np.random.Generator) -> list[Draft]:
    out: list[Draft] = []
    tmpl = ctx.templates["bestview_option"]
    for cat in ctx.by_category:
        counted = countable(ctx, vs, cat)
        if not counted:
            continue
        best = best_frame(ctx, vs, cat)
        if best is None:
            continue
        n = len(counted)
        j = vs.frame_ids.index(best) + 1

        def text(count: int, frame_no: int, cat: str = cat) -> str:
            return tmpl.format(n=count, category=cat, frame=f"Frame {frame_no}")

        others = [k for k in range(1, len(vs.frame_ids) + 1) if k != j]
        near = [m for m in (n - 1, n + 1, n + 2) if m >= 1]
        pool = [(n, int(rng.choice(others)))]  # right count, wrong frame
        pool.append((int(rng.choice(near)), j))  # right frame, wrong count
        rest = [(m, k) for m in near for k in others]
        rest += [(n, k) for k in others] + [(m, j) for m in near]
        rest = [p for p in rest if p not in pool]
        for i in rng.permutation(len(rest)):
            if len(pool) == 3:
                break
            pool.append(rest[int(i)])
        if len(pool) < 3:
            continue
        correct = text(n, j)
        distractors = [text(m, k) for m, k in pool]
        sem = {correct: {"count": n, "frame": j}}
        sem.update({text(m, k): {"count": m, "frame": k} for m, k in pool})
        out.append(
            Draft(
                qtype=qtype,
                viewset=vs,
                fields={"category": cat},
                correct=correct,
                distractors=distractors,
                semantics=sem,
                targets=tuple(counted),
                category=cat,
                coverage_categories=(cat,),
                answer_class=count_class(ctx, vs, counted),
                query={"category": cat, "count": n, "best_frame": j},
            )
        )
    return out
