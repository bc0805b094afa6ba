"""View-dependent relations and the spatial graph on hand-built visibility records."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mosaic.config import QAConfig
from mosaic.relations import (
    build_spatial_graph,
    relation_sign,
    sign_matrix,
    view_relations,
)
from mosaic.structures import (
    Frame,
    ObjectVisibility,
    OrientedBox,
    Scene,
    SceneObject,
    ViewVisibility,
)

W, H = 1000, 800


def rec(iid: int, cx: float, cy: float, depth: float, visible: bool = True) -> ObjectVisibility:
    return ObjectVisibility(
        instance_id=iid,
        visible_px=500 if visible else 0,
        amodal_px_in=600,
        amodal_px_total=600,
        truncation=0.0,
        occlusion=0.2,
        visible_ratio=0.8 if visible else 0.0,
        bbox_visible=(cx - 10, cy - 10, cx + 10, cy + 10) if visible else None,
        bbox_amodal=(cx - 10, cy - 10, cx + 10, cy + 10),
        center_visible=(cx, cy) if visible else None,
        depth_median=depth if visible else float("nan"),
        occluders=(),
        state="occluded" if visible else "invisible",
        occ_level="low",
        visible=visible,
    )


QA = QAConfig(lr_margin=0.05, ab_margin=0.05, fb_margin=0.3)


def test_lr_margin_is_a_share_of_the_width():
    a, b = rec(1, 100, 400, 2.0), rec(2, 149, 400, 2.0)  # 49 px apart, margin 50 px
    assert relation_sign(a, b, "lr", W, H, QA) == 0
    b2 = rec(2, 151, 400, 2.0)
    assert relation_sign(a, b2, "lr", W, H, QA) == 1  # a left of b
    assert relation_sign(b2, a, "lr", W, H, QA) == -1


def test_ab_uses_image_y_down_and_height_margin():
    top, bottom = rec(1, 500, 100, 2.0), rec(2, 500, 139, 2.0)  # 39 px < 40 px margin
    assert relation_sign(top, bottom, "ab", W, H, QA) == 0
    bottom = rec(2, 500, 141, 2.0)
    assert relation_sign(top, bottom, "ab", W, H, QA) == 1  # smaller y = above
    assert relation_sign(bottom, top, "ab", W, H, QA) == -1


def test_fb_uses_depth_median_in_metres():
    near, far = rec(1, 500, 400, 1.0), rec(2, 500, 400, 1.29)
    assert relation_sign(near, far, "fb", W, H, QA) == 0
    far = rec(2, 500, 400, 1.31)
    assert relation_sign(near, far, "fb", W, H, QA) == 1  # in front = closer
    assert relation_sign(far, near, "fb", W, H, QA) == -1


def test_invisible_objects_have_no_relation_and_slack_widens_margin():
    a, hidden = rec(1, 100, 400, 1.0), rec(2, 900, 400, 5.0, visible=False)
    for axis in ("lr", "ab", "fb"):
        assert relation_sign(a, hidden, axis, W, H, QA) == 0
    b = rec(3, 155, 400, 1.0)
    assert relation_sign(a, b, "lr", W, H, QA) == 1
    assert relation_sign(a, b, "lr", W, H, QA, slack=6.0) == 0
    with pytest.raises(ValueError):
        relation_sign(a, b, "xy", W, H, QA)


def test_sign_matrix_is_antisymmetric_and_matches_scalar():
    rng = np.random.default_rng(0)
    recs = [rec(i + 1, *rng.uniform(0, 800, 2), rng.uniform(0.5, 5)) for i in range(12)]
    vr = view_relations(recs, 7, W, H, QA)
    for axis in ("lr", "ab", "fb"):
        s = vr.signs[axis]
        assert np.array_equal(s, -s.T)
        for i, a in enumerate(recs):
            for j, b in enumerate(recs):
                assert s[i, j] == relation_sign(a, b, axis, W, H, QA)
    assert all(vr.relation(a, b, ax) == s for ax in ("lr",) for a, b, s in vr.pairs(ax))
    assert sign_matrix(np.array([0.0, np.nan]), 0.1).tolist() == [[0, 0], [0, 0]]


def _box_object(iid: int, cat: str, lo, hi, structural: bool = False) -> SceneObject:
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    obb = OrientedBox((lo + hi) / 2, hi - lo, np.eye(3))
    return SceneObject(iid, cat, cat, None, None, lo, hi, obb, 12, structural)


def test_spatial_graph_nodes_distances_and_view_relations():
    objs = (
        _box_object(1, "floor", [0, 0, -0.1], [5, 5, 0], structural=True),
        _box_object(2, "chair", [1, 1, 0], [1.5, 1.5, 1.0]),
        _box_object(3, "table", [3, 1, 0], [4, 2, 0.8]),
    )
    frame = Frame(5, np.array([[500.0, 0, 500], [0, 500, 400], [0, 0, 1]]), np.eye(4), W, H)
    scene = Scene(
        "synthetic_graph",
        "test",
        np.zeros((3, 3), np.float32),
        np.array([[0, 1, 2]], np.int32),
        np.zeros((3, 3), np.uint8),
        np.array([2], np.int32),
        objs,
        (frame,),
    )
    view = ViewVisibility(
        5,
        np.zeros((80, 100), np.int32),
        np.zeros((80, 100), np.float32),
        np.zeros((80, 100), np.int32),
        0.1,
        (rec(1, 500, 700, 3.0), rec(2, 200, 300, 1.0), rec(3, 700, 310, 2.5)),
        np.zeros(0, np.int64),
    )
    g = build_spatial_graph(scene, [view], QA)
    assert [n.instance_id for n in g.nodes] == [2, 3]  # the floor is never a node
    c2, c3 = objs[1].center, objs[2].center
    assert g.distance(2, 3) == pytest.approx(float(np.linalg.norm(c2 - c3)))
    assert g.node(3).longest_side == pytest.approx(1.0)
    assert g.relation(5, 2, 3, "lr") == 1
    assert g.relation(5, 2, 3, "ab") == 0  # 10 px apart: inside the margin
    assert g.relation(5, 2, 3, "fb") == 1
    assert g.relation(5, 1, 2, "lr") == 0  # structural objects are not related
    assert (2, 3, 1) in g.edges(5, "fb") and (3, 2, -1) in g.edges(5, "fb")
    assert g.by_category() == {"chair": [2], "table": [3]}
    # slack is given in labelling pixels and converted at the view's scale (0.1): the pair is
    # 500 original px apart against a 50 px margin, so 44 labelling px (440 original) keep
    # the relation and 46 (460) drop it; unconverted, 46 px would still keep it
    g2 = build_spatial_graph(scene, [view], QA, slack_px=44.0)
    assert g2.relation(5, 2, 3, "lr") == 1
    g3 = build_spatial_graph(scene, [view], QA, slack_px=46.0)
    assert g3.relation(5, 2, 3, "lr") == 0 and g3.relation(5, 2, 3, "fb") == 1


def test_objects_spanning_most_of_the_image_are_not_related_on_that_axis():
    """A couch whose visible box spans 60 % of the width: its centre is not where a person
    looks, so it has no left/right relation; its height is small, so above/below stays."""
    couch = dataclasses.replace(rec(1, 350, 600, 1.5), bbox_visible=(50, 500, 650, 700))
    lamp = rec(2, 900, 300, 3.0)
    assert (650 - 50) / W == 0.6 > QA.relation_max_span
    assert relation_sign(couch, lamp, "lr", W, H, QA) == 0
    assert relation_sign(lamp, couch, "lr", W, H, QA) == 0
    assert relation_sign(lamp, couch, "ab", W, H, QA) == 1  # lamp above the couch
    assert relation_sign(couch, lamp, "fb", W, H, QA) == 1  # couch closer
    vr = view_relations([couch, lamp], 7, W, H, QA)
    assert vr.relation(1, 2, "lr") == 0 and vr.relation(2, 1, "lr") == 0
    assert vr.relation(2, 1, "ab") == 1 and vr.relation(1, 2, "fb") == 1
    # just under the span limit the relation is decided again
    narrow = dataclasses.replace(couch, bbox_visible=(100, 500, 599, 700))
    assert relation_sign(narrow, lamp, "lr", W, H, QA) == 1
    assert view_relations([narrow, lamp], 7, W, H, QA).relation(1, 2, "lr") == 1
    # a tall object (a curtain over 70 % of the height) is not related above/below
    curtain = dataclasses.replace(rec(3, 100, 400, 2.5), bbox_visible=(80, 100, 120, 660))
    assert relation_sign(curtain, lamp, "ab", W, H, QA) == 0
    assert relation_sign(curtain, lamp, "lr", W, H, QA) == 1


def test_sign_lookups_match_the_sign_matrices_on_labelled_views():
    """``relation``, ``relations`` (batched over views) and ``edges`` read Python copies of
    the sign matrices: for every view and axis of a labelled scene they give the matrix's
    signs (0 for a view not in the graph or an object not related there), ``edges`` in the
    matrix's row-major order; a pickled view carries its fields only and reads the same."""
    import pickle

    import qa_fixtures as qf

    from mosaic.config import MosaicConfig

    views = list(qf.views(0))
    graph = build_spatial_graph(qf.scene(0), views, MosaicConfig().qa)
    ids = [n.instance_id for n in graph.nodes] + [10_000]  # an id in no view
    frames = [*graph.views, -1]  # a frame the graph does not hold
    decided = 0
    for axis in ("lr", "ab", "fb"):
        for f, view in graph.views.items():
            m = view.signs[axis]
            ii, jj = np.nonzero(m)
            want = [(int(view.ids[i]), int(view.ids[j]), int(m[i, j]))
                    for i, j in zip(ii, jj, strict=True)]
            assert graph.edges(f, axis) == want
            decided += len(want)
        for a in ids[::3]:
            for b in ids[1::2]:
                expected = {}
                for f in frames:
                    view = graph.views.get(f)
                    ia = None if view is None else view.index(a)
                    ib = None if view is None else view.index(b)
                    expected[f] = 0 if ia is None or ib is None else int(
                        view.signs[axis][ia, ib])
                    assert graph.relation(f, a, b, axis) == expected[f]
                assert graph.relations(frames, a, b, axis) == expected
    assert decided > 300
    view = next(iter(graph.views.values()))
    view.relation(*view.ids[:2].tolist(), "lr")  # fills the lookups
    copy = pickle.loads(pickle.dumps(view))
    assert set(vars(copy)) == {f.name for f in dataclasses.fields(view)}
    a, b = view.ids[:2].tolist()
    assert all(copy.relation(a, b, ax) == view.relation(a, b, ax) for ax in ("lr", "ab", "fb"))
