"""Object Relation family: ``obj_spatial_occ_{ab,fb,lr}`` (4 statements).

"In Frame j, where does A appear relative to B?" Each option places A on two axes: the type's
axis and a second one (``lr`` for the ``ab`` and ``fb`` types, ``fb`` for ``lr``),
e.g. "The chair is above the table and to the left of it." The four options are the four
combinations of the two directions, so every direction appears in exactly two options and no
same-axis pair singles out the answer; exactly one combination is true. A pair is used only
when both axes are decided beyond their margins in that view (no statement inside a margin is
ever offered).

Selection spreads the facts on both axes as for Object Existence (``context.relation_priors``)
and alternates answers whose two directions are "same" (left-and-above, right-and-below...)
and "opposite"; the two objects are written in the order that spreads the four direction
combinations over the answers (``alternatives``). So neither a category prior nor a fixed
combination (or option length) finds the answer where the scenes allow it.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .context import (
    Draft,
    LazyDrafts,
    TaskContext,
    decided_pairs,
    direction_word,
    pairs_in_view,
    relation_phrase,
    relation_priors,
    stable_int,
)
from .options import choose_alternatives
from .viewsets import ViewSet

# answers whose two directions have the same sign (left-and-above, ...) and opposite signs, in turn
CLASS_CYCLES = {t: (("same", "opposite"), False)
                for t in ("obj_spatial_occ_ab", "obj_spatial_occ_fb", "obj_spatial_occ_lr")}

# second axis of each type: left/right and front/behind depend on the viewpoint, so a
# text-only model cannot guess them from the categories (above/below it often can)
SECOND_AXIS = {"ab": "lr", "fb": "lr", "lr": "fb"}

# a larger candidate pool than other families: facts that go against the usual relation of two
# categories are rare, and selection needs them to balance the usual ones
POOL_FACTOR = 20


def statement(
    ctx: TaskContext, a: str, b: str, axes: tuple[str, str], signs: tuple[int, int]
) -> str:
    """"The <a> is <rel> the <b> and <rel2> it." for the two axes and signs."""
    return ctx.templates["statement_two"].format(
        a=a,
        b=b,
        rel=relation_phrase(ctx, axes[0], signs[0]),
        rel2=relation_phrase(ctx, axes[1], signs[1]),
    )


def _draft(
    ctx: TaskContext, vs: ViewSet, qtype: str, f: int, a: int, b: int, axes: tuple[str, str]
) -> Draft:
    """The question about a relative to b in view f on the two axes (both decided)."""
    signs = (ctx.graph.relation(f, a, b, axes[0]), ctx.graph.relation(f, a, b, axes[1]))
    name_a, name_b = ctx.name(f, a), ctx.name(f, b)
    combos = [(u, v) for u in (signs[0], -signs[0]) for v in (signs[1], -signs[1])]
    texts = [statement(ctx, name_a, name_b, axes, c) for c in combos]
    sem = {
        t: {
            "axes": list(axes),
            "directions": [direction_word(axes[0], c[0]), direction_word(axes[1], c[1])],
            "true": c == signs,
        }
        for t, c in zip(texts, combos, strict=True)
    }
    ca, cb = ctx.objects[a].category, ctx.objects[b].category
    return Draft(
        qtype=qtype,
        viewset=vs,
        fields={"frame": ctx.frame_label(vs, f), "a": name_a, "b": name_b},
        correct=texts[0],
        distractors=texts[1:],
        semantics=sem,
        targets=(a, b),
        coverage_categories=(ca, cb),
        answer_class="same" if signs[0] == signs[1] else "opposite",
        named_frame=f,
        query={
            "frame": vs.frame_ids.index(f) + 1,
            "a": a,
            "b": b,
            "axis": axes[0],
            "second_axis": axes[1],
        },
        priors=(
            *relation_priors(ctx, f, a, b, axes[0], signs[0]),
            *relation_priors(ctx, f, a, b, axes[1], signs[1]),
        ),
        features=(2 * int(signs[0] < 0) + int(signs[1] < 0),),
        fact=(f, frozenset((a, b)), axes),
    )


def asked_by(vs: ViewSet, f: int, a: int, b: int, axes: tuple[str, str]) -> str:
    """The one type that may ask about this pair in this view of this set on these two axes.

    ``obj_spatial_occ_fb`` and ``obj_spatial_occ_lr`` both combine front/behind with
    left/right, so the same pair in the same view would make the same question twice (the same
    four statements); a stable draw gives each such question to one of the two types.
    """
    if set(axes) != {"fb", "lr"}:
        return axes[0]
    lo, hi = min(a, b), max(a, b)
    return ("fb", "lr")[stable_int("spatial-owner", *vs.frame_ids, f, lo, hi) % 2]


class _Owner:
    """``asked_by`` for the pairs of one view of one set: the hash of the part of the key
    they share is taken once and copied per pair (the same sha256, the same answers; a
    view set at SpatialMosaic's volume asks this of ~100 pairs per view), and each pair's
    answer is kept for the other of the two types that ask (``_owner``)."""

    def __init__(self, vs: ViewSet, f: int):
        head = "\x1f".join(str(p) for p in ("spatial-owner", *vs.frame_ids, f)) + "\x1f"
        self._head = hashlib.sha256(head.encode())
        self._known: dict[tuple[int, int], str] = {}

    def asks(self, a: int, b: int, axes: tuple[str, str]) -> str:
        if set(axes) != {"fb", "lr"}:
            return axes[0]
        return self.owners([(a, b)])[0]

    def owners(self, pairs: list[tuple[int, int]]) -> list[str]:
        """The type ("fb" or "lr") that asks about each (a, b) pair on front/behind with
        left/right."""
        known, out = self._known, []
        for a, b in pairs:
            pair = (a, b) if a < b else (b, a)
            hit = known.get(pair)
            if hit is None:
                h = self._head.copy()
                h.update(f"{pair[0]}\x1f{pair[1]}".encode())
                # stable_int keeps the digest's low 60 bits; their parity is the last byte's
                hit = known[pair] = ("fb", "lr")[h.digest()[-1] & 1]
            out.append(hit)
        return out


def _owner(ctx: TaskContext, vs: ViewSet, f: int) -> _Owner:
    """The ``_Owner`` of view f in set vs, one per scene context."""
    key = ("relation.owner", vs.frame_ids, f)
    hit = ctx.memo.get(key)
    if hit is None:
        hit = ctx.memo[key] = _Owner(vs, f)
    return hit


def candidates(
    ctx: TaskContext, vs: ViewSet, qtype: str, rng: np.random.Generator
) -> dict[str, LazyDrafts]:
    """Every decided pair of every view of the set that is also decided on the type's
    second axis (``SECOND_AXIS``), kept when this type asks it (``asked_by``); classes
    "same" and "opposite" by the signs on the two axes."""
    axis = qtype.rsplit("_", 1)[1]
    axes = (axis, SECOND_AXIS[axis])
    shared = set(axes) == {"fb", "lr"}  # asked by one of two types (``asked_by``)
    same: list[tuple] = []
    opposite: list[tuple] = []
    for f in vs.frame_ids:
        second_sign = _second_signs(ctx, f, axis)
        head = (ctx, vs, qtype, f)
        same_f: list[tuple] = []
        opposite_f: list[tuple] = []
        pairs = [(p, second_sign[p]) for p in decided_pairs(ctx, vs, f, axis)]
        pairs = [(p, sign) for p, sign in pairs if sign]
        if shared:
            owners = _owner(ctx, vs, f).owners([p[:2] for p, _ in pairs])
            pairs = [ps for ps, o in zip(pairs, owners, strict=True) if o == axis]
        for (a, b, s), sign in pairs:
            (same_f if sign == s else opposite_f).append((a, b, axes))
        same.append((head, same_f))
        opposite.append((head, opposite_f))
    return {"same": LazyDrafts(_draft, same), "opposite": LazyDrafts(_draft, opposite)}


def _second_signs(ctx: TaskContext, f: int, axis: str) -> dict[tuple, int]:
    """For each pair of view f usable on ``axis``: its relation sign on the second axis
    (0: undecided there), once per view."""
    key = ("relation.second", f, axis)
    hit = ctx.memo.get(key)
    if hit is None:
        second = SECOND_AXIS[axis]
        hit = {pair: ctx.graph.relation(f, pair[0], pair[1], second)
               for pair in pairs_in_view(ctx, f, axis)}
        ctx.memo[key] = hit
    return hit


def alternatives(ctx: TaskContext, d: Draft, rng: np.random.Generator) -> list[Draft]:
    """The question as drafted and with the two objects swapped (every direction flips);
    feature = which of the four direction combinations is the answer, so no combination (and
    no option length) is the answer more often than another."""
    q = d.query
    axes = (q["axis"], q["second_axis"])
    return [d, _draft(ctx, d.viewset, d.qtype, d.named_frame, q["b"], q["a"], axes)]


def arrange(ctx: TaskContext, drafts: list[Draft], rng: np.random.Generator) -> list[Draft]:
    """The selected drafts, each as the alternative that keeps the features even."""
    return choose_alternatives(ctx, drafts, rng, alternatives)
