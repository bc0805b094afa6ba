"""Object Localization family: ``obj_localization_occ`` (3 "Yes; (x,y)" + "No") and
``obj_localization_occ_na`` ("(x,y)").

"Yes": exactly one instance of the category is visible in Frame j (every other instance is
clearly invisible there); its ``center_visible`` (integer original pixels) is the answer, and
wrong coordinates lie at least ``qa.loc_min_wrong_diag`` diagonals of its visible box away.
"No": the category is visible elsewhere in the set but no instance is visible in Frame j.
"""

from __future__ import annotations

import math

import numpy as np

from .context import Draft, TaskContext
from .viewsets import ViewSet

# Wrong points: drawn inside the image at least this far (original pixels) from the border.
BORDER_PX = 8
POINT_TRIES = 200


def _point_text(ctx: TaskContext, x: int, y: int) -> str:
    return ctx.templates["localization_yes"].format(x=x, y=y)


def wrong_points(
    ctx: TaskContext,
    frame_id: int,
    n: int,
    rng: np.random.Generator,
    avoid: tuple[int, int] | None,
    min_dist: float,
) -> list[tuple[int, int]] | None:
    """``n`` distinct integer points inside the image, each >= ``min_dist`` from ``avoid``
    and from each other (so no two wrong options are near-duplicates)."""
    frame = ctx.scene.frame(frame_id)
    pts: list[tuple[int, int]] = []
    spread = max(min_dist, 0.05 * math.hypot(frame.width, frame.height))
    for _ in range(POINT_TRIES):
        x = int(rng.integers(BORDER_PX, frame.width - BORDER_PX))
        y = int(rng.integers(BORDER_PX, frame.height - BORDER_PX))
        if avoid is not None and math.hypot(x - avoid[0], y - avoid[1]) < min_dist:
            continue
        if any(math.hypot(x - p[0], y - p[1]) < spread for p in pts):
            continue
        pts.append((x, y))
        if len(pts) == n:
            return pts
    return None


def candidates(ctx: TaskContext, vs: ViewSet, qtype: str, rng: np.random.Generator) -> list[Draft]:
    out: list[Draft] = []
    mc = qtype == "obj_localization_occ"
    for f in vs.frame_ids:
        label = ctx.frame_label(vs, f)
        for cat, ids in ctx.by_category.items():
            st = {i: ctx.status(f, i) for i in ids}
            if any(s == "border" for s in st.values()):
                continue
            shown = [i for i, s in st.items() if s == "vis"]
            if len(shown) == 1:
                d = _present(ctx, vs, f, label, cat, shown[0], qtype, mc, rng)
                if d is not None:
                    out.append(d)
            elif not shown and mc:
                d = _absent(ctx, vs, f, label, cat, ids, qtype, rng)
                if d is not None:
                    out.append(d)
    return out


def _present(ctx, vs, f, label, cat, iid, qtype, mc, rng) -> Draft | None:
    if not ctx.frames_needed(vs, [iid], f):
        return None
    rec = ctx.rec(f, iid)
    x0, y0, x1, y1 = (float(v) for v in rec.bbox_visible)
    diag = math.hypot(x1 - x0, y1 - y0)
    cx, cy = ctx.center_int(f, iid)
    answer_pt = f"({cx},{cy})"
    distractors: list[str] = []
    sem: dict = {}
    if mc:
        # rounding moves the true centre by < 1 px; keep wrong points clear of that too
        min_dist = ctx.qa.loc_min_wrong_diag * diag + 2.0
        pts = wrong_points(ctx, f, 2, rng, (cx, cy), min_dist)
        if pts is None:
            return None
        correct = _point_text(ctx, cx, cy)
        distractors = [_point_text(ctx, x, y) for x, y in pts] + [ctx.templates["localization_no"]]
        sem = {correct: {"present": True, "point": [cx, cy]}}
        sem.update({_point_text(ctx, x, y): {"present": True, "point": [x, y]} for x, y in pts})
        sem[ctx.templates["localization_no"]] = {"present": False}
    else:
        correct = answer_pt
    return Draft(
        qtype=qtype,
        viewset=vs,
        fields={"category": cat, "art": ctx.article(cat), "frame": label},
        correct=correct,
        distractors=distractors,
        semantics=sem,
        targets=(iid,),
        category=cat,
        coverage_categories=(cat,),
        answer_class="present",
        named_frame=f,
        bbox_2d=(x0, y0, x1, y1),
        query={"category": cat, "frame": vs.frame_ids.index(f) + 1, "point": [cx, cy]},
    )


def _absent(ctx, vs, f, label, cat, ids, qtype, rng) -> Draft | None:
    elsewhere = [i for i in ids if any(ctx.status(g, i) == "vis" for g in vs.frame_ids)]
    if not elsewhere or not ctx.category_clear(vs, cat):
        return None
    pts = wrong_points(ctx, f, 3, rng, None, 0.0)
    if pts is None:
        return None
    no = ctx.templates["localization_no"]
    distractors = [_point_text(ctx, x, y) for x, y in pts]
    sem = {no: {"present": False}}
    sem.update({_point_text(ctx, x, y): {"present": True, "point": [x, y]} for x, y in pts})
    return Draft(
        qtype=qtype,
        viewset=vs,
        fields={"category": cat, "art": ctx.article(cat), "frame": label},
        correct=no,
        distractors=distractors,
        semantics=sem,
        targets=tuple(elsewhere),
        category=cat,
        coverage_categories=(cat,),
        answer_class="absent",
        named_frame=f,
        query={"category": cat, "frame": vs.frame_ids.index(f) + 1, "point": None},
    )
