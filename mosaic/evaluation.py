"""Scoring of model predictions (product.md section 4), identical to SpatialMosaic / VSI-Bench.

* Multiple choice: the prediction's first whitespace-separated token, one trailing period
  dropped, compared case-insensitively with the correct letter.
* Numeric (counts, distances, sizes): the prediction's first whitespace-separated token, one
  trailing period dropped, read as a number (VSI-Bench's ``to_float(fuzzy_matching(...))``:
  ``"3.5"`` and ``"3.5."`` parse, ``"about 3.5 m"`` and ``"3.5m"`` do not); mean relative
  accuracy over the 11 thresholds ``np.linspace(0.5, 0.95, 11)``; threshold t passes when
  ``|pred - gt| / gt <= 1 - t``.
* Points (``obj_localization_occ_na``): the share of t in 0.5, 0.6, ..., 1.4 with pixel
  distance ``<= t * bbox_2d_diag``.
* An unparseable prediction scores 0.

Aggregates (all x100): per question type (mean over its items), per family and overall
(unweighted means over the types present), and per diagnostic level (for each of
``overlap_level``, ``occ_level``, ``vis_level``, ``coverage``: the unweighted mean over types
present among the items at that level).
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
from .structures import FAMILY_OF, QAItem

NUMERIC_TYPES = frozenset(
    {"obj_count_occ_na", "obj_distance_occ_na", "obj_obj_distance_occ_na", "obj_size_occ_na"}
)
POINT_TYPES = frozenset({"obj_localization_occ_na"})
MRA_THRESHOLDS = np.linspace(0.5, 0.95, 11)
POINT_THRESHOLDS = np.round(np.arange(0.5, 1.45, 0.1), 10)  # 0.5, 0.6, ..., 1.4 (10 values)
LEVEL_FIELDS = ("overlap_level", "occ_level", "vis_level", "coverage")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class PredictionFileError(MosaicError):
    """A predictions file cannot be read."""


def first_token(pred: str) -> str:
    """The prediction's first whitespace-separated token with one trailing period dropped."""
    tokens = str(pred).strip().split()
    if not tokens:
        return ""
    token = tokens[0]
    return token[:-1] if token.endswith(".") else token


def score_multiple_choice(pred: str, letter: str) -> float:
    """1.0 when the first token (trailing period dropped) equals the letter, else 0.0."""
    token = first_token(pred)
    if not token:
        return 0.0
    return float(token.lower() == str(letter).strip().lower())


def parse_number(text: str) -> float | None:
    """The first number in the text, or None."""
    match = _NUMBER.search(str(text))
    if match is None:
        return None
    value = float(match.group(0))
    return value if math.isfinite(value) else None


def mean_relative_accuracy(pred: float, gt: float) -> float:
    """Share of thresholds t in linspace(0.5, 0.95, 11) with |pred - gt| / gt <= 1 - t."""
    if gt == 0:
        return float(pred == 0)
    rel = abs(pred - gt) / abs(gt)
    return float(np.mean(rel <= 1.0 - MRA_THRESHOLDS))


def score_numeric(pred: str, gt: str) -> float:
    """MRA of the prediction's first token read as a number (0 if it is not one).

    Only the first token counts, as in VSI-Bench / SpatialMosaic: scanning the whole answer for
    a number would score verbose answers that the public evaluation scores 0.
    """
    try:
        p = float(first_token(pred))
    except ValueError:
        return 0.0
    g = parse_number(gt)
    if not math.isfinite(p) or g is None:
        return 0.0
    return mean_relative_accuracy(p, g)


def parse_point(text: str) -> tuple[float, float] | None:
    """The first two numbers of the text as an (x, y) point, or None."""
    nums = _NUMBER.findall(str(text))
    if len(nums) < 2:
        return None
    x, y = float(nums[0]), float(nums[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    return x, y


def score_point(pred: str, gt: str, diag: float) -> float:
    """Share of t in 0.5..1.4 (step 0.1) with pixel distance <= t * diag (0 if unparseable)."""
    p, g = parse_point(pred), parse_point(gt)
    if p is None or g is None or diag is None or not diag > 0:
        return 0.0
    dist = math.hypot(p[0] - g[0], p[1] - g[1])
    return float(np.mean(dist <= POINT_THRESHOLDS * diag))


def score_item(item: QAItem, pred: str) -> float:
    """Score one prediction for one item, in [0, 1]."""
    if item.question_type in POINT_TYPES:
        return score_point(pred, item.ground_truth, item.bbox_2d_diag or 0.0)
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
        n_scored: items with a prediction; n_missing: dataset items without one;
        n_unknown: prediction ids not in the dataset.
    """

    overall: float
    per_type: dict[str, dict[str, float]] = field(default_factory=dict)
    per_family: dict[str, dict[str, float]] = field(default_factory=dict)
    per_level: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    n_scored: int = 0
    n_missing: int = 0
    n_unknown: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall,
            "per_type": self.per_type,
            "per_family": self.per_family,
            "per_level": self.per_level,
            "n_scored": self.n_scored,
            "n_missing": self.n_missing,
            "n_unknown": self.n_unknown,
        }


def _by_type_mean(rows: list[tuple[str, float]]) -> float:
    per: dict[str, list[float]] = defaultdict(list)
    for qtype, s in rows:
        per[qtype].append(s)
    if not per:
        return 0.0
    return float(np.mean([np.mean(v) for v in per.values()]) * 100.0)


def evaluate(items: Iterable[QAItem], predictions: Mapping[str, str]) -> EvaluationReport:
    """Score predictions (item id -> model output text) against the items that have one."""
    rows: list[tuple[QAItem, float]] = []
    n_missing = 0
    seen: set[str] = set()
    for item in items:
        seen.add(item.id)
        if item.id not in predictions:
            n_missing += 1
            continue
        rows.append((item, score_item(item, predictions[item.id])))
    report = EvaluationReport(overall=_by_type_mean([(i.question_type, s) for i, s in rows]))
    report.n_scored, report.n_missing = len(rows), n_missing
    report.n_unknown = sum(1 for k in predictions if k not in seen)
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

    The text may also be under ``pred``, ``response``, ``output`` or ``answer``. Raises
    ``PredictionFileError`` naming the line on malformed input.
    """
    path = Path(path)
    if not path.is_file():
        raise PredictionFileError(f"predictions file {path} does not exist; {_PRED_FORMAT}")
    preds: dict[str, str] = {}
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
                preds[str(obj["id"])] = "" if obj[key] is None else str(obj[key])
    except UnicodeDecodeError as exc:
        raise PredictionFileError(
            f"{path}: not UTF-8 text ({exc}); {_PRED_FORMAT}"
        ) from None
    return preds
