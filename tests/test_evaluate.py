"""Scoring against hand-computed values (product.md section 4)."""

from __future__ import annotations

import json

import pytest

from mosaic.evaluation import (
    MRA_THRESHOLDS,
    POINT_THRESHOLDS,
    PredictionFileError,
    evaluate,
    load_predictions,
    mean_relative_accuracy,
    score_item,
    score_multiple_choice,
    score_numeric,
    score_point,
)
from mosaic.structures import FAMILY_OF, QAItem


def item(qid: str, qtype: str, answer: str, gt: str, options=(), diag=None, **kw) -> QAItem:
    base = dict(
        id=qid, scene_id="scene0000_00", question_type=qtype, family=FAMILY_OF[qtype],
        frame_ids=(0, 10), question="q", options=tuple(options), answer=answer,
        ground_truth=gt, overlap_avg=3.0, overlap_level="low", occlusion_avg=0.5,
        occ_level="medium", vis_level="partially visible", coverage="full",
        bbox_2d=None, bbox_2d_diag=diag, targets=(1,), template_id="t", seed=0,
    )
    base.update(kw)
    return QAItem(**base)


def test_thresholds():
    assert len(MRA_THRESHOLDS) == 11 and MRA_THRESHOLDS[0] == 0.5 and MRA_THRESHOLDS[-1] == 0.95
    assert POINT_THRESHOLDS.tolist() == pytest.approx([0.5 + 0.1 * i for i in range(10)])


@pytest.mark.parametrize(
    ("pred", "score"),
    [("B", 1), ("b.", 1), ("  B.  because", 1), ("B)", 0), ("(B)", 0), ("", 0),
     ("The answer is B", 0), ("C", 0), ("B..", 0)],
)
def test_multiple_choice(pred, score):
    assert score_multiple_choice(pred, "B") == score


def test_mean_relative_accuracy_by_hand():
    assert mean_relative_accuracy(10, 10) == 1.0
    # |12-10|/10 = 0.2 <= 1 - t for t in 0.50 .. 0.77 (7 of 11 thresholds)
    assert mean_relative_accuracy(12, 10) == pytest.approx(7 / 11)
    assert mean_relative_accuracy(8, 10) == pytest.approx(7 / 11)
    # 0.5 passes only t = 0.5
    assert mean_relative_accuracy(15, 10) == pytest.approx(1 / 11)
    assert mean_relative_accuracy(16, 10) == 0.0
    assert score_numeric("9.5 m", "10") == 1.0  # 0.05 passes every t up to 0.95
    assert score_numeric("9.5.", "10") == 1.0  # one trailing period dropped
    # only the first token is read, as VSI-Bench / SpatialMosaic do
    assert score_numeric("about 9.5 m", "10") == 0.0
    assert score_numeric("9.5m", "10") == 0.0
    # 0.25 <= 1 - t for t in 0.500 .. 0.725 (6 of 11)
    assert score_numeric("3", "4") == pytest.approx(6 / 11)
    assert score_numeric("many", "4") == 0.0
    assert score_numeric("", "4") == 0.0
    assert score_numeric("nan", "4") == 0.0 and score_numeric("inf", "4") == 0.0


def test_points_by_hand():
    # distance 10 px with diagonal 10: passes t = 1.0 .. 1.4 (5 of 10)
    assert score_point("(106,108)", "(100,100)", 10.0) == pytest.approx(0.5)
    assert score_point("(100, 100)", "(100,100)", 10.0) == 1.0
    assert score_point("x=100 y=114", "(100,100)", 10.0) == pytest.approx(0.1)
    assert score_point("(100,115)", "(100,100)", 10.0) == 0.0
    assert score_point("(103,104)", "(100,100)", 10.0) == 1.0  # 5 px <= 0.5 * 10
    assert score_point("no idea", "(100,100)", 10.0) == 0.0
    assert score_point("(100)", "(100,100)", 10.0) == 0.0


def test_score_item_dispatch():
    mc = item("a", "obj_existence_occ_lr", "A", "Yes", options=("Yes", "No"))
    assert score_item(mc, "A") == 1.0 and score_item(mc, "Yes") == 0.0
    na = item("b", "obj_count_occ_na", "4", "4")
    assert score_item(na, "4") == 1.0
    loc = item("c", "obj_localization_occ_na", "(10,20)", "(10,20)", diag=10.0)
    assert score_item(loc, "(16,28)") == pytest.approx(0.5)


def test_aggregates_by_hand():
    items = [
        item("m1", "obj_count_occ", "A", "3", options=("3", "1", "2", "4")),
        item("m2", "obj_count_occ", "B", "3", options=("1", "3", "2", "4"),
             vis_level="fully visible"),
        item("n1", "obj_count_occ_na", "10", "10", occ_level="high"),
        item("s1", "obj_size_occ_na", "50", "50", coverage="partial"),
        item("x1", "obj_spatial_occ_lr", "C", "left", options=("a", "b", "left", "d")),
    ]
    preds = {"m1": "A", "m2": "c", "n1": "12", "s1": "100", "zz": "A"}
    r = evaluate(items, preds)
    # types: obj_count_occ 50, obj_count_occ_na 7/11, obj_size_occ_na 0 (|100-50|/50 = 1)
    assert r.per_type["obj_count_occ"] == {"score": 50.0, "n": 2}
    assert r.per_type["obj_count_occ_na"]["score"] == pytest.approx(700 / 11)
    assert r.per_type["obj_size_occ_na"]["score"] == 0.0
    assert r.overall == pytest.approx((50 + 700 / 11 + 0) / 3)
    assert r.per_family["object_count"]["score"] == pytest.approx((50 + 700 / 11) / 2)
    assert r.per_family["numeric"]["score"] == 0.0
    assert r.n_scored == 4 and r.n_missing == 1 and r.n_unknown == 1
    vis = r.per_level["vis_level"]
    assert vis["fully visible"] == {"score": 0.0, "n": 1}
    # partially visible: obj_count_occ 100 (m1), count_na 7/11, size 0 -> mean over 3 types
    assert vis["partially visible"]["score"] == pytest.approx((100 + 700 / 11 + 0) / 3)
    assert r.per_level["occ_level"]["high"]["score"] == pytest.approx(700 / 11)
    assert r.per_level["coverage"]["partial"] == {"score": 0.0, "n": 1}
    assert json.loads(json.dumps(r.to_dict()))["overall"] == pytest.approx(r.overall)


def test_unparseable_is_zero_not_error():
    it = item("n", "obj_distance_occ_na", "2.5", "2.5")
    r = evaluate([it], {"n": "I cannot tell"})
    assert r.overall == 0.0 and r.per_type["obj_distance_occ_na"]["n"] == 1


def test_load_predictions(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"id": "a", "prediction": "B"}\n\n{"id": "b", "response": 3.5}\n')
    assert load_predictions(p) == {"a": "B", "b": "3.5"}
    p.write_text('{"id": "a", "prediction": "B"}\nnot json\n')
    with pytest.raises(PredictionFileError, match=":2:"):
        load_predictions(p)
    p.write_text('{"prediction": "B"}\n')
    with pytest.raises(PredictionFileError, match="id"):
        load_predictions(p)
    with pytest.raises(PredictionFileError, match="does not exist"):
        load_predictions(tmp_path / "missing.jsonl")
    # a JSON list instead of JSON lines, and a binary file: typed errors that say what is expected
    p.write_text('[{"id": "a", "prediction": "B"}]\n')
    with pytest.raises(PredictionFileError, match=r":1: expected an object.*JSON lines"):
        load_predictions(p)
    p.write_bytes(b'{"id": "a", "prediction": "B"}\n\xff\xfe\x00garbage\n')
    with pytest.raises(PredictionFileError, match="not UTF-8"):
        load_predictions(p)

