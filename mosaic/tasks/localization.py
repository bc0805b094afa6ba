"""Object Localization family: ``obj_localization_occ`` (3 "Yes; (x,y)" + "No") and
``obj_localization_occ_na`` ("(x,y)").

"Yes": exactly one instance of the category is visible in Frame j (every other instance is
clearly invisible there) and it is recognisable there; the answer is ``TaskContext.anchor``,
a point on a visible pixel of it at the middle of its visible part (integer original-frame
pixels; the question states the frame's pixel grid). "No": the category is visible elsewhere
in the set but no instance is visible in Frame j.

Wrong points (multiple choice) are near the answer yet never earn credit: the answer and the
wrong points are three corners of a square, rotated at random, whose side is drawn between
``qa.loc_wrong_diag`` diagonals of the target's visible box (plus rounding). A wrong point is
therefore at least 1.5 diagonals away, beyond 1.4, the largest threshold of point scoring, so
it scores 0 as a point answer and lies off the target (outside its visible box). Which corners
are shown is random, so neither the image centre, nor the point nearest the others, nor the
centroid of the points singles out the answer; among random layouts, the one used spreads the
answer's rank (by distance to the image centre, by x, by y, by distance to where the category
usually appears) evenly over the selected items (``alternatives``), since a target near the
image border leaves only layouts that extend inwards. "No" items show the same construction
around a point on another object of the frame, scaled by that object's box, so the points of a
"No" item look like those of a "Yes" item.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..structures import Frame
from .context import Draft, LazyDrafts, TaskContext
from .options import choose_alternatives
from .viewsets import ViewSet
from .wording import article

# one "No" in four
CLASS_CYCLES = {"obj_localization_occ": (("present", "present", "present", "absent"), False)}

# Points stay at least this far (original pixels) inside the image border.
BORDER_PX = 8
POINT_TRIES = 200
FIRST_TRIES = 8  # ``square_points`` tests these draws before the rest
# wrong-point layouts drawn per selected item (``alternatives``)
ALTERNATIVES = 24
# rounding to integer pixels moves a point by < 1 px; distances keep this much margin
ROUND_PX = 2.0


def _point_text(ctx: TaskContext, x: int, y: int) -> str:
    return ctx.templates["localization_yes"].format(x=x, y=y)


def _square_draws(ctx: TaskContext, frame_id: int, diag: float, rng: np.random.Generator
                  ) -> tuple[Frame, np.ndarray, np.ndarray]:
    """The frame, and ``POINT_TRIES`` square sides (pixels) and rotations (radians)."""
    lo, hi = ctx.qa.loc_wrong_diag
    side = rng.uniform(lo, hi, POINT_TRIES) * diag + ROUND_PX
    theta = rng.uniform(0.0, 2.0 * math.pi, POINT_TRIES)
    return ctx.scene.frame(frame_id), side, theta


def square_points(
    ctx: TaskContext,
    frame_id: int,
    corner: tuple[int, int],
    diag: float,
    rng: np.random.Generator,
) -> list[tuple[int, int]] | None:
    """Two corners of a random square that has ``corner`` as its third corner.

    The side is drawn between ``qa.loc_wrong_diag`` times ``diag`` (plus ``ROUND_PX``), the
    rotation uniformly; the three other corners must lie inside the image (``BORDER_PX``
    margin). Returns None when none of ``POINT_TRIES`` draws fits.

    The same arithmetic as ``square_points_reference`` with fewer array operations, on the
    first ``FIRST_TRIES`` draws before the others (it is called for every localization
    candidate).
    """
    frame, side, theta = _square_draws(ctx, frame_id, diag, rng)
    # the first fitting draw is nearly always among the first few: test those alone first
    for lo, hi in ((0, FIRST_TRIES), (FIRST_TRIES, POINT_TRIES)):
        ux, uy = np.cos(theta[lo:hi]) * side[lo:hi], np.sin(theta[lo:hi]) * side[lo:hi]
        # rows: u, u + v, v, with v = u turned by 90 degrees = (-uy, ux)
        xs = np.rint(np.array([ux, ux + -uy, -uy]) + float(corner[0]))
        ys = np.rint(np.array([uy, uy + ux, ux]) + float(corner[1]))
        inside = ((xs >= BORDER_PX) & (xs < frame.width - BORDER_PX) & (ys >= BORDER_PX)
                  & (ys < frame.height - BORDER_PX)).all(axis=0)
        first = int(inside.argmax())
        if inside[first]:
            keep = rng.permutation(3)[:2]
            return [(int(xs[k, first]), int(ys[k, first])) for k in keep]
    return None


def square_points_reference(
    ctx: TaskContext,
    frame_id: int,
    corner: tuple[int, int],
    diag: float,
    rng: np.random.Generator,
) -> list[tuple[int, int]] | None:
    """``square_points`` written plainly, as stacked point arrays (the reference of its parity
    test)."""
    frame, side, theta = _square_draws(ctx, frame_id, diag, rng)
    u = np.stack([np.cos(theta), np.sin(theta)], axis=1) * side[:, None]
    v = np.stack([-u[:, 1], u[:, 0]], axis=1)  # u turned by 90 degrees
    others = np.stack([u, u + v, v], axis=1) + np.asarray(corner, dtype=np.float64)
    pts = np.rint(others).astype(np.int64)  # (tries, 3, 2)
    inside = (
        (pts[..., 0] >= BORDER_PX)
        & (pts[..., 0] < frame.width - BORDER_PX)
        & (pts[..., 1] >= BORDER_PX)
        & (pts[..., 1] < frame.height - BORDER_PX)
    ).all(axis=1)
    ok = np.flatnonzero(inside)
    if ok.size == 0:
        return None
    keep = rng.permutation(3)[:2]
    return [(int(pts[ok[0], k, 0]), int(pts[ok[0], k, 1])) for k in keep]


def _ranks(pts: list[tuple[int, int]], key) -> int:
    """Rank of pts[0] among the points under ``key`` (0 = smallest; ties count as larger)."""
    mine = key(pts[0])
    return sum(key(p) < mine for p in pts[1:])


def typical_position(ctx: TaskContext, category: str) -> tuple[float, float]:
    """Mean visible-box centre of the category over the scene's views, as a share of the
    image width and height (0.5, 0.5 when never visible): where a text-only model would
    expect the category in a frame."""
    pts = []
    for f, v in ctx.views.items():
        frame = ctx.scene.frame(f)
        for i in ctx.by_category.get(category, []):
            r = v.get(i)
            if r is not None and r.visible:
                pts.append((r.center_visible[0] / frame.width, r.center_visible[1] / frame.height))
    if not pts:
        return 0.5, 0.5
    return float(np.mean([p[0] for p in pts])), float(np.mean([p[1] for p in pts]))


def alternatives(ctx: TaskContext, d: Draft, rng: np.random.Generator) -> list[Draft]:
    """Wrong-point layouts of a selected multiple-choice "Yes" draft (``ALTERNATIVES`` random
    squares); features = the answer's rank among the three points by distance to the image
    centre, by x, by y and by distance to where the category usually appears, so that none of
    these orders points at the answer more often than at a wrong point."""
    if d.qtype != "obj_localization_occ" or d.answer_class != "present":
        return [d]
    f = d.named_frame
    frame = ctx.scene.frame(f)
    truth = tuple(d.query["point"])
    tx, ty = typical_position(ctx, d.query["category"])
    tx, ty = tx * frame.width, ty * frame.height
    cx, cy = frame.width / 2.0, frame.height / 2.0
    no = ctx.templates["localization_no"]
    out = []
    for _ in range(ALTERNATIVES):
        pts = square_points(ctx, f, truth, _diag(d.bbox_2d), rng)
        if pts is None:
            continue
        shown = [truth, *pts]
        features = (
            _ranks(shown, lambda p: math.hypot(p[0] - cx, p[1] - cy)),
            _ranks(shown, lambda p: p[0]),
            _ranks(shown, lambda p: p[1]),
            _ranks(shown, lambda p: math.hypot(p[0] - tx, p[1] - ty)),
        )
        sem = {d.correct: {"present": True, "point": list(truth)}}
        sem.update({_point_text(ctx, x, y): {"present": True, "point": [x, y]} for x, y in pts})
        sem[no] = {"present": False}
        distractors = [_point_text(ctx, x, y) for x, y in pts] + [no]
        out.append(replace(d, distractors=distractors, semantics=sem, features=features))
    return out or [d]


def candidates(
    ctx: TaskContext, vs: ViewSet, qtype: str, rng: np.random.Generator
) -> dict[str, LazyDrafts]:
    """"present" and "absent" candidates of every frame of the set. What draws from ``rng``
    (the wrong points, the host of an "absent" item) is decided here for every candidate, in
    order; the drafts themselves are written only for the few drawn (``LazyDrafts``)."""
    present: list[tuple[tuple, list[tuple]]] = []
    absent: list[tuple[tuple, list[tuple]]] = []
    mc = qtype == "obj_localization_occ"
    for f in vs.frame_ids:
        head = (ctx, vs, qtype, f, ctx.frame_label(vs, f))
        present_f: list[tuple] = []
        absent_f: list[tuple] = []
        for cat, ids in ctx.by_category.items():
            st = {i: ctx.status(f, i) for i in ids}
            if any(s == "border" for s in st.values()):
                continue
            shown = [i for i, s in st.items() if s == "vis"]
            if len(shown) == 1:
                found = _present(ctx, vs, f, cat, shown[0], mc, rng)
                if found is not None:
                    present_f.append(found)
            elif not shown and mc:
                found = _absent(ctx, vs, f, cat, ids, rng)
                if found is not None:
                    absent_f.append(found)
        present.append((head, present_f))
        absent.append((head, absent_f))
    return {"present": LazyDrafts(_present_draft, present),
            "absent": LazyDrafts(_absent_draft, absent)}


def _diag(box: tuple[float, float, float, float]) -> float:
    return math.hypot(box[2] - box[0], box[3] - box[1])


def _present(ctx, vs, f, cat, iid, mc, rng) -> tuple | None:
    """(category, instance, answer point, visible box, wrong points) of a "present"
    candidate, or None; the wrong points (multiple choice) are drawn here."""
    if not ctx.recognisable(f, iid) or not ctx.frames_needed(vs, [iid], f):
        return None
    rec = ctx.rec(f, iid)
    box = tuple(float(v) for v in rec.bbox_visible)
    point = ctx.anchor(f, iid)
    pts = None
    if mc:
        pts = square_points(ctx, f, point, _diag(box), rng)
        if pts is None:
            return None
    return cat, iid, point, box, pts


def _present_draft(ctx, vs, qtype, f, label, cat, iid, point, box, pts) -> Draft:
    ax, ay = point
    distractors: list[str] = []
    sem: dict = {}
    if pts is not None:
        correct = _point_text(ctx, ax, ay)
        no = ctx.templates["localization_no"]
        distractors = [_point_text(ctx, x, y) for x, y in pts] + [no]
        sem = {correct: {"present": True, "point": [ax, ay]}}
        sem.update({_point_text(ctx, x, y): {"present": True, "point": [x, y]} for x, y in pts})
        sem[no] = {"present": False}
    else:
        correct = f"({ax},{ay})"
    return Draft(
        qtype=qtype,
        viewset=vs,
        fields={"category": cat, "art": article(cat), "frame": label},
        correct=correct,
        distractors=distractors,
        semantics=sem,
        targets=(iid,),
        coverage_categories=(cat,),
        answer_class="present",
        named_frame=f,
        bbox_2d=box,
        query={"category": cat, "frame": vs.frame_ids.index(f) + 1, "point": [ax, ay]},
    )


def _absent(ctx, vs, f, cat, ids, rng) -> tuple | None:
    """(category, instances visible elsewhere in the set, the points shown) of an "absent"
    candidate, or None; the host object and the points are drawn here."""
    elsewhere = [i for i in ids if any(ctx.status(g, i) == "vis" for g in vs.frame_ids)]
    if not elsewhere or not ctx.category_clear(vs, cat):
        return None
    # the points of a "No" item are built like a "Yes" item's, around another object
    key = ("localization.hosts", f)
    others = ctx.memo.get(key)
    if others is None:
        others = ctx.memo[key] = [i for i in ctx.frame_ids_in(f) if ctx.recognisable(f, i)]
    if not others:
        return None
    host = others[int(rng.integers(len(others)))]
    corner = ctx.anchor(f, host)
    pts = square_points(ctx, f, corner, _diag(ctx.rec(f, host).bbox_visible), rng)
    if pts is None:
        return None
    pts = [corner, *pts]
    return cat, tuple(elsewhere), [pts[int(i)] for i in rng.permutation(3)]


def _absent_draft(ctx, vs, qtype, f, label, cat, elsewhere, pts) -> Draft:
    no = ctx.templates["localization_no"]
    distractors = [_point_text(ctx, x, y) for x, y in pts]
    sem = {no: {"present": False}}
    sem.update({_point_text(ctx, x, y): {"present": True, "point": [x, y]} for x, y in pts})
    return Draft(
        qtype=qtype,
        viewset=vs,
        fields={"category": cat, "art": article(cat), "frame": label},
        correct=no,
        distractors=distractors,
        semantics=sem,
        targets=elsewhere,
        coverage_categories=(cat,),
        answer_class="absent",
        named_frame=f,
        query={"category": cat, "frame": vs.frame_ids.index(f) + 1, "point": None},
    )


def arrange(ctx: TaskContext, drafts: list[Draft], rng: np.random.Generator) -> list[Draft]:
    """The selected drafts, each as the alternative that keeps the features even."""
    return choose_alternatives(ctx, drafts, rng, alternatives)
