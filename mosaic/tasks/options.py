"""Item selection under caps, answer-class balancing and option-letter placement.

Letter balance: within one (scene, type) the k-th selected multiple-choice item puts its
correct option at letter ``(offset + k) mod n_options`` with a random ``offset``; a type that
reaches its cap (a multiple of 4 by default) is exactly uniform per scene, and the random offset
makes the remainders uniform over scenes. Yes/no items keep the fixed order (Yes, No) and are
balanced by drawing "yes" and "no" answers alternately.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .context import Draft

LETTERS = "ABCDEFGH"
OCC_ORDER = ("none", "low", "medium", "high")


def select_drafts(
    drafts: list[tuple[Draft, str]],
    rng: np.random.Generator,
    cap: int,
    per_category: int,
    class_cycle: tuple[str, ...] = (),
    strict_classes: bool = False,
) -> list[Draft]:
    """Pick up to ``cap`` drafts: no duplicates, at most ``per_category`` per category,
    occlusion levels taken in turn (a mix, not the easiest ones), and answer classes following
    ``class_cycle`` (rotated by a random offset).

    Args:
        drafts: (draft, occ_level) pairs.
        strict_classes: stop when the class due next is exhausted (keeps yes/no exactly
            balanced); otherwise fall back to any class.
    """
    order = rng.permutation(len(drafts))
    pools: dict[tuple[str, str], list[Draft]] = {}
    seen: set[tuple] = set()
    for i in order:
        d, level = drafts[int(i)]
        k = d.key()
        if k in seen:
            continue
        seen.add(k)
        cls = d.answer_class if class_cycle else ""
        pools.setdefault((cls, level), []).append(d)
    classes = tuple(class_cycle) if class_cycle else ("",)
    shift = int(rng.integers(len(classes)))
    classes = classes[shift:] + classes[:shift]
    level_turn = int(rng.integers(len(OCC_ORDER)))
    per_cat: Counter[str] = Counter()
    out: list[Draft] = []
    slot = 0
    while len(out) < cap:
        want = classes[slot % len(classes)]
        picked = _take(pools, want, per_cat, per_category, level_turn)
        if picked is None and not strict_classes:
            for other in classes:
                picked = _take(pools, other, per_cat, per_category, level_turn)
                if picked is not None:
                    break
        if picked is None:
            break
        out.append(picked)
        per_cat[picked.category] += 1
        level_turn += 1
        slot += 1
    if strict_classes and class_cycle:
        # drop a trailing unmatched item so the classes stay exactly balanced per scene
        counts = Counter(d.answer_class for d in out)
        while out and max(counts.values()) > min(counts.get(c, 0) for c in classes):
            last = out.pop()
            counts[last.answer_class] -= 1
    return out


def _take(
    pools: dict[tuple[str, str], list[Draft]],
    cls: str,
    per_cat: Counter,
    per_category: int,
    level_turn: int,
) -> Draft | None:
    for j in range(len(OCC_ORDER)):
        level = OCC_ORDER[(level_turn + j) % len(OCC_ORDER)]
        pool = pools.get((cls, level), [])
        for idx, d in enumerate(pool):
            if per_cat[d.category] < per_category:
                return pool.pop(idx)
    return None


def place_options(
    correct: str, distractors: list[str], target: int, rng: np.random.Generator
) -> tuple[tuple[str, ...], str]:
    """Options with ``correct`` at position ``target`` and the distractors shuffled around it.

    Returns (options, letter). Raises ValueError on duplicate option texts (a generator bug).
    """
    texts = [correct, *distractors]
    if len(set(texts)) != len(texts):
        raise ValueError(f"duplicate option texts: {texts}")
    others = [distractors[int(i)] for i in rng.permutation(len(distractors))]
    opts = others[:target] + [correct] + others[target:]
    return tuple(opts), LETTERS[target]


def wrong_numbers(value: int, n: int, rng: np.random.Generator, minimum: int = 1) -> list[int]:
    """``n`` distinct integers near ``value`` (>= minimum, != value), closest ones preferred."""
    cands = [v for v in range(max(minimum, value - 3), value + 5) if v != value]
    weights = np.array([1.0 / abs(v - value) for v in cands])
    pick = rng.choice(len(cands), size=n, replace=False, p=weights / weights.sum())
    return [cands[int(i)] for i in pick]
