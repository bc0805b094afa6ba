"""Object Count family: ``obj_count_occ`` (4 options) and ``obj_count_occ_na`` (number).

Answer: distinct instances of the category visible (``ObjectVisibility.visible``) in at least
one frame of the set; an instance seen in several frames counts once. A set/category pair is
used only when at least one counted instance is invisible in some frame of the set, and no
instance of the category sits on a visibility threshold in any frame.
"""

from __future__ import annotations

import numpy as np

from .context import Draft, TaskContext
from .options import wrong_numbers
from .viewsets import ViewSet


def counted_instances(ctx: TaskContext, vs: ViewSet, category: str) -> list[int]:
    """Instances of the category visible in at least one frame of the set."""
    return [i for i in ctx.by_category.get(category, []) if ctx.visible_frames(vs, i)]


def countable(ctx: TaskContext, vs: ViewSet, category: str) -> list[int]:
    """Counted instances of the category when a counting question over the set is sound, else [].

    Sound: something is counted, no instance sits on a visibility threshold in any frame, and
    the frames are needed (some counted instance is missing from some frame).
    """
    counted = counted_instances(ctx, vs, category)
    if not counted or not ctx.category_clear(vs, category):
        return []
    if not any(len(ctx.visible_frames(vs, i)) < len(vs.frame_ids) for i in counted):
        return []
    return counted


def count_class(ctx: TaskContext, vs: ViewSet, counted: list[int]) -> str:
    """``cross`` when no single frame shows every counted instance (the frames must be
    combined), ``multi`` for several instances one frame shows together, ``single`` for one."""
    if len(counted) == 1:
        return "single"
    best = max(sum(ctx.visible(f, i) for i in counted) for f in vs.frame_ids)
    return "cross" if best < len(counted) else "multi"


def candidates(ctx: TaskContext, vs: ViewSet, qtype: str, rng: np.random.Generator) -> list[Draft]:
    out: list[Draft] = []
    for cat in ctx.by_category:
        counted = countable(ctx, vs, cat)
        if not counted:
            continue
        n = len(counted)
        distractors = (
            [str(v) for v in wrong_numbers(n, 3, rng)] if qtype == "obj_count_occ" else []
        )
        sem = {str(n): {"count": n}}
        sem.update({d: {"count": int(d)} for d in distractors})
        out.append(
            Draft(
                qtype=qtype,
                viewset=vs,
                fields={"category": cat},
                correct=str(n),
                distractors=distractors,
                semantics=sem,
                targets=tuple(counted),
                category=cat,
                coverage_categories=(cat,),
                answer_class=count_class(ctx, vs, counted),
                query={"category": cat, "count": n},
            )
        )
    return out
