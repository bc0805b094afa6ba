"""Scoring rule by rule, with expected scores worked out by hand from SpatialMosaic's public
evaluation (``thinking-in-space/lmms_eval/tasks/spatial_mosaic/indoor/utils.py`` of
``Kanghee-Lee/SpatialMosaic-project``): first token = ``pred.split(' ')[0].rstrip('.').strip()``,
numeric thresholds ``np.linspace(.5, .95, int((.95 - .5) / .05 + 2))``, point thresholds
``np.arange(.5, 1.4 + .05, .1)``, points parsed ``(x, y)`` -> ``x, y`` -> any two numbers."""

from __future__ import annotations

import json

import pytest

from mosaic.evaluation import (
    MRA_THRESHOLDS,
    MRA_TOLERANCES,
    POINT_THRESHOLDS,
    PredictionFileError,
    evaluate,
    first_token,
    load_predictions,
    mean_relative_accuracy,
    parse_point,
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
        occ_level="medium", vis_level="Partially Visible", coverage="Full Coverage",
        bbox_2d=None, bbox_2d_diag=diag, targets=(1,), template_id="t", seed=0,
    )
    base.update(kw)
    return QAItem(**base)


def test_numeric_thresholds_are_their_ten_linspace_values():
    # (0.95 - 0.5) / 0.05 + 2 = 10.999999999999998 in floating point: int() gives 10 values
    assert len(MRA_THRESHOLDS) == 10
    assert MRA_THRESHOLDS[0] == 0.5 and MRA_THRESHOLDS[-1] == 0.95
    assert MRA_THRESHOLDS[8] == 0.8999999999999999  # numpy's value, not 0.9
    # the tolerances 1 - t as numpy computes them: these decide the edge cases below
    assert MRA_TOLERANCES[6] == 0.19999999999999996  # t = 0.8
    assert MRA_TOLERANCES[4] == 0.30000000000000004  # t = 0.7
    assert MRA_TOLERANCES[9] == 0.050000000000000044  # t = 0.95


def test_point_thresholds_are_their_arange_values():
    assert POINT_THRESHOLDS.tolist() == [
        0.5, 0.6, 0.7, 0.7999999999999999, 0.8999999999999999, 0.9999999999999999,
        1.0999999999999999, 1.1999999999999997, 1.2999999999999998, 1.4,
    ]


@pytest.mark.parametrize(
    ("pred", "token"),
    [("A.", "A"), ("A. 3", "A"), ("B..", "B"), ("a", "a"), ("", ""), (" A", ""),
     ("A.\n", "A."), ("\tA.", "A"), ("A\nB", "A\nB"), ("3 m", "3"), ("(A)", "(A)"),
     ("Frame 1: (3,4)", "Frame")],
)
def test_first_token_splits_on_one_space_then_periods_then_whitespace(pred, token):
    assert first_token(pred) == token


@pytest.mark.parametrize(
    ("pred", "score"),
    [("B", 1), ("b", 1), ("B.", 1), ("B. 3", 1), ("B..", 1), ("b. because", 1),
     ("\tB", 1), ("B\n", 1),
     # their rule, not a friendlier one: a leading space, a period before a newline, a
     # bracket or a sentence all make the first token something other than the letter
     (" B", 0), ("B.\n", 0), ("B)", 0), ("(B)", 0), ("The answer is B", 0), ("", 0),
     ("C", 0), ("B\nC", 0)],
)
def test_multiple_choice_first_token(pred, score):
    assert score_multiple_choice(pred, "B") == score


@pytest.mark.parametrize(
    ("pred", "gt", "score"),
    [
        ("10", "10", 1.0),
        # |12 - 10| / 10 = 0.2 passes 1 - t for t = .5 .. .75 (6); for t = .8 the tolerance
        # is 0.19999999999999996 < 0.2
        ("12", "10", 0.6), ("8", "10", 0.6), ("2", "2.5", 0.6),
        # 0.25 <= 1 - t for t = .5 .. .75 (6)
        ("3", "4", 0.6),
        # 0.3 <= 0.30000000000000004 (t = .7): t = .5 .. .7 (5)
        ("13", "10", 0.5),
        # 0.1 <= 0.10000000000000009 (t = .9): 9
        ("11", "10", 0.9),
        # 0.05 <= 0.050000000000000044: all 10
        ("9.5", "10", 1.0), ("10.5", "10", 1.0),
        ("15", "10", 0.1), ("16", "10", 0.0),
        # first token read by float(): units after a space are fine, glued ones are not
        ("10 m", "10", 1.0), ("10.", "10", 1.0), ("10..", "10", 1.0), ("10m", "10", 0.0),
        ("1e1", "10", 1.0), ("1_0", "10", 1.0), ("+10", "10", 1.0), ("10\n", "10", 1.0),
        (" 10", "10", 0.0), ("about 10", "10", 0.0), ("Frame 1: 10", "10", 0.0),
        ("", "10", 0.0), ("nan", "10", 0.0), ("inf", "10", 0.0), ("-10", "10", 0.0),
        ("many", "10", 0.0),
    ],
)
def test_numeric_mean_relative_accuracy(pred, gt, score):
    assert score_numeric(pred, gt) == score


def test_zero_ground_truth_is_the_one_documented_difference():
    # their relative error divides by the ground truth and stops with ZeroDivisionError;
    # here an exact 0 scores 1 and anything else 0
    assert mean_relative_accuracy(0.0, 0.0) == 1.0
    assert score_numeric("0", "0") == 1.0 and score_numeric("0.0 m", "0") == 1.0
    assert score_numeric("1", "0") == 0.0 and score_numeric("none", "0") == 0.0


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("(120,45)", (120.0, 45.0)), ("( 120 , 45 )", (120.0, 45.0)),
        ("Frame 1: (120, 45)", (120.0, 45.0)),  # parentheses first: Frame's 1 is skipped
        ("Frame 1: 120, 45", (120.0, 45.0)),  # then an "x, y" pair
        ("Frame 2 at 120 45", (2.0, 120.0)),  # then the first two numbers, whatever they are
        ("x=3 y=4", (3.0, 4.0)), ("(-3.5, 4)", (-3.5, 4.0)),
        ("A point (1, 2) or (106, 108)", (1.0, 2.0)),
        ("(.5, 3)", (5.0, 3.0)),  # numbers need a digit before the point
        ("(100)", None), ("", None), ("no idea", None),
    ],
)
def test_point_parsing_order(text, point):
    assert parse_point(text) == point


@pytest.mark.parametrize(
    ("pred", "score"),
    [
        ("(103,104)", 1.0),  # 5 px <= 0.5 * 10
        ("(100,107)", 0.8),  # 7 px: t = .7 .. 1.4
        # 8 px > 10 * 0.7999999999999999: t = .9 .. 1.4 (6), not 7
        ("(100,108)", 0.6),
        # 10 px > 10 * 0.9999999999999999: t = 1.1 .. 1.4 (4), not 5
        ("(106,108)", 0.4), ("Frame 1: (106, 108)", 0.4), ("106, 108", 0.4),
        ("x=100 y=114", 0.1), ("(100,115)", 0.0),
        ("Frame 1 at 100 100", 0.0),  # read as (1, 100)
        ("(100)", 0.0), ("", 0.0),
    ],
)
def test_point_accuracy(pred, score):
    assert score_point(pred, "(100,100)", 10.0) == score


def test_point_needs_a_positive_diagonal():
    assert score_point("(100,100)", "(100,100)", "0") == 0.0  # the export's "not applicable"
    assert score_point("(100,100)", "(100,100)", None) == 0.0
    assert score_point("(100,100)", "(100,100)", "14.14") == 1.0


def test_score_item_dispatch():
    mc = item("a", "obj_existence_occ_lr", "A", "Yes", options=("Yes", "No"))
    assert score_item(mc, "A") == 1.0 and score_item(mc, "Yes") == 0.0
    loc_mc = item("l", "obj_localization_occ", "C", "Yes; (3,4)", options=("a", "b", "c", "d"))
    assert score_item(loc_mc, "C. Yes; (3,4)") == 1.0
    na = item("b", "obj_count_occ_na", "4", "4")
    assert score_item(na, "4") == 1.0
    loc = item("c", "obj_localization_occ_na", "(10,20)", "(10,20)", diag=10.0)
    assert score_item(loc, "(16,28)") == 0.4


def _aggregate_items() -> list[QAItem]:
    return [
        item("m1", "obj_count_occ", "A", "3", options=("3", "1", "2", "4")),
        item("m2", "obj_count_occ", "B", "3", options=("1", "3", "2", "4"),
             vis_level="Fully Visible"),
        item("n1", "obj_count_occ_na", "10", "10", occ_level="high"),
        item("s1", "obj_size_occ_na", "50", "50", coverage="Partial Coverage"),
        item("x1", "obj_spatial_occ_lr", "C", "left", options=("a", "b", "left", "d")),
    ]


def test_aggregates_count_a_missing_prediction_as_wrong():
    preds = {"m1": "A", "m2": "c", "n1": "12", "s1": "100"}
    r = evaluate(_aggregate_items(), preds)
    # obj_count_occ 50, obj_count_occ_na 60 (0.2 passes 6 of 10), obj_size_occ_na 0
    # (|100 - 50| / 50 = 1), obj_spatial_occ_lr 0 (x1 has no prediction)
    assert r.per_type["obj_count_occ"] == {"score": 50.0, "n": 2}
    assert r.per_type["obj_count_occ_na"]["score"] == pytest.approx(60.0)
    assert r.per_type["obj_size_occ_na"]["score"] == 0.0
    assert r.per_type["obj_spatial_occ_lr"] == {"score": 0.0, "n": 1}
    assert r.overall == pytest.approx((50 + 60 + 0 + 0) / 4)
    assert r.per_family["object_count"]["score"] == pytest.approx((50 + 60) / 2)
    assert r.per_family["numeric"]["score"] == 0.0
    assert (r.n_items, r.n_scored, r.n_missing) == (5, 5, 1)
    assert r.missing_examples == ["x1"] and not r.allow_missing
    vis = r.per_level["vis_level"]
    assert vis["Fully Visible"] == {"score": 0.0, "n": 1}
    # Partially Visible: obj_count_occ 100 (m1), count_na 60, size 0, spatial 0
    assert vis["Partially Visible"]["score"] == pytest.approx((100 + 60 + 0 + 0) / 4)
    assert r.per_level["occ_level"]["high"]["score"] == pytest.approx(60.0)
    assert r.per_level["coverage"]["Partial Coverage"] == {"score": 0.0, "n": 1}
    assert json.loads(json.dumps(r.to_dict()))["overall"] == pytest.approx(r.overall)


def test_one_correct_prediction_is_not_a_perfect_score():
    r = evaluate(_aggregate_items(), {"m1": "A"})
    assert r.overall == pytest.approx(50 / 4) and r.n_missing == 4


def test_allow_missing_scores_only_the_items_present():
    r = evaluate(_aggregate_items(), {"m1": "A"}, allow_missing=True)
    assert r.overall == 100.0 and r.allow_missing
    assert (r.n_items, r.n_scored, r.n_missing) == (5, 1, 4)
    assert set(r.per_type) == {"obj_count_occ"}


def test_unknown_ids_are_an_error_listing_the_first_few():
    preds = {"m1": "A", **{f"zz{i}": "A" for i in range(8)}}
    with pytest.raises(PredictionFileError, match=r"8 prediction ids.*zz0, zz1.*and 3 more"):
        evaluate(_aggregate_items(), preds)


def test_unparseable_is_zero_not_error():
    it = item("n", "obj_distance_occ_na", "2.5", "2.5")
    r = evaluate([it], {"n": "I cannot tell"})
    assert r.overall == 0.0 and r.per_type["obj_distance_occ_na"]["n"] == 1


def test_load_predictions(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"id": "a", "prediction": "B"}\n\n{"id": "b", "response": 3.5}\n'
                 '{"id": "c", "output": null}\n')
    assert load_predictions(p) == {"a": "B", "b": "3.5", "c": ""}
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


def test_duplicated_ids_are_an_error_naming_the_lines(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"id": "a", "prediction": "B"}\n{"id": "b", "prediction": "A"}\n'
                 '{"id": "a", "prediction": "C"}\n')
    with pytest.raises(PredictionFileError, match=r"1 ids have more than one.*a \(lines 1 and 3\)"):
        load_predictions(p)
