"""Object Count family: ``obj_count_occ`` (4 options) and ``obj_count_occ_na`` (number).

Answer: distinct instances of the category visible (``ObjectVisibility.visible``) in at least
one frame of the set; an instance seen in several frames counts once. A set/category pair is
used only when at least one counted instance is invisible in some frame of the set, every
counted instance is recognisable in some frame of the set (``TaskContext.recognisable``), and
no instance of the category sits on a visibility threshold in any frame.

Selection spreads the answers, overall and for each category, also per number of frames
(``Draft.priors``); a category
whose answer never changes in the scene (e.g. one the scene holds once, always 1, which a
text-only model learns from the category name) is asked about only when the others run out.

Options (``obj_count_occ``): four consecutive integers (>= 1) holding the answer; the answer's
rank among them is spread evenly over the selected items of a scene (``alternatives``), as far
as small answers allow, so an ordinal rule ("the 2nd smallest") points at it as little as the
answers allow.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .context import Draft, TaskContext
from .options import choose_alternatives, number_window
from .viewsets import ViewSet
from .wording import plural

# Answer classes taken in turn: counts that need several frames combined come before single
# instances (else most counts would be 1).
COUNT_CYCLE = (("cross", "multi", "cross", "single"), False)
CLASS_CYCLES = {"obj_count_occ": COUNT_CYCLE, "obj_count_occ_na": COUNT_CYCLE}


def counted_instances(ctx: TaskContext, vs: ViewSet, category: str) -> list[int]:
    """Instances of the category visible in at least one frame of the set."""
    return [i for i in ctx.by_category.get(category, []) if ctx.visible_frames(vs, i)]


def countable(ctx: TaskContext, vs: ViewSet, category: str) -> list[int]:
    """Counted instances of the category when a counting question over the set is sound, else [].

    Sound: something is counted, every counted instance is recognisable in some frame of the
    set, no instance sits on a visibility threshold in any frame, and the frames are needed
    (some counted instance is missing from some frame).
    """
    counted = counted_instances(ctx, vs, category)
    if not counted or not ctx.category_clear(vs, category):
        return []
    if not all(ctx.recognisable_in_set(vs, i) for i in counted):
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
        out.append(
            Draft(
                qtype=qtype,
                viewset=vs,
                fields={"category": cat, "categories": plural(cat)},
                correct=str(n),
                distractors=[],
                semantics={str(n): {"count": n}},
                targets=tuple(counted),
                coverage_categories=(cat,),
                answer_class=count_class(ctx, vs, counted),
                query={"category": cat, "count": n},
                priors=((cat, n), ((cat, len(vs.frame_ids)), n), ("count", min(n, 4))),
            )
        )
    return out


def alternatives(ctx: TaskContext, d: Draft, rng: np.random.Generator) -> list[Draft]:
    """Option sets of a selected multiple-choice draft: four consecutive counts with the answer
    at each possible rank (1 can only be the smallest); feature = that rank."""
    if d.qtype != "obj_count_occ":
        return [d]
    n = int(d.correct)
    out = []
    for r in range(min(n, 4)):
        values = number_window(n, r)
        out.append(
            replace(
                d,
                distractors=[str(v) for v in values if v != n],
                semantics={str(v): {"count": v} for v in values},
                features=(r,),
            )
        )
    return out


def arrange(ctx: TaskContext, drafts: list[Draft], rng: np.random.Generator) -> list[Draft]:
    """The selected drafts, each as the alternative that keeps the features even."""
    return choose_alternatives(ctx, drafts, rng, alternatives)
