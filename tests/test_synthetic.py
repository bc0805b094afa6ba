"""Synthetic scenes: determinism, content, camera path, rendering, release round trip."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mosaic.sources import load_scene
from mosaic.sources.base import fit_z_box
from mosaic.synthetic.room import CAMERA_HEIGHT, scannet_categories
from mosaic.synthetic.world import (
    SCANNET_SIZE_SPEC,
    RoomRenderer,
    SynthSpec,
    generate_room,
    make_scene,
    raw_transform,
    write_scannet_size_scan,
    write_synthetic_dataset,
)
from mosaic.visibility.base import camera_rays, get_backend

SMALL = SynthSpec(n_frames=30, color_size=(160, 120), depth_size=(80, 60), target_faces=5000)
STRUCTURAL = {"wall", "floor", "ceiling"}


def _room_arrays(room) -> list[bytes]:
    return [room.vertices.tobytes(), room.faces.tobytes(), room.vertex_colors.tobytes(),
            room.vertex_instance.tobytes(), room.poses.tobytes(),
            repr(sorted(room.instance_labels.items())).encode()]


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ---- determinism ---------------------------------------------------------------------------
def test_same_seed_same_room_and_images_other_seed_differs():
    a, b, c = generate_room(5, SMALL), generate_room(5, SMALL), generate_room(6, SMALL)
    assert _room_arrays(a) == _room_arrays(b)
    assert _room_arrays(a)[0] != _room_arrays(c)[0]
    sa, sb = make_scene(5, SMALL), make_scene(5, SMALL)
    assert sa.read_color(3) == sb.read_color(3)
    assert np.array_equal(sa.read_depth(3).depth, sb.read_depth(3).depth)
    assert make_scene(6, SMALL).read_color(3) != sa.read_color(3)


def test_written_release_is_byte_identical_for_a_seed(tmp_path):
    spec = SynthSpec(n_frames=6, color_size=(96, 72), depth_size=(48, 36), target_faces=3000)
    write_synthetic_dataset(tmp_path / "a", n_scenes=2, seed=1, spec=spec)
    write_synthetic_dataset(tmp_path / "b", n_scenes=2, seed=1, spec=spec, workers=2)
    write_synthetic_dataset(tmp_path / "c", n_scenes=2, seed=2, spec=spec)
    da, db, dc = (_tree_digest(tmp_path / k) for k in "abc")
    assert da == db  # worker count does not change a byte
    assert set(da) == set(dc) and da != dc
    sens = "scans/scene0000_00/scene0000_00.sens"
    assert da[sens] != dc[sens]


# ---- room content --------------------------------------------------------------------------
def _z_boxes_intersect(a, b, shrink: float = 0.005) -> bool:
    """Separating-axis test of two boxes rotated about z, each shrunk by ``shrink``."""
    ea, eb = a.extent / 2 - shrink, b.extent / 2 - shrink
    if abs(a.center[2] - b.center[2]) >= ea[2] + eb[2]:
        return False
    d = (b.center - a.center)[:2]
    for box in (a, b):
        for k in range(2):
            axis = box.rotation[:2, k]
            ra = sum(ea[j] * abs(axis @ a.rotation[:2, j]) for j in range(2))
            rb = sum(eb[j] * abs(axis @ b.rotation[:2, j]) for j in range(2))
            if abs(d @ axis) >= ra + rb:
                return False
    return True


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_room_content(seed):
    room = generate_room(seed, SMALL)
    labels = room.instance_labels
    objs = room.object_ids()
    assert 15 <= len(objs) <= 40
    counts = Counter(labels[i] for i in objs)
    assert counts["chair"] >= 2 and counts["box"] >= 2  # repeated categories
    assert Counter(labels.values())["wall"] == 4
    assert counts["door"] >= 1 and counts["window"] >= 1
    assert Counter(labels.values())["floor"] == Counter(labels.values())["ceiling"] == 1
    assert set(labels.values()) <= set(scannet_categories())
    # Instances own their vertices: every face has one instance; clutter is instance 0.
    fi = room.vertex_instance[room.faces]
    assert (fi == fi[:, :1]).all()
    assert (room.face_instance == 0).sum() > 0
    assert set(np.unique(room.face_instance)) == {0, *labels}
    assert 0.8 * SMALL.target_faces <= len(room.faces) <= SMALL.target_faces

    boxes = {}
    for inst in objs:
        verts = room.vertices[np.unique(room.faces[room.face_instance == inst])]
        boxes[inst] = fit_z_box(verts)
    # Stacked objects rest on their support's top surfaces (monitor on desk, book on shelf).
    assert room.support
    stacked = Counter(labels[i] for i in room.support)
    assert stacked["monitor"] + stacked["keyboard"] >= 1
    for child, parent in room.support.items():
        c, p = boxes[child], boxes[parent]
        c_bottom = c.center[2] - c.extent[2] / 2
        assert p.center[2] - p.extent[2] / 2 < c_bottom < p.center[2] + p.extent[2] / 2 + 1e-4
    # No two objects interpenetrate (except a thing and what it stands on or in).
    related = {frozenset(e) for e in room.support.items()}
    for i in objs:
        for j in objs:
            if i < j and frozenset((i, j)) not in related:
                assert not _z_boxes_intersect(boxes[i], boxes[j]), (labels[i], labels[j])
    # Everything is inside the room.
    W, D, H = room.size
    assert np.all(np.abs(room.vertices[:, 0]) <= W / 2 + 1e-4)
    assert np.all(np.abs(room.vertices[:, 1]) <= D / 2 + 1e-4)
    assert room.vertices[:, 2].min() >= -1e-5 and room.vertices[:, 2].max() <= H + 1e-4


def test_face_budget_and_object_count_follow_the_spec():
    room = generate_room(3, SynthSpec(n_frames=2, target_faces=40000, n_objects=22))
    assert 32000 <= len(room.faces) <= 40000
    assert len(room.object_ids()) == 22


def test_unknown_quirk_is_rejected():
    with pytest.raises(KeyError, match="inf_pose"):
        generate_room(0, SynthSpec(n_frames=2, quirks=frozenset({"no_such_quirk"})))


# ---- camera path ---------------------------------------------------------------------------
def test_camera_walk_through():
    spec = SynthSpec(n_frames=300, target_faces=3000)
    room = generate_room(2, spec)
    P = room.poses
    R, t = P[:, :3, :3], P[:, :3, 3]
    assert np.allclose(np.einsum("nji,njk->nik", R, R), np.eye(3), atol=1e-9)
    assert np.allclose(np.linalg.det(R), 1.0)
    assert CAMERA_HEIGHT[0] - 1e-9 <= t[:, 2].min() and t[:, 2].max() <= CAMERA_HEIGHT[1] + 1e-9
    # Looking down 10-30 degrees (the forward axis is the third column), image x level-ish.
    pitch = np.degrees(np.arcsin(R[:, 2, 2]))
    assert -30.5 <= pitch.min() and pitch.max() <= -9.5
    assert np.abs(R[:, 2, 0]).max() < np.sin(np.radians(4))
    # Smooth: small steps, and the yaw sweeps through all directions.
    step = np.linalg.norm(np.diff(t, axis=0), axis=1)
    assert step.max() < 0.15
    yaw = np.arctan2(R[:, 1, 2], R[:, 0, 2])
    assert np.abs(np.angle(np.exp(1j * np.diff(yaw)))).max() < np.radians(12)
    assert len(np.unique(np.floor((yaw + np.pi) / (np.pi / 4)))) == 8
    # The camera is never inside the room's furniture.
    _assert_camera_clear_of_furniture(room)


def _assert_camera_clear_of_furniture(room) -> None:
    t = room.poses[:, :3, 3]
    W, D, _ = room.size
    assert np.all(np.abs(t[:, 0]) < W / 2 - 0.3) and np.all(np.abs(t[:, 1]) < D / 2 - 0.3)
    for inst in room.object_ids():
        v = room.vertices[room.vertex_instance == inst]
        lo, hi = v.min(axis=0) - 0.05, v.max(axis=0) + 0.05
        assert not np.any(np.all((t > lo) & (t < hi), axis=1)), room.instance_labels[inst]


@pytest.mark.parametrize("seed", [0, 1])
def test_scannet_size_room_and_hand_held_walk(seed):
    """The real-size benchmark scene: ScanNet-size mesh, object count and 30 fps walk."""
    room = generate_room(seed, SCANNET_SIZE_SPEC)
    assert 150_000 <= len(room.faces) <= 160_000
    assert len(room.object_ids()) == 100
    assert np.allclose(room.size, SCANNET_SIZE_SPEC.room_size)
    P = room.poses
    assert len(P) == 5500
    R, t = P[:, :3, :3], P[:, :3, 3]
    assert np.allclose(np.einsum("nji,njk->nik", R, R), np.eye(3), atol=1e-9)
    assert CAMERA_HEIGHT[0] - 1e-9 <= t[:, 2].min() and t[:, 2].max() <= CAMERA_HEIGHT[1] + 1e-9
    pitch = np.degrees(np.arcsin(R[:, 2, 2]))
    assert -25 <= pitch.min() and pitch.max() <= -5
    # hand-held at 30 fps: walking pace, never faster than a brisk step, no jumps in view
    speed = np.linalg.norm(np.diff(t, axis=0), axis=1) * 30
    assert 0.1 < speed.mean() < 0.4 and speed.max() < 0.6
    yaw = np.arctan2(R[:, 1, 2], R[:, 0, 2])
    assert np.degrees(np.abs(np.angle(np.exp(1j * np.diff(yaw))))).max() * 30 < 45  # deg/s
    assert len(np.unique(np.floor((yaw + np.pi) / (np.pi / 4)))) == 8
    # hand shake: the motion is not a smooth curve at the frame scale
    jerk = np.linalg.norm(np.diff(t, 3, axis=0), axis=1)
    assert np.median(jerk) > 1e-6
    _assert_camera_clear_of_furniture(room)


def test_spec_options_keep_the_default_rooms():
    """room_size, furniture_rounds and walk at their defaults draw the same room."""
    spec = SynthSpec(n_frames=20, target_faces=4000)
    explicit = replace(spec, room_size=None, furniture_rounds=1, walk="loop")
    assert _room_arrays(generate_room(7, spec)) == _room_arrays(generate_room(7, explicit))
    with pytest.raises(KeyError, match="handheld"):
        generate_room(0, replace(spec, walk="drone"))


def test_scannet_size_scan_is_a_release_and_renders_the_same_in_parallel(tmp_path):
    spec = replace(SCANNET_SIZE_SPEC, n_frames=12, color_size=(96, 72), depth_size=(48, 36))
    a = write_scannet_size_scan(tmp_path / "a", seed=2, spec=spec)
    write_scannet_size_scan(tmp_path / "b", seed=2, spec=spec, workers=2)
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    assert a.splits == {"train": ["scene0000_00"], "val": [], "test": []}
    assert a.n_frames == {"scene0000_00": 12} and a.n_objects == {"scene0000_00": 100}
    scene = load_scene(a.root, "scene0000_00", source="scannet")
    room = generate_room(2, spec)
    assert len(scene.faces) == len(room.faces) and len(scene.frames) == 12
    assert np.abs(scene.frames[5].cam_to_world - room.poses[5]).max() < 1e-4
    memory = make_scene(2, spec)
    assert scene.read_color(5) == memory.read_color(5)


# ---- in-memory scene and rendering ---------------------------------------------------------
def test_make_scene_objects_frames_and_store():
    spec = replace(SMALL, quirks=frozenset({"inf_pose", "zero_depth"}))
    scene = make_scene(4, spec, scene_id="scene0042_00")
    room = generate_room(4, spec)
    assert scene.scene_id == "scene0042_00" and scene.store is not None
    assert [o.instance_id for o in scene.objects] == sorted(room.instance_labels)
    cats = scannet_categories()
    for o in scene.objects:
        assert o.label == room.instance_labels[o.instance_id]
        assert o.nyu40_id == cats[o.label].nyu40id and o.scannet200_id == cats[o.label].id
        assert o.structural == (o.label in STRUCTURAL)
    chair = next(o for o in scene.objects if o.label == "chair")
    assert chair.nyu40_id == 5 and 0.7 < chair.obb.extent[2] < 1.05
    bad, zero = room.invalid_pose_frames[0], room.zero_depth_frames[0]
    assert [s.frame_id for s in scene.skipped_frames] == [bad]
    assert len(scene.frames) == spec.n_frames - 1 and bad not in [f.frame_id for f in scene.frames]
    f = scene.frames[0]
    assert (f.width, f.height) == spec.color_size and np.allclose(f.K, room.color_K)
    jpeg = scene.read_color(f.frame_id)
    assert jpeg[:2] == b"\xff\xd8"
    img = Image.open(io.BytesIO(jpeg))
    assert img.format == "JPEG" and img.size == spec.color_size and img.mode == "RGB"
    assert np.asarray(img).std() > 5  # not a blank frame
    depth = scene.read_depth(f.frame_id)
    assert depth.depth.shape == spec.depth_size[::-1] and depth.depth.dtype == np.float32
    assert np.allclose(depth.K, room.depth_K)
    assert (depth.depth > 0).mean() > 0.99 and depth.depth.max() < np.linalg.norm(room.size)
    assert not scene.read_depth(zero).depth.any()


def test_depth_is_camera_z_of_the_first_hit():
    room = generate_room(1, SMALL)
    rend = RoomRenderer(room.vertices, room.faces, room.vertex_colors)
    pose, K, (w, h) = room.poses[7], room.depth_K, SMALL.depth_size
    mm = rend.depth_mm(K, pose, (w, h)).astype(np.float64)
    face, t = get_backend("embree").build(room.vertices, room.faces).cast(
        *camera_rays(K, pose, w, h)[:2])
    hit = face >= 0
    # The hit point expressed in the camera frame has z equal to the stored depth.
    o, d, _ = camera_rays(K, pose, w, h)
    p = o[hit] + d[hit] * t[hit, None]
    z_cam = (p - pose[:3, 3]) @ pose[:3, 2]
    assert np.abs(z_cam * 1000 - mm.ravel()[hit]).max() <= 0.6
    assert (mm.ravel()[~hit] == 0).all()


def _instance_buffer(caster, frame, face_instance):
    face, _ = caster.cast(*camera_rays(frame.K, frame.cam_to_world, frame.width, frame.height)[:2])
    return np.where(face >= 0, face_instance[np.maximum(face, 0)], -1)


def test_frames_show_truncated_and_occluded_objects():
    spec = SynthSpec(n_frames=40, color_size=(128, 96), depth_size=(64, 48), target_faces=6000)
    scene = make_scene(0, spec)
    backend = get_backend("embree")
    caster = backend.build(scene.vertices, scene.faces)
    movable = [o.instance_id for o in scene.objects if not o.structural]
    alone = {i: backend.build(scene.vertices, scene.faces[scene.face_instance == i])
             for i in movable}
    truncated, occluded_by_object = set(), set()
    for frame in scene.frames[::2]:
        buf = _instance_buffer(caster, frame, scene.face_instance)
        R, t = frame.cam_to_world[:3, :3], frame.cam_to_world[:3, 3]
        rays = camera_rays(frame.K, frame.cam_to_world, frame.width, frame.height)[:2]
        for inst in set(np.unique(buf)) & set(movable):
            # Truncated: part of the object's surface in front of the camera projects outside.
            v = (scene.vertices[np.unique(scene.faces[scene.face_instance == inst])] - t) @ R
            v = v[v[:, 2] > 0.05]
            uv = v[:, :2] / v[:, 2:] * [frame.K[0, 0], frame.K[1, 1]] + frame.K[:2, 2]
            out = ((uv[:, 0] < 0) | (uv[:, 0] > frame.width) | (uv[:, 1] < 0)
                   | (uv[:, 1] > frame.height))
            if out.any() and not out.all():
                truncated.add((frame.frame_id, inst))
            # Occluded: where the object alone would be seen, another object is in front.
            hit_alone = alone[inst].cast(*rays)[0].reshape(buf.shape) >= 0
            others = buf[hit_alone & (buf != inst)]
            if (buf == inst).sum() > 0 and np.isin(others, movable).sum() >= 5:
                occluded_by_object.add((frame.frame_id, inst))
    # Seed 0 has about 50 truncated and 25 occluded (frame, object) pairs in these 20 frames.
    assert len(truncated) >= 20
    assert len(occluded_by_object) >= 10
    assert len({f for f, _ in truncated}) >= 8


# ---- release round trip --------------------------------------------------------------------
@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic_release")
    return write_synthetic_dataset(root, n_scenes=4, seed=3, spec=SMALL)


def test_release_layout_and_summary(release):
    root = release.root
    assert release.splits["train"] == ["scene0000_00", "scene0001_00", "scene0002_00"]
    assert release.splits["val"] == ["scene0003_00"] and release.splits["test"] == ["scene0707_00"]
    applied = set().union(*map(set, release.quirks.values()))
    assert {"inf_pose", "zero_depth", "frames_off_by_one", "v1_aggregation",
            "duplicate_objects", "export_python", "export_cxx", "no_color_to_depth"} <= applied
    for sid in release.splits["train"] + release.splits["val"]:
        folder = root / "scans" / sid
        for suffix in (".sens", ".txt", "_vh_clean_2.ply", "_vh_clean_2.labels.ply",
                       ".aggregation.json", "_vh_clean_2.0.010000.segs.json"):
            assert (folder / f"{sid}{suffix}").is_file(), suffix
        txt = (folder / f"{sid}.txt").read_text()
        A = np.array(txt.split("axisAlignment = ")[1].split("\n")[0].split(), float)
        assert not np.allclose(A.reshape(4, 4), np.eye(4))
    test_folder = root / "scans_test" / "scene0707_00"
    assert (test_folder / "scene0707_00.sens").is_file()
    assert "axisAlignment" not in (test_folder / "scene0707_00.txt").read_text()
    assert not (test_folder / "scene0707_00.aggregation.json").exists()
    assert (root / "scannetv2-labels.combined.tsv").is_file()
    assert (root / "Tasks" / "Benchmark" / "scannetv2_val.txt").read_text() == "scene0003_00\n"


@pytest.mark.parametrize("sid", ["scene0000_00", "scene0001_00", "scene0002_00", "scene0003_00"])
def test_release_round_trip(release, sid):
    spec = replace(SMALL, quirks=frozenset(set(release.quirks[sid]) & {"inf_pose", "zero_depth"}))
    room = generate_room(release.seeds[sid], spec)
    scene = load_scene(release.root, sid, source="scannet")
    assert scene.split == ("val" if sid == "scene0003_00" else "train")
    assert np.abs(scene.vertices - room.vertices).max() < 1e-4
    assert np.array_equal(scene.faces, room.faces)
    assert np.array_equal(scene.face_instance, room.face_instance)
    assert {o.instance_id: o.label for o in scene.objects} == room.instance_labels
    assert [s.frame_id for s in scene.skipped_frames] == list(room.invalid_pose_frames)
    assert len(scene.frames) == spec.n_frames - len(room.invalid_pose_frames)
    for f in scene.frames:
        assert np.abs(f.cam_to_world - room.poses[f.frame_id]).max() < 1e-4
        assert np.allclose(f.K, room.color_K, atol=1e-3)
    # The stored depth agrees with a re-render of the loaded mesh from the loaded pose.
    caster = get_backend("embree").build(scene.vertices, scene.faces)
    for f in scene.frames[::7]:
        stored = scene.read_depth(f.frame_id)
        w, h = stored.depth.shape[::-1]
        _, t = caster.cast(*camera_rays(stored.K, f.cam_to_world, w, h)[:2])
        t = t.reshape(h, w)
        if f.frame_id in room.zero_depth_frames:
            assert not stored.depth.any()
            continue
        ok = (stored.depth > 0) & np.isfinite(t)
        assert ok.mean() > 0.95
        assert np.median(np.abs(stored.depth[ok] - t[ok])) < 0.01
        img = Image.open(io.BytesIO(scene.read_color(f.frame_id)))
        assert img.size == SMALL.color_size
    if "frames_off_by_one" in release.quirks[sid]:
        assert any("numColorFrames" in w for w in scene.warnings)
    if {"export_python", "export_cxx"} & set(release.quirks[sid]):
        # The exported frame folders hold the same frames as the .sens.
        exported = load_scene(release.root, sid, source="scannet", frames="exported")
        assert [f.frame_id for f in exported.frames] == [f.frame_id for f in scene.frames]
        for f in scene.frames[::10]:
            g = exported.frame(f.frame_id)
            assert np.abs(g.cam_to_world - f.cam_to_world).max() < 1e-4
            assert np.array_equal(exported.read_depth(f.frame_id).depth,
                                  scene.read_depth(f.frame_id).depth)


def test_test_scene_has_raw_unaligned_geometry(release):
    sid = "scene0707_00"
    room = generate_room(release.seeds[sid], SMALL)
    scene = load_scene(release.root, sid, source="scannet")
    assert scene.split == "test" and scene.objects == ()
    M = raw_transform(room.seed, room.vertices)
    raw = room.vertices.astype(np.float64) @ M[:3, :3].T + M[:3, 3]
    assert np.abs(scene.vertices - raw).max() < 1e-4
    assert scene.vertices.min(axis=0)[:2].min() > -1e-3  # the raw box starts near the origin


def test_rendered_frames_are_a_sequence():
    """A release scene's frames index like a sequence: negative indices and slices give the
    frames plain indices give; past either end is an IndexError."""
    from mosaic.synthetic.world import release_scene

    frames = release_scene(generate_room(3, SMALL), "synth0003_00").frames
    n = len(frames)
    assert n == SMALL.n_frames
    assert np.array_equal(frames[-1].cam_to_world, frames[n - 1].cam_to_world)
    picked = frames[1:9:4]
    assert [f.color_jpeg for f in picked] == [frames[1].color_jpeg, frames[5].color_jpeg]
    for bad in (n, -n - 1):
        with pytest.raises(IndexError):
            frames[bad]
