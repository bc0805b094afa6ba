"""Item selection under caps, answer-class balancing and option-letter placement.

Letter balance: within one (scene, type) the k-th selected multiple-choice item puts its
correct option at letter ``(offset + k) mod n_options`` with a random ``offset``; a type that
reaches its cap (a multiple of 4 by default) is exactly uniform per scene, and the random offset
makes the remainders uniform over scenes. Yes/no items keep the fixed order (Yes, No) and are
balanced by drawing "yes" and "no" answers alternately.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..structures import OCC_LEVELS, OPTION_LETTERS
from .context import Draft


def select_drafts(
    drafts: list[tuple[Draft, str]],
    rng: np.random.Generator,
    cap: int,
    per_category: int,
    class_cycle: tuple[str, ...] = (),
    strict_classes: bool = False,
) -> list[Draft]:
    """``select_drafts_reference``'s choice (same drafts, same order), with each pick's ranking
    over the whole pool in numpy: at SpatialMosaic's volume (thousands of picks from pools of
    thousands) the Python ranking dominated question generation. Each draft's excess (the
    reference's second rank key) and whether a full category bars it are kept up to date as
    picks change them, and the rank keys are packed into one integer per draft, so a pick
    costs a few passes over the pool."""
    pool, classes, level_turn = _unique_pool(drafts, rng, class_cycle)
    if not pool or cap <= 0:
        return []
    n = len(pool)
    pair_ix: dict[tuple[Any, Any], int] = {}
    key_ix: dict[Any, int] = {}
    cat_ix: dict[str, int] = {}
    rows_p, cols_p, rows_k, cols_k, rows_c, cols_c = [], [], [], [], [], []
    for j, (d, _) in enumerate(pool):
        for key, value in d.priors:
            rows_p.append(j)
            cols_p.append(pair_ix.setdefault((key, value), len(pair_ix)))
            rows_k.append(j)
            cols_k.append(key_ix.setdefault(key, len(key_ix)))
        for c in set(d.coverage_categories):
            rows_c.append(j)
            cols_c.append(cat_ix.setdefault(c, len(cat_ix)))
    P = _incidence(rows_p, cols_p, n, len(pair_ix))  # draft x (key, value), with repeats
    K = _incidence(rows_k, cols_k, n, len(key_ix))  # draft x key, with repeats
    C = _incidence(rows_c, cols_c, n, len(cat_ix))  # draft x category (once each)
    P_cols, K_cols, C_cols = P.tocsc(), K.tocsc(), C.tocsc()
    key_of_pair = np.zeros(len(pair_ix), np.int64)
    for (key, _), i in pair_ix.items():
        key_of_pair[i] = key_ix[key]
    pairs_of_key: list[list[int]] = [[] for _ in key_ix]
    for i, k in enumerate(key_of_pair.tolist()):
        pairs_of_key[k].append(i)
    n_values = np.array([len(p) for p in pairs_of_key], np.int64)
    lonely = (K @ (n_values == 1).astype(np.int64)) > 0
    level = np.array([OCC_LEVELS.index(lv) for _, lv in pool])
    answer_class = np.array([d.answer_class for d, _ in pool], dtype=object)
    of_class = {c: answer_class == c for c in set(classes)}
    used = np.zeros(len(pair_ix), np.int64)
    least = np.zeros(len(key_ix), np.int64)
    per_cat = np.zeros(len(cat_ix), np.int64)
    excess = np.zeros(n, np.int64)  # P @ used - K @ least, kept up to date
    # about a category that has reached per_category (all categories, with a limit below 1)
    barred = (C @ (per_cat >= per_category).astype(np.int64)) > 0
    taken = np.zeros(n, bool)
    n_levels = len(OCC_LEVELS)
    out: list[Draft] = []
    while len(out) < cap:
        want = classes[len(out) % len(classes)] if class_cycle else None
        ok = ~taken & ~barred
        if strict_classes and want is not None:
            ok &= of_class[want]
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            break
        ex = excess[idx]
        other = ~of_class[want][idx] if want is not None else np.zeros(idx.size, bool)
        level_rank = (level[idx] - level_turn) % n_levels
        # (lonely, excess, other class, level rank) packed in one integer (excess >= 0);
        # argmin keeps the first of equals, i.e. the smallest index, as the reference does
        packed = ((lonely[idx] * (int(ex.max()) + 1) + ex) * 2 + other) * n_levels + level_rank
        j = int(idx[int(np.argmin(packed))])
        taken[j] = True
        out.append(pool[j][0])
        for c in _line(C, j)[0]:
            per_cat[c] += 1
            if per_cat[c] == per_category:
                barred[_line(C_cols, c)[0]] = True
        cols, counts = _line(P, j)
        for c, k in zip(cols, counts, strict=True):
            used[c] += k
            drafts_of, times = _line(P_cols, c)
            excess[drafts_of] += times * k
        for k in np.unique(key_of_pair[cols]):
            new = used[pairs_of_key[k]].min()
            if new != least[k]:
                drafts_of, times = _line(K_cols, k)
                excess[drafts_of] -= times * (new - least[k])
                least[k] = new
        level_turn += 1
    return _balance_classes(out, classes, strict_classes and bool(class_cycle))


def _unique_pool(
    drafts: list[tuple[Draft, str]], rng: np.random.Generator, class_cycle: tuple[str, ...]
) -> tuple[list[tuple[Draft, str]], tuple[str, ...], int]:
    """The drafts in a random order without duplicates (``Draft.key``), the answer classes
    rotated by a random offset, and the random first occlusion level: the draws of the
    reference, in its order."""
    order = rng.permutation(len(drafts))
    pool: list[tuple[Draft, str]] = []
    seen: set[tuple] = set()
    for i in order:
        d, level = drafts[int(i)]
        k = d.key()
        if k not in seen:
            seen.add(k)
            pool.append((d, level))
    classes = tuple(class_cycle) if class_cycle else ("",)
    shift = int(rng.integers(len(classes)))
    classes = classes[shift:] + classes[:shift]
    return pool, classes, int(rng.integers(len(OCC_LEVELS)))


def _line(M: Any, i: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, counts) of row i of a CSR matrix, or of column i of a CSC one."""
    lo, hi = M.indptr[i], M.indptr[i + 1]
    return M.indices[lo:hi], M.data[lo:hi]


def _incidence(rows: list[int], cols: list[int], n: int, m: int) -> Any:
    """(n, m) sparse count matrix: entry (r, c) = how often (r, c) appears."""
    from scipy.sparse import csr_matrix

    data = np.ones(len(rows), np.int64)
    return csr_matrix((data, (np.asarray(rows, np.int64), np.asarray(cols, np.int64))),
                      shape=(n, max(m, 0)))


def _balance_classes(out: list[Draft], classes: tuple[str, ...], strict: bool) -> list[Draft]:
    """With strict classes, drop trailing items until every class has as many as the rarest."""
    if strict:
        counts = Counter(d.answer_class for d in out)
        while out and max(counts.values()) > min(counts.get(c, 0) for c in classes):
            last = out.pop()
            counts[last.answer_class] -= 1
    return out


def select_drafts_reference(
    drafts: list[tuple[Draft, str]],
    rng: np.random.Generator,
    cap: int,
    per_category: int,
    class_cycle: tuple[str, ...] = (),
    strict_classes: bool = False,
) -> list[Draft]:
    """The slow exact reference of ``select_drafts`` (one Python pass over the pool per pick;
    tests compare the two). Pick up to ``cap`` drafts: no duplicates, at most
    ``per_category`` about any category (a draft is about each of its
    ``coverage_categories``, e.g. both objects of a relation), answer
    classes following ``class_cycle`` (rotated by a random offset), priors balanced, and
    occlusion levels taken in turn (a mix, not the easiest ones).

    Prior balance (``Draft.priors``, (key, value) pairs): a text-only model can learn which
    value goes with a key (e.g. which of two categories is usually above the other, or the
    usual count of a category). Among the drafts allowed next, those whose keys all offer
    several values in the pool come first (a key with a single value is used last), then those
    whose values are the least used so far for their keys (summed over their pairs), then
    those of the answer class due next, then the occlusion level due next, then the random
    draw order.

    Args:
        drafts: (draft, occ_level) pairs.
        strict_classes: only the class due next may be taken, and selection stops when it is
            exhausted (keeps yes/no exactly balanced); otherwise classes are a preference.
    """
    pool, classes, level_turn = _unique_pool(drafts, rng, class_cycle)
    values: dict[Any, set[Any]] = defaultdict(set)
    for d, _ in pool:
        for key, value in d.priors:
            values[key].add(value)
    per_cat: Counter[str] = Counter()
    used: Counter[tuple[Any, Any]] = Counter()
    least: Counter[Any] = Counter()  # per key, the use count of its least-used value
    taken = [False] * len(pool)
    out: list[Draft] = []

    def rank(j: int, want: str | None) -> tuple:
        d, level = pool[j]
        level_rank = (OCC_LEVELS.index(level) - level_turn) % len(OCC_LEVELS)
        other_class = int(want is not None and d.answer_class != want)
        excess = sum(used[(key, value)] - least[key] for key, value in d.priors)
        lonely = int(any(len(values[key]) == 1 for key, _ in d.priors))
        return (lonely, excess, other_class, level_rank, j)

    while len(out) < cap:
        want = classes[len(out) % len(classes)] if class_cycle else None
        ok = [
            j
            for j, (d, _) in enumerate(pool)
            if not taken[j]
            and all(per_cat[c] < per_category for c in set(d.coverage_categories))
            and (not strict_classes or want is None or d.answer_class == want)
        ]
        if not ok:
            break
        j = min(ok, key=lambda j: rank(j, want))
        taken[j] = True
        d = pool[j][0]
        out.append(d)
        per_cat.update(set(d.coverage_categories))
        for key, value in d.priors:
            used[(key, value)] += 1
            least[key] = min(used[(key, v)] for v in values[key])
        level_turn += 1
    return _balance_classes(out, classes, strict_classes and bool(class_cycle))


def spread(features: list[list[tuple[Any, ...]]], rng: np.random.Generator) -> list[int]:
    """For each item, the index of one of its alternatives, so that every feature's values
    are spread as evenly as the alternatives allow.

    ``features[i][k]`` is the feature tuple of alternative k of item i (e.g. the rank of the
    correct count among the options, or the correct point's rank by distance to the image
    centre). A feature value is an int, spread over all its values, or a (group, side) pair
    with side 0 or 1, whose two sides are balanced within each group (e.g. which of the two
    counts shown is the answer, per pair of counts). Items with the fewest distinct feature
    tuples go first; each takes the alternative whose feature values have been used least so
    far (summed over the features), ties at random. Used to make what a text-only rule would
    key on (a rank, a side, a length order) point at the correct option no more often than at
    a wrong one.
    """
    used: Counter[tuple[int, Any]] = Counter()
    out = [0] * len(features)
    order = sorted(
        range(len(features)), key=lambda i: (len(set(features[i])), float(rng.random()))
    )

    def cost(f: int, v: Any) -> int:
        if isinstance(v, tuple):
            group, side = v
            return used[(f, v)] - used[(f, (group, 1 - side))]
        return used[(f, v)]

    for i in order:
        alts = features[i]
        costs = [sum(cost(f, v) for f, v in enumerate(t)) for t in alts]
        least = min(costs)
        best = [k for k, c in enumerate(costs) if c == least]
        k = best[int(rng.integers(len(best)))]
        for f, v in enumerate(alts[k]):
            used[(f, v)] += 1
        out[i] = k
    return out


def choose_alternatives(
    ctx: Any,
    drafts: list[Draft],
    rng: np.random.Generator,
    alternatives: Callable[[Any, Draft, np.random.Generator], list[Draft]],
) -> list[Draft]:
    """Each selected draft replaced by one of its ``alternatives`` (same question, other
    wording or options), picked by ``spread`` on their ``features``."""
    groups = [alternatives(ctx, d, rng) for d in drafts]
    for d, g in zip(drafts, groups, strict=True):
        if not g:
            raise ValueError(f"{d.qtype}: a selected draft has no alternative ({d.query})")
    picks = spread([[a.features for a in g] for g in groups], rng)
    return [g[k] for g, k in zip(groups, picks, strict=True)]


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
    return tuple(opts), OPTION_LETTERS[target]


def number_window(value: int, rank: int, n: int = 4, minimum: int = 1) -> list[int]:
    """``n`` consecutive integers holding ``value`` at position ``rank`` (0 = smallest), shifted
    up when they would go below ``minimum``."""
    lo = max(minimum, value - rank)
    return list(range(lo, lo + n))
