"""Numeric extras: ``obj_distance_occ_na`` (m), ``obj_obj_distance_occ_na`` (m),
``obj_size_occ_na`` (cm), all from 3D ground truth.

* camera-object distance in Frame j: Euclidean distance from the camera centre of that frame
  to the centre of the object's axis-aligned 3D box (``SceneObject.center``), metres.
* object-object distance: distance between the two box centres, metres; the two objects may be
  read in different frames of the set.
* size: the longest side of the object's oriented 3D box, centimetres.
"""

from __future__ import annotations

import numpy as np

from .context import Draft, TaskContext
from .viewsets import ViewSet


def camera_distance(ctx: TaskContext, frame_id: int, iid: int) -> float:
    """Metres from the camera centre of a frame to the object's 3D box centre."""
    cam = ctx.scene.frame(frame_id).cam_to_world[:3, 3]
    return float(np.linalg.norm(ctx.objects[iid].center - cam))


def _shown(ctx: TaskContext, vs: ViewSet) -> list[tuple[int, int]]:
    """(frame, instance) pairs where the instance is clearly visible and recognisable."""
    return [
        (f, i)
        for f in vs.frame_ids
        for i in ctx.frame_ids_in(f)
        if ctx.status(f, i) == "vis" and ctx.recognisable(f, i)
    ]


def candidates(ctx: TaskContext, vs: ViewSet, qtype: str, rng: np.random.Generator) -> list[Draft]:
    out: list[Draft] = []
    shown = _shown(ctx, vs)
    if qtype == "obj_obj_distance_occ_na":
        order = rng.permutation(len(shown))
        for n, ia in enumerate(order[:12]):
            fa, a = shown[int(ia)]
            for ib in order[n + 1 : n + 6]:
                fb, b = shown[int(ib)]
                if a == b or not ctx.frames_needed(vs, [a], fa) and not ctx.frames_needed(
                    vs, [b], fb
                ):
                    continue
                value = f"{ctx.graph.distance(a, b):.2f}"
                out.append(_draft(ctx, vs, qtype, a, fa, value, b=b, fb=fb))
        return out
    for f, a in shown:
        if not ctx.frames_needed(vs, [a], f):
            continue
        if qtype == "obj_distance_occ_na":
            value = f"{camera_distance(ctx, f, a):.2f}"
        else:
            value = str(int(round(ctx.graph.node(a).longest_side * 100.0)))
        out.append(_draft(ctx, vs, qtype, a, f, value))
    return out


def _draft(
    ctx: TaskContext,
    vs: ViewSet,
    qtype: str,
    a: int,
    fa: int,
    value: str,
    b: int | None = None,
    fb: int | None = None,
) -> Draft:
    label = ctx.frame_label(vs, fa)
    fields = {"a": ctx.name(fa, a), "a_frame": label, "frame": label}
    query = {"a": a, "a_frame": vs.frame_ids.index(fa) + 1, "value": float(value)}
    targets: tuple[int, ...] = (a,)
    cats = (ctx.objects[a].category,)
    if b is not None and fb is not None:
        fields.update({"b": ctx.name(fb, b), "b_frame": ctx.frame_label(vs, fb)})
        query.update({"b": b, "b_frame": vs.frame_ids.index(fb) + 1})
        targets = (a, b)
        cats = (ctx.objects[a].category, ctx.objects[b].category)
    return Draft(
        qtype=qtype,
        viewset=vs,
        fields=fields,
        correct=value,
        distractors=[],
        semantics={},
        targets=targets,
        coverage_categories=cats,
        named_frame=fa,
        query=query,
    )

