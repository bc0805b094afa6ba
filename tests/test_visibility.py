"""Visibility engine: known answers, backend parity, exact amodal parity, overlap, pose check."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import visibility_scenes as vs
from pool_parity import assert_same_labels, pool_used

from mosaic.config import VisibilityConfig
from mosaic.conventions import look_at
from mosaic.errors import BackendUnavailableError, UnknownNameError
from mosaic.structures import DepthImage
from mosaic.synthetic.world import SCANNET_SIZE_SPEC, SynthSpec, make_scene
from mosaic.visibility import (
    BACKENDS,
    camera_rays,
    check_poses,
    compute_visibility,
    get_backend,
    overlap_matrix,
    view_overlap,
)
from mosaic.visibility.base import world_ray_directions
from mosaic.visibility.engine import SceneCasters, ViewLabeller
from mosaic.visibility.hulls import TargetHulls
from mosaic.visibility.pose_check import NO_VALID_DEPTH


def _only(view, iid):
    rec = view.get(iid)
    assert rec is not None, f"instance {iid} has no record"
    return rec


@pytest.mark.parametrize("method", ["pruned", "exact"])
class TestKnownAnswers:
    def test_box_half_hidden_behind_plate(self, method):
        v = compute_visibility(vs.half_hidden_scene(), amodal_method=method)[0]
        box = _only(v, 1)
        assert box.occlusion == pytest.approx(0.5, abs=0.02)
        assert box.truncation == pytest.approx(0.0, abs=0.02)
        assert box.state == "occluded"
        assert box.occluders[0][0] == 2  # the plate
        # the visible part is the right half: its box starts at the image centre column
        assert box.bbox_visible[0] == pytest.approx(vs.W / 2, abs=1.5)

    def test_box_half_outside_image(self, method):
        v = compute_visibility(vs.half_outside_scene(), amodal_method=method)[0]
        sq = _only(v, 1)
        assert sq.truncation == pytest.approx(0.5, abs=0.02)
        assert sq.occlusion == pytest.approx(0.0, abs=0.02)
        assert sq.state == "truncated"
        assert sq.bbox_visible[0] == 0.0
        assert sq.bbox_amodal[0] == 0.0

    def test_box_entirely_behind_another(self, method):
        v = compute_visibility(vs.fully_hidden_scene(), amodal_method=method)[0]
        hidden = _only(v, 2)
        assert hidden.visible_px == 0
        assert hidden.occlusion == pytest.approx(1.0, abs=0.02)
        assert hidden.state == "invisible" and not hidden.visible
        assert hidden.occluders == ((1, hidden.amodal_px_in),)
        assert np.isnan(hidden.depth_median) and hidden.bbox_visible is None
        assert _only(v, 1).state == "full"

    def test_object_behind_camera_has_no_footprint(self, method):
        v = compute_visibility(vs.behind_camera_scene(), amodal_method=method)[0]
        assert v.get(2) is None
        assert _only(v, 1).state == "full"


def test_buffers_and_scale():
    scene = vs.half_hidden_scene()
    v = compute_visibility(scene, max_side=80)[0]
    assert v.instance_buffer.shape == (60, 80) and v.instance_buffer.dtype == np.int32
    assert v.depth.dtype == np.float32 and v.scale == pytest.approx(0.5)
    # depth of the plate (at y = -2, camera at y = -5) is 3 m along the camera axis
    plate_px = v.instance_buffer == 2
    assert np.allclose(v.depth[plate_px], 3.0 - 0.01, atol=1e-3)
    assert (v.depth[v.instance_buffer == -1] == 0).all()
    box = v.get(1)
    # original-frame coordinates do not depend on the labelling resolution
    full = compute_visibility(scene, max_side=160)[0].get(1)
    assert box.center_visible[0] == pytest.approx(full.center_visible[0], abs=2.0)
    assert box.depth_median == pytest.approx(4.5, abs=1e-3)


def _random_boxes_scene(seed: int, n: int = 12):
    rng = np.random.default_rng(seed)
    parts = [("floor", vs.box((0, 0, -0.05), (12, 12, 0.1)))]
    for i in range(n):
        c = rng.uniform([-3, -2, 0.3], [3, 3, 2.0])
        e = rng.uniform(0.2, 1.2, size=3)
        parts.append((f"thing{i % 4}", vs.box(c, e)))
    poses = []
    for _ in range(4):
        eye = rng.uniform([-4, -6, 0.8], [4, -4, 2.0])
        poses.append(look_at(eye, rng.uniform([-2, 0, 0.5], [2, 2, 1.2])))
    return vs.build_scene(parts, poses)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pruned_matches_exact_render(seed):
    """In the image the pruned method is exact; outside it may sub-sample (within 2 %)."""
    scene = _random_boxes_scene(seed)
    a = compute_visibility(scene, amodal_method="pruned")
    b = compute_visibility(scene, amodal_method="exact")
    n = 0
    for va, vb in zip(a, b, strict=True):
        assert [o.instance_id for o in va.objects] == [o.instance_id for o in vb.objects]
        for oa, ob in zip(va.objects, vb.objects, strict=True):
            assert oa.visible_px == ob.visible_px
            assert abs(oa.amodal_px_in - ob.amodal_px_in) <= 1
            assert abs(oa.amodal_px_total - ob.amodal_px_total) <= max(1, 0.02 * ob.amodal_px_total)
            assert oa.occlusion == pytest.approx(ob.occlusion, abs=0.01)
            assert oa.truncation == pytest.approx(ob.truncation, abs=0.01)
            n += 1
    assert n > 10


def _straddling_scene():
    """Objects reaching behind the camera or grazing its near plane; the last view is taken
    from inside a closed cabinet."""
    eye = np.array([0.0, -5.0, 1.0])
    inside = np.array([3.5, -5.0, 1.0])
    parts = [
        ("floor", vs.box((0, 0, -0.05), (20, 20, 0.1))),
        ("couch", vs.box((1.2, -5.0, 0.6), (0.6, 4.0, 0.8))),  # beside the camera, both ways
        ("cabinet", vs.box(inside, (1.0, 1.0, 1.0))),
        ("box", vs.box((0.3, -3.0, 1.0), (0.5, 0.5, 0.5))),
        ("table", vs.box((-0.6, -4.9, 0.9), (0.8, 0.12, 0.6))),  # grazes the near plane
        ("chair", vs.box((-1.5, 0.0, 0.5), (1.0, 1.0, 1.0))),
    ]
    poses = [look_at(eye, eye + d) for d in ([0, 1, 0], [0.4, 1, -0.1], [-0.5, 1, 0.05])]
    poses.append(look_at(inside, inside + np.array([0.0, 1.0, 0.0])))
    return vs.build_scene(parts, poses)


def test_straddling_objects_are_bounded_unless_the_camera_is_inside():
    scene = _straddling_scene()
    casters = SceneCasters(scene)
    ids = [2, 3]  # couch, cabinet
    hulls = TargetHulls.build(ids, [casters.hull(i) for i in ids])
    P = np.stack([scene.frames[0].cam_to_world, scene.frames[3].cam_to_world])
    z = hulls.camera_points(P)[0, :, 2]
    couch = z[hulls.starts[0]:hulls.ends[0]]
    assert couch.min() < 0 < couch.max()  # reaches behind the camera in view 0
    # pairs object-major: (couch, view 0), (couch, view 3), (cabinet, view 0), (cabinet, 3);
    # from inside the cabinet (view 3) it may cover any pixel
    sil = hulls.silhouettes(P, np.stack([vs.K, vs.K]), np.ones(4, bool))
    assert sil.bounded.tolist() == [True, True, True, False]


@pytest.mark.parametrize("make", [
    lambda: _random_boxes_scene(0), lambda: _random_boxes_scene(4, n=20), _straddling_scene,
    lambda: make_scene(2, SynthSpec(n_frames=24, target_faces=20000)),
], ids=["boxes", "many-boxes", "straddling", "room"])
def test_vectorised_labels_equal_the_per_object_reference(make):
    """The vectorised ``pruned`` labelling (hull silhouettes, one pass over the buffer) gives
    exactly the labels of the object-by-object reference."""
    scene = make()
    labeller = ViewLabeller(scene, VisibilityConfig())
    fast = labeller.label(scene.frames)
    assert_same_labels(fast, labeller.label_reference(scene.frames))
    assert sum(len(v.objects) for v in fast) >= 5


def test_vectorised_labels_on_the_real_size_scan():
    """Many objects per view, hand-held poses: identical to the reference on spread views."""
    scene = make_scene(0, SCANNET_SIZE_SPEC)
    frames = list(scene.frames)[::460]
    labeller = ViewLabeller(scene, VisibilityConfig())
    fast = labeller.label(frames)
    assert_same_labels(fast, labeller.label_reference(frames))
    assert np.mean([len(v.objects) for v in fast]) > 20


def test_processes_label_exactly_as_one_labeller():
    """compute_visibility(workers=2) splits the batches over processes: same views, labels and
    buffers, in the order asked, with progress per batch."""
    scene = make_scene(1, SynthSpec(n_frames=40, target_faces=20000, n_objects=25))
    ids = [f.frame_id for f in scene.frames][::2]
    config = VisibilityConfig(batch_views=4)
    done: list[int] = []
    one = compute_visibility(scene, ids, config=config)
    with pool_used() as used:
        two = compute_visibility(scene, ids, config=config, workers=2, progress=done.append)
    assert used == [2]
    assert [v.frame_id for v in two] == ids and sum(done) == len(ids) and len(done) == 5
    assert_same_labels(two, one)


def test_silhouette_bounds_every_pixel_an_object_covers():
    """Every pixel whose ray meets an object alone lies inside its silhouette interval."""
    rng = np.random.default_rng(5)
    scene = _straddling_scene()
    casters = SceneCasters(scene)
    ids = [o.instance_id for o in scene.objects]
    hulls = TargetHulls.build(ids, [casters.hull(i) for i in ids])
    checked = 0
    for _ in range(12):
        eye = rng.uniform([-3, -9, 0.3], [3, -1, 2.5])
        P = look_at(eye, rng.uniform([-2, -4, 0.2], [2, 2, 1.5]))
        K = vs.K
        o, d, _ = camera_rays(K, P, vs.W, vs.H)
        sil = hulls.silhouettes(P[None], K[None], np.ones(len(ids), bool))
        for k, iid in enumerate(hulls.ids.tolist()):
            covered = casters.object(iid).hits(o, d).reshape(vs.H, vs.W)
            if not sil.bounded[k] or not covered.any():
                continue
            rows = np.arange(vs.H)
            lo, hi = sil.row_intervals(np.full(vs.H, k), rows + 0.5, len(ids))
            r, c = np.nonzero(covered)
            assert (c + 0.5 >= lo[r]).all() and (c + 0.5 <= hi[r]).all(), iid
            checked += 1
    assert checked > 20


def _directions_per_pixel(K: np.ndarray, cam_to_world: np.ndarray, w: int, h: int
                          ) -> np.ndarray:
    """Independent reference: R K^-1 (u + 0.5, v + 0.5, 1) for every pixel, row-major."""
    v, u = np.mgrid[0:h, 0:w]
    pix = np.stack([u.ravel() + 0.5, v.ravel() + 0.5, np.ones(w * h)])
    return (cam_to_world[:3, :3] @ np.linalg.inv(K) @ pix).T


def test_world_ray_directions_into_a_batch():
    f = _random_boxes_scene(1).frames[0]
    out = np.full((vs.W * vs.H + 7, 3), np.nan, np.float32)
    got = world_ray_directions(f.K, f.cam_to_world, vs.W, vs.H, out=out[: vs.W * vs.H])
    assert np.shares_memory(got, out)  # written into the batch, not a new array
    want = _directions_per_pixel(f.K, f.cam_to_world, vs.W, vs.H)
    assert np.allclose(out[: vs.W * vs.H], want, atol=1e-5)
    assert np.isnan(out[-7:]).all()
    skewed = f.K.copy()
    skewed[0, 1] = 3.0  # the general (skew) branch
    want = _directions_per_pixel(skewed, f.cam_to_world, vs.W, vs.H)
    assert np.allclose(world_ray_directions(skewed, f.cam_to_world, vs.W, vs.H), want,
                       atol=1e-5)


def test_independent_visible_px_and_states():
    """visible_px and bboxes recomputed from the face buffer by plain numpy."""
    scene = _random_boxes_scene(5)
    for v in compute_visibility(scene):
        inst = np.where(v.face_buffer >= 0, scene.face_instance[v.face_buffer], -1)
        assert (inst == v.instance_buffer).all()
        for o in v.objects:
            rows, cols = np.nonzero(inst == o.instance_id)
            assert o.visible_px == len(rows)
            if len(rows):
                assert o.bbox_visible[0] == pytest.approx(cols.min() / v.scale)
                assert o.bbox_visible[3] == pytest.approx((rows.max() + 1) / v.scale)
            assert o.visible_ratio == pytest.approx(o.visible_px / o.amodal_px_total, rel=1e-6)
            assert 0.0 <= o.occlusion <= 1.0 and 0.0 <= o.truncation <= 1.0


def test_structural_objects_are_not_targets():
    scene = _random_boxes_scene(3)
    for v in compute_visibility(scene):
        assert v.get(1) is None  # the floor
        floor_faces = np.nonzero(scene.face_instance == 1)[0]
        assert not np.isin(v.visible_faces, floor_faces).any()


def test_thresholds_decide_visible():
    scene = vs.half_hidden_scene()
    strict = dataclasses.replace(VisibilityConfig(), min_visible_ratio=0.6)
    rec = compute_visibility(scene, config=strict)[0].get(1)
    assert rec.visible_ratio == pytest.approx(0.5, abs=0.02)
    assert not rec.visible and rec.state == "invisible"
    assert rec.occ_level == "high"  # 1 - visible_ratio = 0.5 lies in [0.4, 0.7)


# ---------------------------------------------------------------- backend parity


def _usable(name):
    try:
        get_backend(name)
        return True
    except BackendUnavailableError:
        return False


@pytest.fixture(params=sorted(BACKENDS))
def backend(request):
    if not _usable(request.param):
        pytest.skip(f"backend {request.param} not installed here")
    return request.param


class TestBackendParity:
    """Every backend through the same checks against the pure-numpy reference."""

    def test_first_hit_ids_match_reference(self, backend):
        scene = _random_boxes_scene(7, n=8)
        ref = get_backend("reference").build(scene.vertices, scene.faces)
        caster = get_backend(backend).build(scene.vertices, scene.faces)
        total = agree = 0
        for f in scene.frames:
            o, d, _ = camera_rays(f.K / np.array([[2], [2], [1]]), f.cam_to_world, 80, 60)
            fr, tr = ref.cast(o, d)
            fb, tb = caster.cast(o, d)
            ir = np.where(fr >= 0, scene.face_instance[fr], -1)
            ib = np.where(fb >= 0, scene.face_instance[fb], -1)
            total += len(ir)
            agree += int((ir == ib).sum())
            both = (fr >= 0) & (fb >= 0)
            assert np.allclose(tr[both], tb[both], atol=1e-4)
        assert agree / total >= 0.9999

    def test_labels_match_default_backend(self, backend):
        scene = vs.half_hidden_scene()
        a = compute_visibility(scene, backend=backend)[0].get(1)
        b = compute_visibility(scene, backend="embree")[0].get(1)
        assert a.visible_px == b.visible_px and a.amodal_px_in == b.amodal_px_in

    def test_empty_input(self, backend):
        scene = vs.half_hidden_scene()
        caster = get_backend(backend).build(scene.vertices, scene.faces)
        f, t = caster.cast(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32))
        assert f.shape == (0,) and t.shape == (0,)
        assert caster.hits(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32)).shape == (0,)

    def test_hits_is_cast_face_not_negative(self, backend):
        scene = _random_boxes_scene(3, n=6)
        caster = get_backend(backend).build(scene.vertices, scene.faces)
        f = scene.frames[0]
        o, d, _ = camera_rays(f.K / np.array([[2], [2], [1]]), f.cam_to_world, 80, 60)
        hit = caster.hits(o, d)
        assert hit.dtype == bool and 0 < hit.sum() < len(hit)
        assert np.array_equal(hit, caster.cast(o, d)[0] >= 0)


def test_unknown_backend_lists_names():
    with pytest.raises(UnknownNameError, match="embree"):
        get_backend("optix")


# ---------------------------------------------------------------- overlap


def test_overlap_matrix_matches_pairwise_definition():
    scene = _random_boxes_scene(11)
    views = compute_visibility(scene)
    m = overlap_matrix(scene, views)
    assert m.shape == (4, 4)
    assert np.allclose(m, m.T)
    for i in range(4):
        for j in range(4):
            assert m[i, j] == pytest.approx(view_overlap(scene, views[i], views[j]), abs=1e-9)
    assert np.allclose(np.diag(m)[[len(v.visible_faces) > 0 for v in views]], 100.0)


def test_overlap_of_disjoint_views_is_zero():
    left = vs.box((-3, 0, 1), (1, 1, 1))
    right = vs.box((3, 0, 1), (1, 1, 1))
    poses = [look_at((-3, -3, 1), (-3, 0, 1)), look_at((3, -3, 1), (3, 0, 1))]
    scene = vs.build_scene([("box", left), ("chair", right)], poses)
    views = compute_visibility(scene)
    assert view_overlap(scene, views[0], views[1]) == 0.0
    assert view_overlap(scene, views[0], views[0]) == 100.0


# ---------------------------------------------------------------- pose check


class _RenderedDepthStore:
    """Depth 'sensor' rendered from the mesh at a possibly perturbed pose."""

    def __init__(self, scene, perturb: dict[int, np.ndarray]):
        self.scene, self.perturb = scene, perturb

    def read_color(self, frame_id):  # pragma: no cover - not used here
        raise KeyError(frame_id)

    def read_depth(self, frame_id):
        f = self.scene.frame(frame_id)
        P = self.perturb.get(frame_id, f.cam_to_world)
        caster = get_backend("embree").build(self.scene.vertices, self.scene.faces)
        o, d, _ = camera_rays(f.K, P, f.width, f.height)
        face, t = caster.cast(o, d)
        depth = np.where(face >= 0, t, 0).reshape(f.height, f.width).astype(np.float32)
        if frame_id == 3:
            depth[:] = 0  # an all-zero depth frame
        return DepthImage(depth, f.K)


def test_pose_check_rejects_bad_pose_and_reports_unusable_depth():
    scene = _random_boxes_scene(4)
    bad = scene.frames[1].cam_to_world.copy()
    bad[:3, 3] += np.array([0.3, 0.4, 0.3])  # about 60 cm off, also in height
    scene = dataclasses.replace(scene, store=_RenderedDepthStore(scene, {1: bad}))
    checks = {c.frame_id: c for c in check_poses(scene, max_error=0.10)}
    assert not checks[0].rejected and checks[0].error_m < 0.01
    assert checks[1].rejected and checks[1].error_m > 0.10 and "depth error" in checks[1].reason
    assert not checks[3].rejected and checks[3].reason == NO_VALID_DEPTH


def test_pose_check_rejects_a_pose_whose_render_is_empty_where_the_sensor_sees_surfaces():
    """The stored pose looks up into empty space while the sensor saw the boxes: nothing is
    valid in both, but that is a bad pose, not 'no valid sensor depth'."""
    scene = _random_boxes_scene(4)
    good = scene.frames[2].cam_to_world.copy()
    eye = good[:3, 3]
    up = look_at(eye, eye + np.array([0.0, 0.3, 5.0]))  # sky: no ceiling in this scene
    frames = list(scene.frames)
    frames[2] = dataclasses.replace(frames[2], cam_to_world=up)
    scene = dataclasses.replace(scene, frames=tuple(frames))
    scene = dataclasses.replace(scene, store=_RenderedDepthStore(scene, {2: good}))
    checks = {c.frame_id: c for c in check_poses(scene, max_error=0.10)}
    assert checks[2].rejected and checks[2].valid_px == 0
    assert checks[2].reason != NO_VALID_DEPTH and "sensor" in checks[2].reason
    assert not checks[0].rejected and checks[3].reason == NO_VALID_DEPTH


def test_warp_on_a_missing_gpu_is_a_clear_error_and_prints_nothing(capfd):
    if not _usable("warp"):
        pytest.skip("warp not installed here")
    with pytest.raises(BackendUnavailableError, match="cuda:99.*visibility.device"):
        get_backend("warp", device="cuda:99")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_package_wrapper_keeps_the_config_settings():
    """mosaic.compute_visibility must not override config.max_side / backend with defaults."""
    import mosaic

    scene = vs.half_hidden_scene()
    cfg = dataclasses.replace(VisibilityConfig(), max_side=80)
    (view,) = mosaic.compute_visibility(scene, config=cfg)
    assert view.instance_buffer.shape == (60, 80)
    (view,) = mosaic.compute_visibility(scene, config=cfg, max_side=40)
    assert view.instance_buffer.shape == (30, 40)


@pytest.mark.parametrize("method", ["pruned", "exact"])
def test_large_close_object_is_visible_whatever_share_of_its_footprint(method):
    """The couch corner fills ~15 % of the frame but is ~3 % of its amodal footprint: visible
    by the image-share rule (visibility.large_visible_frac), and clearly so for questions."""
    from mosaic.config import MosaicConfig
    from mosaic.tasks.context import TaskContext

    scene = vs.close_couch_scene()
    v = compute_visibility(scene, amodal_method=method)[0]
    couch, curtain = _only(v, 2), _only(v, 3)
    share = couch.visible_px / (vs.W * vs.H)
    assert 0.13 <= share <= 0.18 and couch.visible_ratio < 0.05
    assert couch.visible and couch.state == "truncated" and curtain.visible
    assert couch.depth_median < curtain.depth_median  # the couch is the closer object
    ctx = TaskContext(scene, [v], None, [], MosaicConfig(), 0)
    assert ctx.status(0, 2) == "vis"
    # the image-share rule is what makes it visible: above its share it is not
    cfg = dataclasses.replace(VisibilityConfig(), large_visible_frac=0.2, amodal_method=method)
    strict = compute_visibility(scene, config=cfg)[0]
    assert not _only(strict, 2).visible and _only(strict, 2).state == "invisible"
    assert _only(strict, 3).visible
