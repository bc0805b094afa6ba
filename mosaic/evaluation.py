"""Scoring of model predictions: item by item what SpatialMosaic's public evaluation computes.

The authority is the lmms-eval task of the SpatialMosaic release (repository
``Kanghee-Lee/SpatialMosaic-project``, ``thinking-in-space/lmms_eval/tasks/spatial_mosaic/
indoor/utils.py``, which reuses VSI-Bench's rules). ``docs/data_format.md`` (Evaluation) states
every rule with worked examples; in short, for a prediction string ``pred``:

* First token (``first_token``): ``pred.split(" ")[0]``, then trailing periods removed, then
  surrounding whitespace removed. Splitting is on a single space only, so ``" A"`` gives
  ``""`` and ``"A\\nB"`` gives ``"A\\nB"``.
* Multiple choice: 1 when the first token equals the correct letter ignoring case.
* Numeric types: the first token read with Python's ``float``; score = share of the 10
  thresholds ``t`` of ``np.linspace(0.5, 0.95, 10)`` with ``|pred - gt| / gt <= 1 - t``
  (the float values of ``1 - t`` are those numpy computes, e.g. ``0.19999999999999996`` for
  t = 0.8, so a relative error of exactly 0.2 passes 6 thresholds, not 7). Unparseable: 0.
* Points (``obj_localization_occ_na``): the point is the first ``(x, y)`` in parentheses,
  else the first ``x, y`` pair, else the first two numbers; score = share of the 10
  thresholds ``np.arange(0.5, 1.45, 0.1)`` (``0.5, 0.6, 0.7, 0.7999999999999999, ...,
  1.4``) with ``sqrt(dx**2 + dy**2) <= t * bbox_2d_diag``. No point, or a diagonal that is
  not a positive number: 0.
* The one deliberate difference: a numeric ground truth of 0 makes their relative error
  divide by zero (their evaluation stops with ``ZeroDivisionError``); here it scores 1 when the
  prediction is exactly 0 and 0 otherwise.

Aggregates (all x100): per question type the mean over its items, per family and overall
the unweighted mean over the types present (their ``overall``), per diagnostic level (each
of ``overlap_level``, ``occ_level``, ``vis_level``, ``coverage``) the unweighted mean over the
types present among that level's items. An item without a prediction is a wrong answer
(score 0) unless ``allow_missing`` asks to score only the items that have one.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MosaicError
from .structures import FAMILY_OF, NUMERIC_TYPES, POINT_TYPES, QAItem

# Their numeric metric is "MRA:.5:.95:.05": linspace(start, end, int((end - start) / step + 2)).
# In floating point (0.95 - 0.5) / 0.05 + 2 is 10.999999999999998, so there are 10 thresholds.
_MRA_START, _MRA_END, _MRA_STEP = 0.5, 0.95, 0.05
MRA_THRESHOLDS = np.linspace(_MRA_START, _MRA_END, int((_MRA_END - _MRA_START) / _MRA_STEP + 2))
MRA_TOLERANCES = 1 - MRA_THRESHOLDS  # a threshold passes when the relative error is <= this
# Their point metric is "MPA:.5:1.4:.1": arange(start, end + step / 2, step), 10 values whose
# float values are arange's (0.7999999999999999 for 0.8, 0.9999999999999999 for 1.0, ...).
_MPA_START, _MPA_END, _MPA_STEP = 0.5, 1.4, 0.1
POINT_THRESHOLDS = np.arange(_MPA_START, _MPA_END + _MPA_STEP / 2, _MPA_STEP)

LEVEL_FIELDS = ("overlap_level", "occ_level", "vis_level", "coverage")
_NUM = r"-?\d+(?:\.\d+)?"
_POINT_IN_PARENS = re.compile(rf"\(\s*({_NUM})\s*,\s*({_NUM})\s*\)")
_POINT_PAIR = re.compile(rf"({_NUM})\s*,\s*({_NUM})")
_ANY_NUMBER = re.compile(_NUM)
EXAMPLES_SHOWN = 5  # ids listed in an error or a report


class PredictionFileError(MosaicError):
    """A predictions file cannot be read, or its ids do not match the dataset."""


def first_token(pred: str) -> str:
    """The answer token: text before the first space, trailing periods and whitespace removed.

    ``"A. 3"`` -> ``"A"``, ``"3 m"`` -> ``"3"``, ``"B.."`` -> ``"B"``, ``" A"`` -> ``""``,
    ``"A.\\n"`` -> ``"A."`` (the periods are removed before the whitespace).
    """
    return pred.split(" ")[0].rstrip(".").strip()


def read_float(text: str) -> float | None:
    """``float(text)`` (accepts ``" 3 "``, ``"1e3"``, ``"nan"``, ``"inf"``), or None."""
    try:
        return float(text)
    except (TypeError, ValueError, OverflowError):
        return None


def parse_point(text: str) -> tuple[float, float] | None:
    """(x, y) from an answer: ``(x, y)`` first, then ``x, y``, then any two numbers; or None.

    Numbers are ``-?digits(.digits)?``: ``"Frame 1: (120, 45)"`` -> (120, 45), ``"120, 45"``
    -> (120, 45), ``"x=3 y=4"`` -> (3, 4), ``"Frame 2 at 120 45"`` -> (2, 120).
    """
    for pattern in (_POINT_IN_PARENS, _POINT_PAIR):
        match = pattern.search(text)
        if match is not None:
            return float(match.group(1)), float(match.group(2))
    numbers = _ANY_NUMBER.findall(text)
    if len(numbers) >= 2:
        return float(numbers[0]), float(numbers[1])
    return None


def score_multiple_choice(pred: str, letter: str) -> float:
    """1.0 when the first token equals the letter ignoring case, else 0.0."""
    return 1.0 if first_token(pred).lower() == letter.lower() else 0.0


def mean_relative_accuracy(pred: float, gt: float) -> float:
    """Share of the 10 thresholds passed: ``|pred - gt| / gt <= 1 - t``.

    A ground truth of 0 (where the relative error is undefined) scores 1 for an exact 0.
    """
    if gt == 0:
        return 1.0 if pred == 0 else 0.0
    rel = abs(pred - gt) / gt
    return float(np.mean(rel <= MRA_TOLERANCES))


def score_numeric(pred: str, gt: str) -> float:
    """MRA of the first token read as a number against the ground truth; 0 if either is not."""
    p, g = read_float(first_token(pred)), read_float(gt)
    if p is None or g is None:
        return 0.0
    return mean_relative_accuracy(p, g)


def score_point(pred: str, gt: str, diag: float | str | None) -> float:
    """Share of the 10 thresholds t with pixel distance <= t * diag; 0 if unparseable.

    ``diag`` may be the number or the export's string (``"0"`` when not applicable).
    """
    p, g = parse_point(pred), parse_point(gt)
    d = None if diag is None else read_float(str(diag))
    if p is None or g is None or d is None or not d > 0:
        return 0.0
    dist = math.sqrt((p[0] - g[0]) ** 2 + (p[1] - g[1]) ** 2)
    return float(np.mean(dist <= d * POINT_THRESHOLDS))


def score_item(item: QAItem, pred: str) -> float:
    """Score one prediction for one item, in [0, 1]."""
    if item.question_type in POINT_TYPES:
        return score_point(pred, item.ground_truth, item.bbox_2d_diag)
    if item.question_type in NUMERIC_TYPES:
        return score_numeric(pred, item.ground_truth)
    return score_multiple_choice(pred, item.answer)


@dataclass
class EvaluationReport:
    """Scores x100.

    Attributes:
        overall: unweighted mean over the question types present.
        per_type: type -> {"score", "n"}.
        per_family: family -> {"score" (unweighted over its types present), "n"}.
        per_level: level field -> level value -> {"score", "n"}.
        n_items: items in the evaluated dataset (or split).
        n_scored: items that enter the scores (all items, or with ``allow_missing`` only
            those with a prediction).
        n_missing: items without a prediction (scored 0 unless ``allow_missing``).
        missing_examples: the first few ids without a prediction.
        allow_missing: True when only items with a prediction were scored.
    """

    overall: float
    per_type: dict[str, dict[str, float]] = field(default_factory=dict)
    per_family: dict[str, dict[str, float]] = field(default_factory=dict)
    per_level: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    n_items: int = 0
    n_scored: int = 0
    n_missing: int = 0
    missing_examples: list[str] = field(default_factory=list)
    allow_missing: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall,
            "per_type": self.per_type,
            "per_family": self.per_family,
            "per_level": self.per_level,
            "n_items": self.n_items,
            "n_scored": self.n_scored,
            "n_missing": self.n_missing,
            "missing_examples": self.missing_examples,
            "allow_missing": self.allow_missing,
        }


def _by_type_mean(rows: list[tuple[str, float]]) -> float:
    per: dict[str, list[float]] = defaultdict(list)
    for qtype, s in rows:
        per[qtype].append(s)
    if not per:
        return 0.0
    return float(np.mean([np.mean(v) for v in per.values()]) * 100.0)


def _listed(ids: list[str]) -> str:
    shown = ", ".join(ids[:EXAMPLES_SHOWN])
    more = f" and {len(ids) - EXAMPLES_SHOWN} more" if len(ids) > EXAMPLES_SHOWN else ""
    return shown + more


def evaluate(
    items: Iterable[QAItem], predictions: Mapping[str, str], allow_missing: bool = False
) -> EvaluationReport:
    """Score predictions (item id -> model output text) against every item.

    An item without a prediction scores 0 (a wrong answer) and is counted in ``n_missing``;
    with ``allow_missing`` only the items that have a prediction are scored. A prediction
    whose id is not among the items raises ``PredictionFileError`` naming the first few.
    """
    items = list(items)
    known = {item.id for item in items}
    unknown = [k for k in predictions if k not in known]
    if unknown:
        raise PredictionFileError(
            f"{len(unknown)} prediction ids are not items of the evaluated dataset: "
            f"{_listed(unknown)}; predict the items of the split you evaluate (--split), "
            "with the ids of the export"
        )
    rows: list[tuple[QAItem, float]] = []
    missing: list[str] = []
    for item in items:
        if item.id in predictions:
            rows.append((item, score_item(item, predictions[item.id])))
            continue
        missing.append(item.id)
        if not allow_missing:
            rows.append((item, 0.0))
    report = EvaluationReport(overall=_by_type_mean([(i.question_type, s) for i, s in rows]))
    report.n_items, report.n_scored, report.n_missing = len(items), len(rows), len(missing)
    report.missing_examples = missing[:EXAMPLES_SHOWN]
    report.allow_missing = allow_missing
    per_type: dict[str, list[float]] = defaultdict(list)
    for item, s in rows:
        per_type[item.question_type].append(s)
    report.per_type = {
        t: {"score": float(np.mean(v) * 100.0), "n": len(v)} for t, v in sorted(per_type.items())
    }
    fams: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for item, s in rows:
        fams[FAMILY_OF.get(item.question_type, item.family)].append((item.question_type, s))
    report.per_family = {
        f: {"score": _by_type_mean(v), "n": len(v)} for f, v in sorted(fams.items())
    }
    for fld in LEVEL_FIELDS:
        levels: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for item, s in rows:
            levels[str(getattr(item, fld))].append((item.question_type, s))
        report.per_level[fld] = {
            lv: {"score": _by_type_mean(v), "n": len(v)} for lv, v in sorted(levels.items())
        }
    return report


PREDICTION_KEYS = ("prediction", "pred", "response", "output", "answer")
_PRED_FORMAT = (
    'expected UTF-8 JSON lines, one {"id": <QA item id>, "prediction": <model output>} per line'
)


def load_predictions(path: str | Path) -> dict[str, str]:
    """Read a JSONL file of ``{"id": ..., "prediction": ...}`` lines.

    The text may also be under ``pred``, ``response``, ``output`` or ``answer``; a non-string
    value is read as its JSON text (``3.5`` -> ``"3.5"``, null -> ``""``). Raises
    ``PredictionFileError`` naming the line on malformed input and listing the first few ids
    that occur more than once.
    """
    path = Path(path)
    if not path.is_file():
        raise PredictionFileError(f"predictions file {path} does not exist; {_PRED_FORMAT}")
    preds: dict[str, str] = {}
    first_line: dict[str, int] = {}
    duplicates: list[str] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise PredictionFileError(
                        f"{path}:{lineno}: not JSON ({exc}); {_PRED_FORMAT}"
                    ) from None
                if not isinstance(obj, dict) or "id" not in obj:
                    raise PredictionFileError(
                        f"{path}:{lineno}: expected an object with an 'id'; {_PRED_FORMAT}"
                    )
                key = next((k for k in PREDICTION_KEYS if k in obj), None)
                if key is None:
                    raise PredictionFileError(
                        f"{path}:{lineno}: no prediction field (one of "
                        f"{', '.join(PREDICTION_KEYS)}); {_PRED_FORMAT}"
                    )
                qid, value = str(obj["id"]), obj[key]
                if qid in first_line:
                    duplicates.append(f"{qid} (lines {first_line[qid]} and {lineno})")
                    continue
                first_line[qid] = lineno
                preds[qid] = value if isinstance(value, str) else (
                    "" if value is None else json.dumps(value)
                )
    except UnicodeDecodeError as exc:
        raise PredictionFileError(
            f"{path}: not UTF-8 text ({exc}); {_PRED_FORMAT}"
        ) from None
    if duplicates:
        raise PredictionFileError(
            f"{path}: {len(duplicates)} ids have more than one prediction: "
            f"{_listed(duplicates)}; keep one prediction per item"
        )
    return preds
