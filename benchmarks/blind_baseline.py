"""Blind (text-only) baselines: how far a question can be answered without its images.

Every rule sees only what a text-only model sees: the question text, the option texts, the
question type and, for points, the image size the question states. Rules are fitted on one
split (default ``train``) and scored on another (default ``bench``) with
``mosaic.evaluation.evaluate``, the scoring ``mosaic evaluate`` uses. ``--cross`` scores every
scene of the dataset with rules fitted on all the other scenes (leave one scene out), which
scores 8x more items on the built-in scenes and so gives steadier figures.

Rules (each a family of closely related ones):

* majority letter and majority value of the fitting split; option position / ordinal
  (the k-th smallest number among the options, k fitted); longest / shortest option text;
* structure of the option set: recurring parts (best view: how often an option's count and
  frame recur among the options), same-axis pairs (relation statements: the answer is one of
  the two statements on one axis), numeric spacing (the option nearest the mean / the medoid
  of the option values); for points: image centre, medoid (nearest to the other points),
  nearest to the centroid of the options, farthest from the others, always "No";
* priors per category and per category pair fitted on the answers of the fitting split:
  count, size, camera distance, object distance, image position, and the direction of each
  relation axis (height for above/below).

For a multiple-choice type "chance" is 100 / number of options; for a numeric type the
reference is the global-median rule. "best" is the highest-scoring rule on the scored items,
so with few items it sits above chance by sampling noise alone (the table gives the binomial
standard error of the best multiple-choice rule; see docs/blind_baseline.md).

    .venv/bin/python benchmarks/blind_baseline.py out/synthetic
    .venv/bin/python benchmarks/blind_baseline.py out/synthetic --cross --json blind.json
    .venv/bin/python benchmarks/blind_baseline.py out/s0 out/s1 out/s2 --cross   # averaged
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from statistics import median

import numpy as np

from mosaic import open_dataset
from mosaic.evaluation import NUMERIC_TYPES, POINT_TYPES, evaluate
from mosaic.structures import OPTION_LETTERS, QA_TYPES, QAItem
from mosaic.tasks.wording import plural

POINT = re.compile(r"\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# the frame size as the pixel note of a question states it (mosaic.tasks.wording.pixel_note)
IMAGE_SIZE = re.compile(r"pixels of the (\d+)x(\d+) frame")
# relation phrases of statements and questions -> (axis, +1 for left/above/front, -1 else)
PHRASES = {
    "to the left of": ("lr", 1),
    "to the right of": ("lr", -1),
    "above": ("ab", 1),
    "below": ("ab", -1),
    "closer to the camera than": ("fb", 1),
    "farther from the camera than": ("fb", -1),
    "in front of": ("fb", 1),
    "behind": ("fb", -1),
}


# ---- what a text-only reader extracts -----------------------------------------------------------
@dataclass
class Item:
    """One QA item as a text-only rule sees it (plus the fields scoring needs)."""

    qa: QAItem
    scene: str
    image_size: tuple[int, int] | None  # (width, height) of the named frame, when known
    cats: list[str] = field(default_factory=list)  # categories named in the question, in order

    @property
    def qtype(self) -> str:
        return self.qa.question_type

    @property
    def options(self) -> tuple[str, ...]:
        return self.qa.options


def _forms(name: str) -> list[str]:
    """The spellings of a category name the generator writes: singular and plural (longest
    first)."""
    return sorted({name, plural(name)}, key=len, reverse=True)


class Vocabulary:
    """Category names, matched in text longest first ("end table" before "table")."""

    def __init__(self, names: Iterable[str]):
        forms = [(f, n) for n in set(names) for f in _forms(n)]
        forms.sort(key=lambda p: len(p[0]), reverse=True)
        self.of_form = dict(forms)
        alt = "|".join(re.escape(f) for f, _ in forms) or "(?!)"
        self.pattern = re.compile(rf"\b(?:{alt})\b")

    def find(self, text: str) -> list[str]:
        return [self.of_form[m.group(0)] for m in self.pattern.finditer(text)]


item_vocab: Vocabulary | None = None  # set by table_of() before the rules run


def category_names(items: Iterable[QAItem]) -> set[str]:
    """Category names known from the items: the words a text-only model reads as objects."""
    names: set[str] = set()
    for q in items:
        query = q.evidence.get("query", {}) if q.evidence else {}
        if isinstance(query.get("category"), str):
            names.add(query["category"])
        if q.question_type.startswith("obj_attribute"):
            names.update(q.options)
    return names


def load(path: str, split: str | None) -> list[Item]:
    """Items of one split (all when None) with the named frame's image size."""
    ds = open_dataset(path, split=split)
    out = []
    for i in range(len(ds)):
        d = ds[i]
        q = d.qa
        m = IMAGE_SIZE.search(q.question)
        if m is not None:
            size: tuple[int, int] | None = (int(m.group(1)), int(m.group(2)))
        else:
            # the image a model is shown has this size; the text may not say it
            v = d.views[0]
            size = (int(v.width), int(v.height))
        out.append(Item(q, q.scene_id, size))
    ds.close()
    return out


# ---- option parsing -----------------------------------------------------------------------------
def numbers(text: str) -> list[float]:
    return [float(x) for x in NUMBER.findall(text)]


def point_of(text: str) -> tuple[float, float] | None:
    m = POINT.search(text)
    return None if m is None else (float(m.group(1)), float(m.group(2)))


def statements(text: str) -> list[tuple[str, int]]:
    """(axis, sign) of every relation phrase in a statement or question, in text order."""
    found: list[tuple[int, int, tuple[str, int]]] = []
    taken: list[tuple[int, int]] = []
    for p in sorted(PHRASES, key=len, reverse=True):
        for m in re.finditer(rf"(?<![a-z]){re.escape(p)}(?![a-z])", text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append((m.start(), m.end(), PHRASES[p]))
    return [f[2] for f in sorted(found)]


def statement(text: str) -> tuple[str, int] | None:
    """The first relation phrase of a text, or None."""
    found = statements(text)
    return found[0] if found else None


REF = re.compile(r"\s*(?:at\s*)?\(\s*(\d+)\s*,\s*(\d+)\s*\)")


def references(item: Item) -> list[tuple[str, tuple[float, float] | None]]:
    """Objects named in the question, in order, each with the coordinates written after it."""
    out = []
    text = item.qa.question
    for m in item_vocab.pattern.finditer(text) if item_vocab else ():
        c = REF.match(text, m.end())
        xy = None if c is None else (float(c.group(1)), float(c.group(2)))
        out.append((item_vocab.of_form[m.group(0)], xy))
    return out


def letter(i: int) -> str:
    return OPTION_LETTERS[i]


# ---- rules --------------------------------------------------------------------------------------
class Rule:
    """A text-only rule: fitted on items, predicts the text a model would output."""

    name = "rule"

    def applies(self, qtype: str) -> bool:
        return True

    def fit(self, items: list[Item]) -> None:
        pass

    def predict(self, item: Item) -> str | None:
        raise NotImplementedError


def _argbest(scores: list[float], prefer: Callable[[float], float] = lambda s: s) -> int:
    """Index of the best score (first on ties, so rules stay deterministic)."""
    keyed = [prefer(s) for s in scores]
    return int(np.argmax(keyed))


def _is_mc(qtype: str) -> bool:
    return qtype not in NUMERIC_TYPES and qtype not in POINT_TYPES


class MajorityLetter(Rule):
    name = "majority letter"

    def applies(self, qtype: str) -> bool:
        return _is_mc(qtype)

    def fit(self, items):
        self.best = {}
        for t in {i.qtype for i in items if self.applies(i.qtype)}:
            c = Counter(i.qa.answer for i in items if i.qtype == t)
            self.best[t] = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]

    def predict(self, item):
        return self.best.get(item.qtype, "A")


class MajorityValue(Rule):
    """The option text most often correct on the fitting split (e.g. "No", "2")."""

    name = "majority value"

    def applies(self, qtype):
        return _is_mc(qtype)

    def fit(self, items):
        self.rate: dict[tuple[str, str], tuple[int, int]] = {}
        acc: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for i in items:
            if not i.options:
                continue
            right = OPTION_LETTERS.index(i.qa.answer)
            for k, o in enumerate(i.options):
                key = (i.qtype, _skeleton(o, i.cats))
                acc[key][0] += k == right
                acc[key][1] += 1
        self.rate = {k: (a, n) for k, (a, n) in acc.items()}

    def predict(self, item):
        scores = []
        for o in item.options:
            a, n = self.rate.get((item.qtype, _skeleton(o, item.cats)), (0, 0))
            scores.append((a + 1) / (n + len(item.options)))
        return letter(_argbest(scores))


def _skeleton(option: str, cats: list[str]) -> str:
    """Option text with object references and coordinates blanked (a reusable value)."""
    text = POINT.sub("(x,y)", option)
    forms = sorted({f for c in set(cats) for f in _forms(c)}, key=len, reverse=True)
    for f in forms:
        text = re.sub(rf"\b{re.escape(f)}\b", "<obj>", text)
    return text


class OptionLength(Rule):
    def __init__(self, longest: bool):
        self.longest = longest
        self.name = "longest option" if longest else "shortest option"

    def applies(self, qtype):
        return _is_mc(qtype)

    def predict(self, item):
        lens = [len(o) for o in item.options]
        return letter(_argbest(lens, (lambda s: s) if self.longest else (lambda s: -s)))


class Ordinal(Rule):
    """The option whose j-th number has rank k among the options (j, k fitted per type)."""

    name = "ordinal (k-th smallest)"

    def applies(self, qtype):
        return _is_mc(qtype) and not qtype.startswith(("obj_existence", "obj_attribute"))

    @staticmethod
    def _ranks(item: Item, j: int) -> list[int] | None:
        vals = []
        for o in item.options:
            nums = numbers(o)
            if len(nums) <= j:
                vals.append(math.inf)
            else:
                vals.append(nums[j])
        if all(v == math.inf for v in vals):
            return None
        order = sorted(range(len(vals)), key=lambda k: (vals[k], k))
        ranks = [0] * len(vals)
        for r, k in enumerate(order):
            ranks[k] = r
        return ranks

    def fit(self, items):
        self.choice: dict[str, tuple[int, int]] = {}
        for t in {i.qtype for i in items if self.applies(i.qtype)}:
            tally: Counter[tuple[int, int]] = Counter()
            for i in items:
                if i.qtype != t:
                    continue
                for j in (0, 1):
                    ranks = self._ranks(i, j)
                    if ranks is not None:
                        tally[(j, ranks[OPTION_LETTERS.index(i.qa.answer)])] += 1
            if tally:
                self.choice[t] = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]

    def predict(self, item):
        j, k = self.choice.get(item.qtype, (0, 0))
        ranks = self._ranks(item, j)
        if ranks is None or k not in ranks:
            return "A"
        return letter(ranks.index(k))


class Spacing(Rule):
    """Numeric options: the one nearest the mean of the option values, or their medoid."""

    def __init__(self, mode: str):
        self.mode = mode
        self.name = f"spacing ({mode})"

    def applies(self, qtype):
        return qtype in ("obj_count_occ", "bestview_count_occ")

    def predict(self, item):
        vals = [numbers(o)[0] if numbers(o) else math.inf for o in item.options]
        if self.mode == "nearest mean":
            m = float(np.mean([v for v in vals if v != math.inf]))
            scores = [-abs(v - m) for v in vals]
        else:
            scores = [-sum(abs(v - w) for w in vals) for v in vals]
        return letter(_argbest(scores))


class RecurringParts(Rule):
    """Options made of parts ("N cat; Frame j"): pick by how often each part recurs."""

    def __init__(self, which: str):
        self.which = which  # "both", "count", "frame"
        self.name = f"recurring parts ({which})"

    def applies(self, qtype):
        return qtype == "bestview_count_occ"

    def fit(self, items):
        self.sign = {}
        for t in {i.qtype for i in items if self.applies(i.qtype)}:
            hits = Counter()
            for i in items:
                if i.qtype == t:
                    for s in (1, -1):
                        hits[s] += self._pick(i, s) == i.qa.answer
            self.sign[t] = 1 if hits[1] >= hits[-1] else -1

    def _pick(self, item: Item, sign: int) -> str:
        parts = [o.split(";") for o in item.options]
        counts = [numbers(p[0])[:1] for p in parts]
        frames = [numbers(p[1])[:1] if len(p) > 1 else [] for p in parts]
        cc, fc = Counter(map(tuple, counts)), Counter(map(tuple, frames))
        scores = []
        for c, f in zip(counts, frames, strict=True):
            s = 0
            if self.which in ("both", "count"):
                s += cc[tuple(c)]
            if self.which in ("both", "frame"):
                s += fc[tuple(f)]
            scores.append(sign * s)
        return letter(_argbest(scores))

    def predict(self, item):
        return self._pick(item, self.sign.get(item.qtype, 1))


# ---- relation priors ----------------------------------------------------------------------------
def relation_facts(item: Item) -> list[tuple[str, str, str, int]]:
    """(cat_a, cat_b, axis, sign) facts a correct answer reveals (sign +1: a left/above/front)."""
    q = item.qa
    t = q.question_type
    cats = item.cats
    out = []
    if t.startswith("obj_spatial") and len(cats) >= 2:
        right = q.options[OPTION_LETTERS.index(q.answer)]
        for axis, sign in statements(right):
            out.append((cats[0], cats[1], axis, sign))
    elif t.startswith("obj_existence") and len(cats) >= 2:
        st = statement(q.question)
        if st is not None:
            yes = q.options[OPTION_LETTERS.index(q.answer)] == "Yes"
            out.append((cats[0], cats[1], st[0], st[1] if yes else -st[1]))
    elif t.startswith("obj_attribute") and cats:
        st = statement(q.question)
        if st is not None:
            right = q.options[OPTION_LETTERS.index(q.answer)]
            out.append((right, cats[-1], st[0], st[1]))
    return out


class RelationPrior:
    """Per ordered category pair and axis: the mean sign; per category: its mean sign as a."""

    def __init__(self, items: list[Item]):
        pair: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        single: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i in items:
            for a, b, axis, s in relation_facts(i):
                pair[(a, b, axis)].append(s)
                pair[(b, a, axis)].append(-s)
                single[(a, axis)].append(s)
                single[(b, axis)].append(-s)
        self.pair = {k: float(np.mean(v)) for k, v in pair.items()}
        self.single = {k: float(np.mean(v)) for k, v in single.items()}

    def sign(self, a: str, b: str, axis: str, use_pair: bool) -> float:
        """Expected sign of "a <first direction> b" on the axis (0 when unknown)."""
        if use_pair and (a, b, axis) in self.pair:
            return self.pair[(a, b, axis)]
        return self.single.get((a, axis), 0.0) - self.single.get((b, axis), 0.0)


class RelationPriorRule(Rule):
    def __init__(self, use_pair: bool):
        self.use_pair = use_pair
        self.name = "category-pair relation prior" if use_pair else "per-category relation prior"

    def applies(self, qtype):
        return qtype.startswith(("obj_existence", "obj_spatial", "obj_attribute"))

    def fit(self, items):
        self.prior = RelationPrior(items)

    def predict(self, item):
        cats, t = item.cats, item.qtype
        if t.startswith("obj_existence"):
            st = statement(item.qa.question)
            if st is None or len(cats) < 2:
                return "A"
            s = self.prior.sign(cats[0], cats[1], st[0], self.use_pair)
            return "A" if s * st[1] >= 0 else "B"
        if t.startswith("obj_attribute"):
            st = statement(item.qa.question)
            if st is None or not cats:
                return "A"
            scores = [self.prior.sign(o, cats[-1], st[0], self.use_pair) * st[1]
                      for o in item.options]
            return letter(_argbest(scores))
        if len(cats) < 2:
            return "A"
        scores = []
        for o in item.options:
            sts = statements(o)
            scores.append(
                sum(self.prior.sign(cats[0], cats[1], ax, self.use_pair) * sg for ax, sg in sts)
                if sts else -9.0
            )
        return letter(_argbest(scores))


class SameAxisPair(Rule):
    """Relation statements: the answer is one of the two statements on the axis that occurs
    twice; between them pick by the category-pair prior (else the direction more often
    correct on the fitting split)."""

    name = "same-axis pair + prior"

    def applies(self, qtype):
        return qtype.startswith("obj_spatial")

    use_pair = True

    def fit(self, items):
        self.prior = RelationPrior(items)
        self.dir: Counter[tuple[str, int]] = Counter()
        for i in items:
            for _, _, axis, s in relation_facts(i):
                self.dir[(axis, s)] += 1

    def predict(self, item):
        if any(len(statements(o)) > 1 for o in item.options):
            return RelationPriorRule.predict(self, item)  # type: ignore[arg-type]
        parsed = [statement(o) for o in item.options]
        axes = Counter(p[0] for p in parsed if p is not None)
        twice = [a for a, n in axes.items() if n >= 2]
        if not twice:
            return "A"
        axis = twice[0]
        idx = [k for k, p in enumerate(parsed) if p is not None and p[0] == axis]
        cats = item.cats
        scores = []
        for k in idx:
            s = parsed[k][1]
            prior = self.prior.sign(cats[0], cats[1], axis, True) if len(cats) >= 2 else 0.0
            scores.append(prior * s + 1e-3 * (self.dir[(axis, s)] - self.dir[(axis, -s)]))
        return letter(idx[_argbest(scores)])


class NamedCoordinates(Rule):
    """Relations: the coordinates written after an object name say where it is in the image;
    left/above of the image centre reads as left/above of the other object (for front/behind:
    lower in the image reads as closer)."""

    name = "named coordinates"

    def applies(self, qtype):
        return qtype.startswith(("obj_existence", "obj_spatial"))

    @staticmethod
    def _sign(item: Item, axis: str) -> int:
        refs = references(item)
        w, h = item.image_size or (0, 0)
        for k, (_, xy) in enumerate(refs[:2]):
            if xy is None:
                continue
            if axis == "lr":
                s = 1 if xy[0] < w / 2 else -1
            elif axis == "ab":
                s = 1 if xy[1] < h / 2 else -1
            else:
                s = 1 if xy[1] > h / 2 else -1
            return s if k == 0 else -s
        return 0

    def predict(self, item):
        if item.qtype.startswith("obj_existence"):
            st = statement(item.qa.question)
            if st is None:
                return "A"
            s = self._sign(item, st[0])
            return "A" if s * st[1] >= 0 else "B"
        scores = []
        for o in item.options:
            scores.append(sum(self._sign(item, ax) * sg for ax, sg in statements(o)))
        return letter(_argbest(scores))


# ---- numeric priors -----------------------------------------------------------------------------
def answer_value(item: Item) -> float | None:
    q = item.qa
    if q.question_type in NUMERIC_TYPES:
        try:
            return float(q.ground_truth)
        except ValueError:
            return None
    if q.question_type in ("obj_count_occ", "bestview_count_occ"):
        nums = numbers(q.options[OPTION_LETTERS.index(q.answer)])
        return nums[0] if nums else None
    return None


def _fmt(qtype: str, v: float) -> str:
    if qtype in ("obj_count_occ_na", "obj_size_occ_na"):
        return str(int(round(v)))
    return f"{v:.2f}"


class MedianValue(Rule):
    """Median answer of the fitting split per key (global, category, category pair, frames).

    For multiple-choice counts the option nearest that median is chosen."""

    def __init__(self, key: str):
        self.key = key
        self.name = {
            "global": "global median",
            "cat": "per-category median",
            "pair": "per-category-pair median",
            "cat_k": "per-category-and-frames median",
            "mode": "per-category mode",
        }[key]

    def applies(self, qtype):
        if qtype in ("obj_count_occ", "bestview_count_occ"):
            return self.key != "global"
        if self.key == "pair":
            return qtype == "obj_obj_distance_occ_na"
        if self.key in ("cat_k", "mode"):
            return qtype in ("obj_count_occ_na",)
        return qtype in NUMERIC_TYPES

    def _k(self, item: Item) -> tuple:
        c = item.cats
        k = len(item.qa.frame_ids)
        if self.key == "global":
            return ()
        if self.key == "pair":
            return tuple(sorted(c[:2]))
        if self.key == "cat_k":
            return (c[0] if c else "", k)
        return (c[0] if c else "",)

    def fit(self, items):
        self.vals: dict[tuple, dict[tuple, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.glob: dict[str, list[float]] = defaultdict(list)
        for i in items:
            v = answer_value(i)
            if v is None:
                continue
            fam = "count" if "count" in i.qtype else i.qtype
            self.vals[fam][self._k(i)].append(v)
            self.glob[fam].append(v)

    def _guess(self, item: Item) -> float | None:
        fam = "count" if "count" in item.qtype else item.qtype
        vals = self.vals[fam].get(self._k(item)) or self.glob.get(fam)
        if not vals:
            return None
        if self.key == "mode":
            c = Counter(vals)
            return sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        return float(median(vals))

    def predict(self, item):
        g = self._guess(item)
        if g is None:
            return "A" if item.options else "0"
        if item.options:
            vals = [numbers(o)[0] if numbers(o) else math.inf for o in item.options]
            return letter(_argbest([-abs(v - g) for v in vals]))
        return _fmt(item.qtype, g)


class CountThenParts(Rule):
    """Best view: among the options whose count is nearest the category median, the one
    whose frame recurs most among the options."""

    name = "count prior + recurring frame"

    def applies(self, qtype):
        return qtype == "bestview_count_occ"

    def fit(self, items):
        self.med = MedianValue("cat")
        self.med.fit(items)

    def predict(self, item):
        g = self.med._guess(item)
        parts = [o.split(";") for o in item.options]
        counts = [numbers(p[0])[0] for p in parts]
        frames = [numbers(p[1])[0] if len(p) > 1 else 0 for p in parts]
        fc = Counter(frames)
        scores = [-abs(c - (g or 0)) * 10 + fc[f] for c, f in zip(counts, frames, strict=True)]
        return letter(_argbest(scores))


# ---- points -------------------------------------------------------------------------------------
def _opt_points(item: Item) -> list[tuple[float, float] | None]:
    return [point_of(o) for o in item.options]


class PointRule(Rule):
    """Geometric rules over the option points (MC) or a fixed guess (open points)."""

    def __init__(self, mode: str):
        self.mode = mode
        self.name = {
            "centre": "image centre",
            "median": "global median point",
            "cat": "per-category median point",
            "medoid": "medoid (nearest to the others)",
            "centroid": "nearest to the centroid",
            "outlier": "farthest from the others",
            "border": "farthest from the image centre",
            "no": 'always "No"',
        }[mode]

    def applies(self, qtype):
        if qtype == "obj_localization_occ_na":
            return self.mode in ("centre", "median", "cat")
        return qtype == "obj_localization_occ"

    def fit(self, items):
        self.pts: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for i in items:
            if not i.qtype.startswith("obj_localization"):
                continue
            if i.options:
                p = point_of(i.options[OPTION_LETTERS.index(i.qa.answer)])
            else:
                p = point_of(i.qa.ground_truth)
            if p is None or i.image_size is None:
                continue
            w, h = i.image_size
            rel = (p[0] / w, p[1] / h)
            self.pts[""].append(rel)
            self.pts[i.cats[0] if i.cats else ""].append(rel)

    def _target(self, item: Item) -> tuple[float, float] | None:
        w, h = item.image_size or (0, 0)
        if self.mode == "centre":
            return (w / 2, h / 2)
        key = item.cats[0] if self.mode == "cat" and item.cats else ""
        pts = self.pts.get(key) or self.pts.get("")
        if not pts:
            return (w / 2, h / 2)
        arr = np.asarray(pts)
        return (float(np.median(arr[:, 0])) * w, float(np.median(arr[:, 1])) * h)

    def predict(self, item):
        if not item.options:
            x, y = self._target(item)
            return f"({int(round(x))},{int(round(y))})"
        pts = _opt_points(item)
        if self.mode == "no":
            idx = [k for k, p in enumerate(pts) if p is None]
            return letter(idx[0] if idx else 0)
        real = [(k, p) for k, p in enumerate(pts) if p is not None]
        if not real:
            return "A"
        arr = np.asarray([p for _, p in real])
        if self.mode in ("centre", "median", "cat", "border"):
            t = np.asarray(self._target(item) if self.mode != "border" else
                           (item.image_size[0] / 2, item.image_size[1] / 2))
            sign = 1 if self.mode == "border" else -1
            scores = [sign * float(np.hypot(*(p - t))) for p in arr]
        elif self.mode == "centroid":
            c = arr.mean(0)
            scores = [-float(np.hypot(*(p - c))) for p in arr]
        else:
            d = np.hypot(arr[:, None, 0] - arr[None, :, 0], arr[:, None, 1] - arr[None, :, 1])
            tot = d.sum(1)
            scores = list(-tot if self.mode == "medoid" else tot)
        return letter(real[_argbest([float(s) for s in scores])][0])


def all_rules() -> list[Rule]:
    return [
        MajorityLetter(),
        MajorityValue(),
        OptionLength(True),
        OptionLength(False),
        Ordinal(),
        Spacing("nearest mean"),
        Spacing("medoid"),
        RecurringParts("both"),
        RecurringParts("count"),
        RecurringParts("frame"),
        CountThenParts(),
        SameAxisPair(),
        RelationPriorRule(False),
        RelationPriorRule(True),
        MedianValue("global"),
        MedianValue("cat"),
        MedianValue("pair"),
        MedianValue("cat_k"),
        MedianValue("mode"),
        PointRule("centre"),
        PointRule("median"),
        PointRule("cat"),
        PointRule("medoid"),
        PointRule("centroid"),
        PointRule("outlier"),
        PointRule("border"),
        NamedCoordinates(),
        PointRule("no"),
    ]


# ---- running ------------------------------------------------------------------------------------
def predictions(rule: Rule, fit_on: list[Item], score: list[Item]) -> dict[str, str]:
    rule.fit(fit_on)
    out = {}
    for i in score:
        if rule.applies(i.qtype):
            p = rule.predict(i)
            out[i.qa.id] = "" if p is None else p
    return out


def run(fit_on: list[Item], score: list[Item], cross: bool) -> dict[str, dict]:
    """type -> {"n", "chance" (MC) or None, "rules": {name: score}}."""
    rules = all_rules()
    preds: dict[str, dict[str, str]] = {r.name: {} for r in rules}
    if cross:
        scenes = sorted({i.scene for i in score})
        for s in scenes:
            train = [i for i in fit_on if i.scene != s]
            test = [i for i in score if i.scene == s]
            for r in all_rules():
                preds[r.name].update(predictions(r, train, test))
    else:
        for r in rules:
            preds[r.name] = predictions(r, fit_on, score)
    by_type: dict[str, list[Item]] = defaultdict(list)
    for i in score:
        by_type[i.qtype].append(i)
    out: dict[str, dict] = {}
    for t in QA_TYPES:
        items = by_type.get(t, [])
        if not items:
            continue
        n_opt = len(items[0].options)
        row = {"n": len(items), "chance": 100.0 / n_opt if n_opt else None, "rules": {}}
        for r in rules:
            if not r.applies(t):
                continue
            p = {i.qa.id: preds[r.name][i.qa.id] for i in items if i.qa.id in preds[r.name]}
            if len(p) != len(items):
                continue
            rep = evaluate([i.qa for i in items], p)
            row["rules"][r.name] = round(float(rep.per_type[t]["score"]), 1)
        if row["chance"] is not None:
            row["reference"] = ["chance", row["chance"]]
        else:
            name = "global median point" if t in POINT_TYPES else "global median"
            row["reference"] = [name, row["rules"][name]]
        out[t] = row
    return out


def summarize(table: dict[str, dict]) -> dict[str, float]:
    best, ref = [], []
    for row in table.values():
        best.append(max(row["rules"].values()))
        ref.append(row["reference"][1])
    return {"best_mean": float(np.mean(best)), "reference_mean": float(np.mean(ref))}


def merge(tables: list[dict[str, dict]]) -> dict[str, dict]:
    """Tables of several datasets as one: every score the item-weighted mean."""
    out: dict[str, dict] = {}
    for t in QA_TYPES:
        rows = [tb[t] for tb in tables if t in tb]
        if not rows:
            continue
        n = sum(r["n"] for r in rows)
        names = set.intersection(*(set(r["rules"]) for r in rows))
        rules = {k: round(sum(r["rules"][k] * r["n"] for r in rows) / n, 1) for k in names}
        ref_name = rows[0]["reference"][0]
        ref = rows[0]["chance"] if ref_name == "chance" else rules[ref_name]
        out[t] = {"n": n, "chance": rows[0]["chance"], "rules": rules, "reference": [ref_name, ref]}
    return out


def standard_error(row: dict) -> float | None:
    """Binomial standard error (points) of the best rule of a multiple-choice type."""
    if row["chance"] is None:
        return None
    p = max(row["rules"].values()) / 100.0
    return 100.0 * math.sqrt(p * (1.0 - p) / row["n"])


def print_tables(table: dict[str, dict]) -> None:
    print("| type | n | reference | best rule | best | gap | s.e. |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: |")
    for t, row in table.items():
        scores = row["rules"]
        name = max(scores, key=lambda k: scores[k])
        ref = row["reference"][1]
        se = standard_error(row)
        print(f"| {t} | {row['n']} | {ref:.1f} | {name} | {scores[name]:.1f} | "
              f"{scores[name] - ref:+.1f} | {'' if se is None else f'{se:.1f}'} |")
    s = summarize(table)
    print(f"\nmean over types: best {s['best_mean']:.1f}, reference {s['reference_mean']:.1f}\n")
    for t, row in table.items():
        ref, refv = row["reference"]
        print(f"{t} (n={row['n']}, {ref} {refv:.1f})")
        for name, v in sorted(row["rules"].items(), key=lambda kv: -kv[1]):
            print(f"    {v:6.1f}  {name}")


def table_of(path: str, fit: str, score_split: str, cross: bool) -> dict[str, dict]:
    """The rule table of one dataset."""
    global item_vocab
    if cross:
        fit_on = score = load(path, None)
    else:
        fit_on, score = load(path, fit), load(path, score_split)
    item_vocab = Vocabulary(category_names(i.qa for i in fit_on + score))
    for i in fit_on + score:
        i.cats = item_vocab.find(i.qa.question)
    return run(fit_on, score, cross)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="+",
                    help="dataset directories written by `mosaic dataset` (several: e.g. built "
                         "with different --seed; scores are averaged, weighted by items)")
    ap.add_argument("--fit", default="train", help="split the rules are fitted on")
    ap.add_argument("--score", default="bench", help="split the rules are scored on")
    ap.add_argument("--cross", action="store_true",
                    help="leave one scene out over every split instead of fit -> score")
    ap.add_argument("--json", help="also write the table as JSON here")
    args = ap.parse_args(argv)
    tables = [table_of(p, args.fit, args.score, args.cross) for p in args.datasets]
    table = merge(tables) if len(tables) > 1 else tables[0]
    mode = "leave one scene out" if args.cross else f"fit on {args.fit}, scored on {args.score}"
    print(f"blind baseline: {', '.join(args.datasets)} ({mode})\n")
    print_tables(table)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"mode": mode, "datasets": args.datasets, "types": table,
                       **summarize(table)}, fh, indent=1)


if __name__ == "__main__":
    main()
