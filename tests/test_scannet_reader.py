"""ScanNet release writer + reader on small box scenes (a few hundred faces, 64x48 frames)."""

from __future__ import annotations

import copy
import io
import json
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from mosaic.errors import CorruptDataError, MissingDataError, UnknownNameError
from mosaic.sources.scannet import load_scannet_scene
from mosaic.synthetic.scannet_writer import (
    LabelRow,
    ReleaseFrame,
    ReleaseScene,
    write_label_table,
    write_release_scene,
    write_split_lists,
)
from mosaic.visibility import check_poses
from mosaic.visibility.base import camera_rays, get_backend
from mosaic.visibility.pose_check import NO_DEPTH

SID = "scene0042_00"
CW, CH, DW, DH = 64, 48, 32, 24
COLOR_K = np.array([[52.0, 0, 31.5], [0, 51.0, 24.25], [0, 0, 1]])
DEPTH_K = np.array([[26.0, 0, 15.75], [0, 25.5, 12.1], [0, 0, 1]])
INVALID, ZERO_DEPTH, N_FRAMES = 2, 3, 12

# (instance id, label, size, centre, yaw deg); instance 0 = unannotated geometry.
BOXES = [
    (1, "floor", (4.0, 3.0, 0.02), (0.0, 0.0, -0.01), 0),
    (2, "wall", (4.0, 0.05, 2.0), (0.0, 1.5, 1.0), 0),
    (3, "table", (0.8, 0.6, 0.7), (0.5, 0.3, 0.35), 30),
    (5, "office chair", (0.4, 0.4, 0.9), (-0.8, -0.2, 0.45), 0),
    (6, "mystery crate", (0.3, 0.5, 0.4), (1.2, -0.9, 0.2), -20),
    (0, "", (0.3, 0.3, 0.3), (-1.2, 0.9, 0.15), 10),
]
LABEL_ROWS = [
    LabelRow(1, "wall", "wall", 1, "wall"),
    LabelRow(3, "floor", "floor", 2, "floor"),
    LabelRow(7, "table", "table", 7, "table"),
    LabelRow(40, "office chair", "chair", 5, "chair"),
    LabelRow(1000, "mystery crate", "crate", 39, "otherfurniture"),
]


def _yaw(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    T = np.eye(4)
    T[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return T


AXIS = _yaw(25.0)
AXIS[:3, 3] = (-2.0, 1.3, 0.0)


def _aligned_geometry() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    verts, faces, inst = [], [], []
    for k, _, size, centre, yaw in BOXES:
        T = _yaw(yaw)
        T[:3, 3] = centre
        box = trimesh.creation.box(extents=size, transform=T).subdivide()
        faces.append(np.asarray(box.faces) + sum(len(v) for v in verts))
        verts.append(np.asarray(box.vertices))
        inst.append(np.full(len(box.vertices), k))
    return np.concatenate(verts), np.concatenate(faces), np.concatenate(inst)


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    f = (target - eye) / np.linalg.norm(target - eye)
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= np.linalg.norm(r)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([r, np.cross(f, r), f], axis=1)  # OpenCV: x right, y down, z fwd
    pose[:3, 3] = eye
    return pose


def _aligned_poses() -> list[np.ndarray]:
    out = []
    for i in range(N_FRAMES):
        a = 2 * np.pi * i / N_FRAMES
        eye = np.array([2.6 * np.cos(a), 2.0 * np.sin(a) - 0.3, 1.4])
        out.append(_look_at(eye, np.array([0.0, 0.0, 0.4])))
    return out


def _jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (CW, CH), (20 * i, 100, 255 - 20 * i)).save(buf, format="JPEG")
    return buf.getvalue()


def _render_mm(verts: np.ndarray, faces: np.ndarray, pose: np.ndarray) -> np.ndarray:
    caster = get_backend("embree").build(verts, faces)
    o, d, _ = camera_rays(DEPTH_K, pose, DW, DH)
    _, t = caster.cast(o, d)
    mm = np.where(np.isfinite(t), np.round(t * 1000.0), 0)
    return np.clip(mm, 0, 65535).astype(np.uint16).reshape(DH, DW)


def make_release(aligned_input: bool = False, scene_id: str = SID) -> ReleaseScene:
    """A box room; raw world = inverse(AXIS) of the aligned one unless ``aligned_input``."""
    verts_al, faces, inst = _aligned_geometry()
    to_raw = np.eye(4) if aligned_input else np.linalg.inv(AXIS)
    verts_raw = verts_al @ to_raw[:3, :3].T + to_raw[:3, 3]
    frames = []
    for i, pose_al in enumerate(_aligned_poses()):
        pose_raw = to_raw @ pose_al
        depth = _render_mm(verts_raw, faces, pose_raw)
        if i == ZERO_DEPTH:
            depth[:] = 0
        if i == INVALID:
            pose_raw = np.full((4, 4), -np.inf)
        frames.append(ReleaseFrame(pose_raw, _jpeg(i), depth))
    rng = np.random.default_rng(1)
    return ReleaseScene(
        scene_id=scene_id,
        vertices=verts_raw.astype(np.float32),
        vertex_colors=rng.integers(0, 256, (len(verts_raw), 3)).astype(np.uint8),
        faces=faces.astype(np.int32),
        vertex_instance=inst.astype(np.int32),
        instance_labels={k: lab for k, lab, *_ in BOXES if k},
        axis_alignment=None if aligned_input else AXIS,
        color_K=COLOR_K,
        color_size=(CW, CH),
        depth_K=DEPTH_K,
        depth_size=(DW, DH),
        frames=frames,
        scene_type="Bedroom / Hotel",
    )


@pytest.fixture(scope="module")
def release() -> ReleaseScene:
    return make_release()


@pytest.fixture()
def root(tmp_path: Path, release: ReleaseScene) -> Path:
    write_release_scene(tmp_path, release, quirks=frozenset({"export_python", "export_cxx"}))
    write_label_table(tmp_path, LABEL_ROWS)
    write_split_lists(tmp_path, {"train": [SID], "val": ["scene0043_00"], "test": []})
    return tmp_path


# ---- writer: release layout ----------------------------------------------------------------
PLY_HEADER = (
    "ply\nformat binary_little_endian 1.0\ncomment VCGLIB generated\nelement vertex {nv}\n"
    "property float x\nproperty float y\nproperty float z\nproperty uchar red\n"
    "property uchar green\nproperty uchar blue\nproperty uchar alpha\nelement face {nf}\n"
    "property list uchar int vertex_indices\nend_header\n"
)


def test_writer_release_files(root: Path, release: ReleaseScene):
    folder = root / "scans" / SID
    nv, nf = len(release.vertices), len(release.faces)
    ply = (folder / f"{SID}_vh_clean_2.ply").read_bytes()
    header = PLY_HEADER.format(nv=nv, nf=nf).encode()
    assert ply.startswith(header) and len(ply) == len(header) + 16 * nv + 13 * nf
    x, y, z, r, g, b, a = struct.unpack_from("<3f4B", ply, len(header))
    assert a == 255 and (r, g, b) == tuple(release.vertex_colors[0])
    assert np.allclose((x, y, z), release.vertices[0])
    n, *tri = struct.unpack_from("<B3i", ply, len(header) + 16 * nv)
    assert n == 3 and tri == list(release.faces[0])
    assert (folder / f"{SID}_vh_clean.ply").read_bytes() == ply
    lab = (folder / f"{SID}_vh_clean_2.labels.ply").read_bytes()
    lab_header = header.replace(b"VCGLIB", b"MLIB").replace(
        b"alpha\n", b"alpha\nproperty ushort label\n")
    assert lab.startswith(lab_header) and len(lab) == len(lab_header) + 18 * nv + 13 * nf

    segs = json.loads((folder / f"{SID}_vh_clean_2.0.010000.segs.json").read_text())
    assert segs["sceneId"] == SID and len(segs["segIndices"]) == nv
    assert all(isinstance(v, str) for v in segs["params"].values())
    ids = np.unique(segs["segIndices"])
    assert len(ids) < ids.max() + 1  # sparse, not 0..n-1

    agg = json.loads((folder / f"{SID}.aggregation.json").read_text())
    assert agg["sceneId"] == f"scannet.{SID}" and agg["appId"] == "Aggregator.v2"
    assert agg["segmentsFile"] == f"scannet.{SID}_vh_clean_2.0.010000.segs.json"
    assert sorted(g["objectId"] for g in agg["segGroups"]) == [0, 1, 2, 4, 5]
    assert all(set(g["segments"]) <= set(ids.tolist()) for g in agg["segGroups"])

    lines = (folder / f"{SID}.txt").read_text().splitlines()
    keys = [ln.split(" = ", 1)[0] for ln in lines]
    assert keys == sorted(keys) and "colorToDepthExtrinsics" in keys
    meta = dict(ln.split(" = ", 1) for ln in lines)
    assert meta["sceneType"] == "Bedroom / Hotel" and meta["numColorFrames"] == str(N_FRAMES)
    assert len(meta["axisAlignment"].split()) == 16 and meta["fx_color"] == "52.000000"

    assert sorted(p.name for p in (folder / "intrinsic").iterdir()) == [
        "extrinsic_color.txt", "extrinsic_depth.txt", "intrinsic_color.txt",
        "intrinsic_depth.txt"]
    assert (folder / "pose" / f"{INVALID}.txt").read_text().split()[0] == "-inf"
    pgm = (folder / "sens_export" / "frame-000001.depth.pgm").read_bytes()
    assert pgm.startswith(f"P5\n{DW} {DH}\n65535\n".encode())
    body = np.frombuffer(pgm[len(f"P5\n{DW} {DH}\n65535\n"):], ">u2").reshape(DH, DW)
    assert np.array_equal(body, release.frames[1].depth_mm)
    info = (folder / "sens_export" / "_info.txt").read_text()
    assert f"m_frames.size = {N_FRAMES}" in info and "m_calibrationColorIntrinsic = " in info
    tsv = (root / "scannetv2-labels.combined.tsv").read_text().splitlines()
    assert len(tsv[0].split("\t")) == 17 and tsv[1].split("\t")[:3] == ["1", "wall", "wall"]
    assert (root / "Tasks/Benchmark/scannetv2_train.txt").read_text() == f"{SID}\n"


# ---- reader ----------------------------------------------------------------------------------
def test_load_scene_geometry_objects_frames(root: Path, release: ReleaseScene):
    scene = load_scannet_scene(root, SID)
    verts_al, faces, inst = _aligned_geometry()
    assert scene.warnings == ()
    assert scene.vertices.dtype == np.float32 and scene.faces.dtype == np.int32
    np.testing.assert_allclose(scene.vertices, verts_al, atol=5e-5)
    assert np.array_equal(scene.faces, faces)
    assert np.array_equal(scene.face_instance, inst[faces[:, 0]])
    np.testing.assert_allclose(scene.axis_alignment, AXIS, atol=1e-6)
    assert np.array_equal(scene.vertex_colors, release.vertex_colors)

    objs = {o.instance_id: o for o in scene.objects}
    assert list(objs) == [1, 2, 3, 5, 6]
    assert (objs[5].label, objs[5].category, objs[5].nyu40_id, objs[5].scannet200_id) == (
        "office chair", "chair", 5, 40)
    assert objs[6].category == "crate" and objs[6].scannet200_id is None  # 1000 not in 200
    assert [o.structural for o in scene.objects] == [True, True, False, False, False]
    table = objs[3]
    assert table.n_faces == int((scene.face_instance == 3).sum())
    np.testing.assert_allclose(table.obb.extent, [0.8, 0.6, 0.7], atol=1e-4)
    np.testing.assert_allclose(table.obb.center, [0.5, 0.3, 0.35], atol=1e-4)
    yaw = np.degrees(np.arctan2(table.obb.rotation[1, 0], table.obb.rotation[0, 0]))
    assert yaw == pytest.approx(30.0, abs=1e-3)  # canonical angle in [-45, 45)
    floor = objs[1].obb
    np.testing.assert_allclose(floor.extent, [4.0, 3.0, 0.02], atol=1e-4)  # x, y order
    np.testing.assert_allclose(floor.rotation, np.eye(3), atol=1e-5)
    np.testing.assert_allclose(table.aabb_min[2], 0.0, atol=1e-5)
    assert np.prod(table.obb.extent) < np.prod(table.aabb_max - table.aabb_min)

    assert [f.frame_id for f in scene.frames] == [i for i in range(N_FRAMES) if i != INVALID]
    assert [(s.frame_id, s.reason) for s in scene.skipped_frames] == [(INVALID, "non-finite pose")]
    poses = _aligned_poses()
    for fr in scene.frames:
        np.testing.assert_allclose(fr.K, COLOR_K, rtol=1e-6)
        assert (fr.width, fr.height) == (CW, CH)
        np.testing.assert_allclose(fr.cam_to_world, poses[fr.frame_id], atol=1e-5)
    assert scene.read_color(4) == release.frames[4].color_jpeg
    d = scene.read_depth(4)
    np.testing.assert_allclose(d.depth, release.frames[4].depth_mm / 1000.0, rtol=1e-6)
    np.testing.assert_allclose(d.K, DEPTH_K, rtol=1e-6)
    assert not scene.read_depth(ZERO_DEPTH).depth.any()
    assert scene.split == "train" and scene.meta["sceneType"] == "Bedroom / Hotel"
    assert scene.meta["frames_source"] == "sens"
    assert scene.meta["file_sizes"][f"{SID}.sens"] == (root / "scans" / SID / f"{SID}.sens"
                                                       ).stat().st_size
    clone = pickle.loads(pickle.dumps(scene.store))
    assert clone.read_color(5) == release.frames[5].color_jpeg


def test_mesh_raycast_reproduces_stored_depth(root: Path):
    scene = load_scannet_scene(root, SID)
    caster = get_backend("embree").build(scene.vertices, scene.faces)
    checked = 0
    for fr in scene.frames:
        if fr.frame_id == ZERO_DEPTH:
            continue
        stored = scene.read_depth(fr.frame_id)
        o, dirs, _ = camera_rays(stored.K, fr.cam_to_world, DW, DH)
        _, t = caster.cast(o, dirs)
        t = np.where(np.isfinite(t), t, 0).reshape(DH, DW)
        both = (t > 0) & (stored.depth > 0)
        assert np.mean((t > 0) == (stored.depth > 0)) > 0.98
        assert both.sum() > 0.5 * DH * DW
        err = np.abs(t[both] - stored.depth[both])
        assert np.median(err) < 1e-3 and np.mean(err < 2e-3) > 0.98
        checked += 1
    assert checked == N_FRAMES - 2


def test_aligned_and_unaligned_copies_agree(tmp_path: Path, root: Path):
    write_release_scene(tmp_path, make_release(aligned_input=True))
    flat = load_scannet_scene(tmp_path, SID)
    assert any("has no axisAlignment" in w and f"{SID}.txt" in w for w in flat.warnings)
    assert np.array_equal(flat.axis_alignment, np.eye(4))
    ref = load_scannet_scene(root, SID)
    np.testing.assert_allclose(flat.vertices, ref.vertices, atol=5e-5)
    for a, b in zip(flat.frames, ref.frames, strict=True):
        np.testing.assert_allclose(a.cam_to_world, b.cam_to_world, atol=5e-5)
    for a, b in zip(flat.objects, ref.objects, strict=True):
        np.testing.assert_allclose(a.obb.extent, b.obb.extent, atol=1e-4)
        np.testing.assert_allclose(a.aabb_min, b.aabb_min, atol=1e-4)


def _frames_view(scene) -> list:
    out = []
    for fr in scene.frames:
        d = scene.read_depth(fr.frame_id)
        out.append((fr.frame_id, fr.K, fr.cam_to_world, fr.width, fr.height,
                    scene.read_color(fr.frame_id), d.depth, d.K))
    return out


def test_frame_layouts_agree(root: Path):
    folder = root / "scans" / SID
    from_sens = load_scannet_scene(root, SID, frames="sens")
    from_py = load_scannet_scene(root, SID, frames="exported")
    assert from_py.meta["frames_source"] == "export_python"
    ref, py_view = _frames_view(from_sens), _frames_view(from_py)
    (folder / f"{SID}.sens").unlink()
    for sub in ("color", "depth", "pose", "intrinsic"):
        shutil.rmtree(folder / sub)
    from_cxx = load_scannet_scene(root, SID)  # auto falls back to the C++ export
    assert from_cxx.meta["frames_source"] == "export_cxx"
    with pytest.raises(MissingDataError, match="no longer exists"):
        pickle.loads(pickle.dumps(from_sens.store)).read_color(0)  # .sens deleted after indexing
    for other, got in ((from_py, py_view), (from_cxx, _frames_view(from_cxx))):
        assert [(s.frame_id, s.reason) for s in other.skipped_frames] == [
            (INVALID, "non-finite pose")]
        assert len(got) == len(ref)
        for a, b in zip(ref, got, strict=True):
            assert a[0] == b[0] and a[3:6] == b[3:6]
            np.testing.assert_allclose(a[1], b[1], atol=1e-5)
            np.testing.assert_allclose(a[2], b[2], atol=1e-5)
            np.testing.assert_array_equal(a[6], b[6])
            np.testing.assert_allclose(a[7], b[7], atol=1e-5)
    with pytest.raises(MissingDataError, match=f"{SID}.sens"):
        load_scannet_scene(root, SID, frames="sens")
    with pytest.raises(UnknownNameError, match="exported"):
        load_scannet_scene(root, SID, frames="video")


# ---- quirks ----------------------------------------------------------------------------------
def _signature(scene) -> tuple:
    return (
        scene.face_instance.tobytes(),
        tuple((o.instance_id, o.label, o.category, o.n_faces) for o in scene.objects),
        tuple(f.frame_id for f in scene.frames),
    )


def test_quirks_read_like_the_clean_release(tmp_path: Path, root: Path, release: ReleaseScene):
    ref = _signature(load_scannet_scene(root, SID))
    expect_warning = {
        "v1_aggregation": None,
        "no_color_to_depth": None,
        "duplicate_objects": "duplicated objects",
        "frames_off_by_one": f"numColorFrames = {N_FRAMES + 1}",
    }
    for quirk, warning in expect_warning.items():
        qroot = tmp_path / quirk
        folder = write_release_scene(qroot, release, quirks=frozenset({quirk}), seed=7)
        write_label_table(qroot, LABEL_ROWS)
        scene = load_scannet_scene(qroot, SID)
        assert _signature(scene) == ref, quirk
        if warning is None:
            assert scene.warnings == (), quirk
        else:
            assert len(scene.warnings) == 1 and warning in scene.warnings[0], quirk
    agg = json.loads((tmp_path / "v1_aggregation/scans" / SID / f"{SID}.aggregation.json")
                     .read_text())
    assert agg["sceneId"] == SID and "appId" not in agg and "segmentsFile" not in agg
    dup = json.loads((tmp_path / "duplicate_objects/scans" / SID / f"{SID}.aggregation.json")
                     .read_text())
    assert len(dup["segGroups"]) == 10 and len({g["objectId"] for g in dup["segGroups"]}) == 10
    txt = (folder.parent.parent.parent / "no_color_to_depth/scans" / SID / f"{SID}.txt")
    assert "colorToDepthExtrinsics" not in txt.read_text()


def test_test_split_scene(tmp_path: Path, release: ReleaseScene):
    folder = write_release_scene(tmp_path, release, test_split=True)
    assert folder == tmp_path / "scans_test" / SID
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{SID}.sens", f"{SID}.txt", f"{SID}_vh_clean.ply", f"{SID}_vh_clean_2.ply"])
    assert "axisAlignment" not in (folder / f"{SID}.txt").read_text()
    scene = load_scannet_scene(tmp_path, SID)
    assert scene.objects == () and not scene.face_instance.any()
    assert scene.split == "test" and scene.meta["annotated"] is False
    assert len(scene.frames) == N_FRAMES - 1
    assert any("axisAlignment" in w for w in scene.warnings)


def test_hires_aggregation_fallback(root: Path):
    folder = root / "scans" / SID
    agg = folder / f"{SID}.aggregation.json"
    agg.rename(folder / f"{SID}_vh_clean.aggregation.json")
    scene = load_scannet_scene(root, SID)  # its segmentsFile names the low-res segs: usable
    assert len(scene.objects) == 5 and any("_vh_clean.aggregation.json" in w
                                           for w in scene.warnings)
    data = json.loads((folder / f"{SID}_vh_clean.aggregation.json").read_text())
    data["segmentsFile"] = f"scannet.{SID}_vh_clean.segs.json"
    (folder / f"{SID}_vh_clean.aggregation.json").write_text(json.dumps(data))
    (folder / f"{SID}_vh_clean.segs.json").write_text(json.dumps({"segIndices": [0] * 5000}))
    with pytest.raises(CorruptDataError, match="hi-res aggregation does not match"):
        load_scannet_scene(root, SID)


# ---- bad inputs ------------------------------------------------------------------------------
def _expect(err_type, root: Path, path_part: str, cause: str, **kw):
    with pytest.raises(err_type) as exc:
        load_scannet_scene(root, SID, **kw)
    e = exc.value
    assert e.scene_id == SID and path_part in (e.path or ""), (e.path, path_part)
    assert cause in str(e), str(e)
    return e


def test_truncated_ply(root: Path):
    p = root / "scans" / SID / f"{SID}_vh_clean_2.ply"
    p.write_bytes(p.read_bytes()[:-20])
    _expect(CorruptDataError, root, p.name, "unreadable PLY")
    from mosaic.synthetic.scannet_writer import write_ply

    write_ply(p, np.zeros((3, 3), np.float32), np.zeros((3, 3), np.uint8), np.zeros((0, 3)))
    _expect(CorruptDataError, root, p.name, "mesh has no vertices or no faces")
    # a PLY of points only, in a layout trimesh reads (ASCII): not a triangle mesh
    p.write_text("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y"
                 "\nproperty float z\nend_header\n0 0 0\n1 1 1\n")
    _expect(CorruptDataError, root, p.name, "not a triangle mesh")


def test_segs_length_mismatch(root: Path):
    p = root / "scans" / SID / f"{SID}_vh_clean_2.0.010000.segs.json"
    segs = json.loads(p.read_text())
    segs["segIndices"] = segs["segIndices"][:-3]
    p.write_text(json.dumps(segs))
    _expect(CorruptDataError, root, p.name, "segIndices has")


def test_aggregation_names_missing_segment(root: Path):
    p = root / "scans" / SID / f"{SID}.aggregation.json"
    agg = json.loads(p.read_text())
    agg["segGroups"][1]["segments"].append(10**9)
    p.write_text(json.dumps(agg))
    _expect(CorruptDataError, root, p.name, "names segment 1000000000")


def test_aggregation_of_another_scene(root: Path):
    p = root / "scans" / SID / f"{SID}.aggregation.json"
    agg = json.loads(p.read_text())
    agg["sceneId"] = "scannet.scene0001_00"
    p.write_text(json.dumps(agg))
    _expect(CorruptDataError, root, p.name, "belongs to scene")


def test_truncated_sens(root: Path):
    p = root / "scans" / SID / f"{SID}.sens"
    p.write_bytes(p.read_bytes()[:-3000])
    e = _expect(CorruptDataError, root, p.name, "runs past the end of the file")
    assert "frame " in e.cause and "byte offset" in e.cause


def test_all_poses_non_finite(tmp_path: Path, release: ReleaseScene):
    bad = copy.copy(release)
    bad.frames = [ReleaseFrame(np.full((4, 4), -np.inf), f.color_jpeg, f.depth_mm)
                  for f in release.frames]
    write_release_scene(tmp_path, bad)
    _expect(CorruptDataError, tmp_path, f"{SID}.sens", "finite camera pose")


@pytest.mark.parametrize(
    "victim, cause",
    [
        ("_vh_clean_2.ply", "mesh file missing"),
        (".aggregation.json", "aggregation file missing"),
        ("_vh_clean_2.0.010000.segs.json", "segmentation file missing"),
    ],
)
def test_missing_files(root: Path, victim: str, cause: str):
    (root / "scans" / SID / f"{SID}{victim}").unlink()
    _expect(MissingDataError, root, f"{SID}{victim}", cause)


def test_missing_frames_and_scene(root: Path, tmp_path: Path):
    folder = root / "scans" / SID
    (folder / f"{SID}.sens").unlink()
    for sub in ("color", "depth", "pose", "intrinsic", "sens_export"):
        shutil.rmtree(folder / sub)
    _expect(MissingDataError, root, f"{SID}.sens", "no .sens file and no exported frames")
    e = _expect(MissingDataError, tmp_path / "nowhere", "nowhere", "does not exist")
    assert "Terms of Use" in e.hint and "--root" in e.hint
    shutil.rmtree(folder)
    _expect(MissingDataError, root, "scans", "scene folder not found")


# ---- registry: load_scene, list_scenes, write_manifest ----------------------------------------
def test_registry_load_and_unknown_source(root: Path):
    from mosaic.sources import SOURCES, load_scene

    assert "scannet" in SOURCES
    scene = load_scene(root, SID, frames="exported")
    assert scene.source == "scannet" and scene.meta["frames_source"] == "export_python"
    with pytest.raises(UnknownNameError, match="valid names: .*scannet"):
        load_scene(root, SID, source="scannetpp_typo")


def test_list_scenes_with_split_lists(root: Path, release: ReleaseScene):
    from mosaic.sources import list_scenes

    entries, warnings = list_scenes(root)
    assert warnings == []
    assert [(e.scene_id, e.split, e.complete) for e in entries] == [
        (SID, "train", True), ("scene0043_00", "val", False)]
    assert entries[1].missing == ("scene0043_00/",)
    assert entries[0].folder == root / "scans" / SID
    bench, _ = list_scenes(root, split="bench")
    assert [e.scene_id for e in bench] == ["scene0043_00"]
    with pytest.raises(UnknownNameError, match="bench"):
        list_scenes(root, split="validation")
    (root / "scans" / SID / f"{SID}.aggregation.json").unlink()
    (entry, _), _ = list_scenes(root)
    assert not entry.complete and entry.missing == (f"{SID}.aggregation.json",)
    # Lists in meta_data/ (mmdet3d layout) are found when Tasks/Benchmark is absent.
    shutil.move(root / "Tasks" / "Benchmark", root / "meta_data")
    assert [e.scene_id for e in list_scenes(root, split="train")[0]] == [SID]


def test_list_scenes_without_split_lists(tmp_path: Path, release: ReleaseScene):
    from mosaic.errors import DatasetRootError
    from mosaic.sources import list_scenes

    write_release_scene(tmp_path, release)
    test_scene = copy.copy(release)
    test_scene.scene_id = "scene0707_00"
    write_release_scene(tmp_path, test_scene, test_split=True)
    entries, warnings = list_scenes(tmp_path)
    assert [(e.scene_id, e.split, e.complete) for e in entries] == [
        (SID, None, True), ("scene0707_00", "test", True)]
    assert len(warnings) == 1 and "no split lists" in warnings[0]
    assert [e.scene_id for e in list_scenes(tmp_path, split="test")[0]] == ["scene0707_00"]
    with pytest.raises(DatasetRootError, match="scannetv2_train.txt"):
        list_scenes(tmp_path, split="train")
    with pytest.raises(DatasetRootError, match="Terms of Use"):
        list_scenes(tmp_path / "absent")


def test_write_manifest(root: Path, tmp_path: Path):
    import hashlib

    from mosaic.sources import write_manifest

    out = write_manifest(root, tmp_path / "out" / "train.json", split="train")
    text = out.read_text()
    doc = json.loads(text)
    assert doc["source"] == "scannet" and doc["split"] == "train"
    assert doc["scene_ids"] == [SID] and doc["n_scenes"] == 1
    rec = doc["scenes"][0]
    assert rec["folder"] == f"scans/{SID}" and rec["complete"] is True
    sens = root / "scans" / SID / f"{SID}.sens"
    assert rec["files"][sens.name] == {
        "size": sens.stat().st_size, "sha256": hashlib.sha256(sens.read_bytes()).hexdigest()}
    assert "color" not in rec["files"]  # only the release files at the top of the folder
    assert str(root) not in text  # no machine-specific paths
    assert not list(out.parent.glob("*.tmp"))


# ---- base helpers ------------------------------------------------------------------------------
def test_face_instance_majority_rule():
    from mosaic.sources.base import face_instances_from_vertices

    vinst = np.array([4, 4, 7, 9, 0])
    faces = np.array([[0, 1, 2], [2, 0, 1], [2, 3, 0], [3, 4, 4], [4, 4, 0]])
    assert face_instances_from_vertices(faces, vinst).tolist() == [4, 4, 0, 0, 0]


def test_min_area_box_recovers_rotated_box_and_handles_degenerate_input():
    from mosaic.sources.base import fit_z_box

    rng = np.random.default_rng(0)
    for yaw in (-44.0, -10.0, 0.0, 17.0, 44.0):
        local = rng.uniform(-0.5, 0.5, (400, 3)) * [2.0, 0.6, 1.0]
        local[:8] = [[sx, sy, sz] for sx in (-1, 1) for sy in (-0.3, 0.3) for sz in (-0.5, 0.5)]
        R = _yaw(yaw)[:3, :3]
        box = fit_z_box(local @ R.T + [3.0, -1.0, 0.5])
        np.testing.assert_allclose(box.extent, [2.0, 0.6, 1.0], atol=1e-9)
        np.testing.assert_allclose(box.rotation, R, atol=1e-9)
        np.testing.assert_allclose(box.center, [3.0, -1.0, 0.5], atol=1e-9)
        corners = box.corners()
        assert np.allclose(np.sort(corners[:, 2]), [0] * 4 + [1] * 4)
    c30, s30 = np.cos(np.pi / 6), np.sin(np.pi / 6)
    line = fit_z_box(np.array([[0, 0, 0], [c30, s30, 0], [2 * c30, 2 * s30, 1.0]]))
    np.testing.assert_allclose(line.extent, [2, 0, 1], atol=1e-9)
    np.testing.assert_allclose(line.rotation[:2, 0], [c30, s30], atol=1e-9)
    point = fit_z_box(np.array([[1.0, 2.0, 3.0]]))
    assert np.array_equal(point.extent, [0, 0, 0]) and np.array_equal(point.center, [1, 2, 3])


def test_contested_segments_and_tolerated_keys(root: Path):
    p = root / "scans" / SID / f"{SID}.aggregation.json"
    agg = json.loads(p.read_text())
    agg["annotationId"] = "abc"
    by_obj = {g["objectId"]: g for g in agg["segGroups"]}
    stolen = by_obj[2]["segments"][0]  # a table segment also claimed by the chair (listed later)
    by_obj[4]["segments"].append(stolen)
    del by_obj[4]["id"]
    p.write_text(json.dumps(agg))
    scene = load_scannet_scene(root, SID)
    assert [o.instance_id for o in scene.objects] == [1, 2, 3, 5, 6]
    assert len(scene.warnings) == 1 and "claimed by two segGroups" in scene.warnings[0]
    ref_faces = (_aligned_geometry()[2][_aligned_geometry()[1][:, 0]] == 3).sum()
    assert scene.object(3).n_faces == ref_faces  # the first group kept its segment
    by_obj[4]["objectId"] = 2
    by_obj[4]["label"] = "lamp"
    p.write_text(json.dumps(agg))
    _expect(CorruptDataError, root, p.name, "objectId 2 is used by two different segGroups")


def test_label_table_errors(root: Path, tmp_path: Path):
    from mosaic.errors import DatasetRootError

    v1 = tmp_path / "scannet-labels.combined.tsv"
    v1.write_text("id\tcategory\tcount\tnyuId\tnyu40id\n1\twall\t5\t1\t1\n")
    with pytest.raises(DatasetRootError, match="lacks columns"):
        load_scannet_scene(root, SID, label_table=v1)
    with pytest.raises(DatasetRootError, match="does not exist"):
        load_scannet_scene(root, SID, label_table=tmp_path / "nope.tsv")
    (root / "scannetv2-labels.combined.tsv").unlink()
    plain = load_scannet_scene(root, SID)  # no table: raw labels, no ids
    assert [(o.category, o.nyu40_id) for o in plain.objects][3] == ("office chair", None)
    assert [o.structural for o in plain.objects] == [True, True, False, False, False]


def test_python_export_resized_images_get_scaled_intrinsics(root: Path):
    folder = root / "scans" / SID
    (folder / f"{SID}.sens").unlink()
    for p in (folder / "color").iterdir():  # as reader.py's image_size option would write
        Image.open(p).resize((CW // 2, CH // 2)).save(p, format="JPEG")
    for p in (folder / "depth").iterdir():
        Image.open(p).resize((DW // 2, DH // 2), Image.NEAREST).save(p, format="PNG")
    scene = load_scannet_scene(root, SID)
    assert scene.meta["frames_source"] == "export_python"
    fr = scene.frames[0]
    assert (fr.width, fr.height) == (CW // 2, CH // 2)
    np.testing.assert_allclose(fr.K, np.diag([0.5, 0.5, 1]) @ COLOR_K, atol=1e-5)
    d = scene.read_depth(fr.frame_id)
    assert d.depth.shape == (DH // 2, DW // 2)
    np.testing.assert_allclose(d.K, np.diag([0.5, 0.5, 1]) @ DEPTH_K, atol=1e-5)
    assert any("intrinsics scaled" in w for w in scene.warnings)


def test_export_frames_lacking_colour_or_pose_are_skipped_and_depth_is_optional(root: Path):
    """A frame index without colour or pose is an incomplete export (skipped with the
    reason); one without depth loads and only its pose check is skipped."""
    folder = root / "scans" / SID
    (folder / f"{SID}.sens").unlink()
    (folder / "color" / "5.jpg").unlink()
    (folder / "pose" / "6.txt").unlink()
    (folder / "depth" / "7.png").unlink()
    scene = load_scannet_scene(root, SID)
    assert scene.meta["frames_source"] == "export_python"
    assert [(s.frame_id, s.reason) for s in scene.skipped_frames] == [
        (INVALID, "non-finite pose"),
        (5, "incomplete export: no colour image"),
        (6, "incomplete export: no pose file"),
    ]
    assert 7 in [f.frame_id for f in scene.frames]
    assert [scene.store.has_depth(i) for i in (4, 7)] == [True, False]
    checks = {c.frame_id: c for c in check_poses(scene, [4, 7])}
    assert checks[4].checked and not checks[4].rejected
    assert not checks[7].checked and checks[7].reason == NO_DEPTH
    assert any("1 of" in w and "no depth image" in w for w in scene.warnings)
    with pytest.raises(MissingDataError, match="frame 7 file missing"):
        scene.read_depth(7)


def test_colour_only_export_needs_no_depth_intrinsics(root: Path):
    folder = root / "scans" / SID
    (folder / f"{SID}.sens").unlink()
    shutil.rmtree(folder / "depth")
    (folder / "intrinsic" / "intrinsic_depth.txt").unlink()
    scene = load_scannet_scene(root, SID)
    assert not any(scene.store.has_depth(f.frame_id) for f in scene.frames)
    with pytest.raises(MissingDataError, match="no depth images"):
        scene.read_depth(scene.frames[0].frame_id)
    shutil.rmtree(folder / "sens_export")  # C++ layout as well, for the posed_images fallback
    for sub in ("color", "pose", "intrinsic"):
        shutil.rmtree(folder / sub)
    with pytest.raises(MissingDataError, match="posed_images"):
        load_scannet_scene(root, SID)


def test_posed_images_layout(tmp_path: Path, release: ReleaseScene):
    write_release_scene(tmp_path, release, quirks=frozenset({"no_sens", "posed_images"}))
    folder = tmp_path / "posed_images" / SID
    assert sorted(p.name for p in folder.iterdir())[:3] == ["00000.jpg", "00000.txt", "00001.jpg"]
    (folder / "00009.txt").unlink()
    scene = load_scannet_scene(tmp_path, SID)
    assert scene.meta["frames_source"] == "posed_images"
    assert [(s.frame_id, s.reason) for s in scene.skipped_frames] == [
        (INVALID, "non-finite pose"), (9, "incomplete export: no pose file")]
    np.testing.assert_allclose(scene.frames[0].K, COLOR_K, atol=1e-5)
    assert scene.read_color(4) == release.frames[4].color_jpeg
    np.testing.assert_allclose(scene.frame(4).cam_to_world, AXIS @ release.frames[4].cam_to_world,
                               atol=1e-5)
    assert not scene.store.has_depth(4)


def _ply_bytes(vert_props: list[str], vert_rows: bytes, n_v: int, face_prop: str,
               face_rows: bytes, n_f: int, fmt: str = "binary_little_endian 1.0") -> bytes:
    head = ["ply", f"format {fmt}", "comment made by a test", f"element vertex {n_v}",
            *[f"property {p}" for p in vert_props], f"element face {n_f}",
            f"property {face_prop}", "end_header"]
    return ("\n".join(head) + "\n").encode() + vert_rows + face_rows


def test_numpy_ply_reader_matches_trimesh_on_every_layout_it_reads(root: Path, tmp_path: Path):
    """``read_binary_ply`` gives trimesh's vertices, faces and colours on the release's mesh,
    its labels mesh (an extra ushort), unsigned indices, doubles and the ``vertex_index``
    spelling; it declines (None: trimesh reads them) ASCII, polygons and meshes without
    colours."""
    from mosaic.sources.ply_binary import read_binary_ply
    from mosaic.sources.scannet_release import _trimesh_ply

    folder = root / "scans" / SID
    cases = [folder / f"{SID}_vh_clean_2.ply", folder / f"{SID}_vh_clean_2.labels.ply"]
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(5, 3))
    rgb = rng.integers(0, 256, (5, 4), dtype=np.uint8)
    tri = np.array([[0, 1, 2], [2, 3, 4], [4, 0, 1]])
    for ftype, ptype, name in (("uint", "float", "vertex_indices"),
                               ("int", "double", "vertex_index")):
        fmt = "<" + ("3f" if ptype == "float" else "3d") + "4B"
        rows = b"".join(struct.pack(fmt, *x, *c) for x, c in zip(xyz, rgb, strict=True))
        faces = b"".join(struct.pack("<B3" + ("I" if ftype == "uint" else "i"), 3, *t)
                         for t in tri)
        p = tmp_path / f"{ftype}-{ptype}.ply"
        p.write_bytes(_ply_bytes([f"{ptype} x", f"{ptype} y", f"{ptype} z", "uchar red",
                                  "uchar green", "uchar blue", "uchar alpha"], rows, 5,
                                 f"list uchar {ftype} {name}", faces, 3))
        cases.append(p)
    for p in cases:
        got = read_binary_ply(p)
        assert got is not None, p.name
        want = _trimesh_ply(SID, p)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype and np.array_equal(g, w), p.name
    # declined: a quad, no colours, ASCII
    quad = tmp_path / "quad.ply"
    rows = b"".join(struct.pack("<3f4B", *x, *c) for x, c in zip(xyz, rgb, strict=True))
    quad.write_bytes(_ply_bytes(["float x", "float y", "float z", "uchar red", "uchar green",
                                 "uchar blue", "uchar alpha"], rows, 5,
                                "list uchar int vertex_indices",
                                struct.pack("<B4i", 4, 0, 1, 2, 3), 1))
    plain = tmp_path / "plain.ply"
    plain.write_bytes(_ply_bytes(["float x", "float y", "float z"],
                                 b"".join(struct.pack("<3f", *x) for x in xyz), 5,
                                 "list uchar int vertex_indices",
                                 struct.pack("<B3i", 3, 0, 1, 2), 1))
    text = tmp_path / "text.ply"
    text.write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                    "property float z\nproperty uchar red\nproperty uchar green\n"
                    "property uchar blue\nelement face 1\nproperty list uchar int "
                    "vertex_indices\nend_header\n0 0 0 1 2 3\n1 0 0 4 5 6\n0 1 0 7 8 9\n3 0 1 2\n")
    for p in (quad, plain, text):
        assert read_binary_ply(p) is None, p.name
        _trimesh_ply(SID, p)  # trimesh reads them
    # declined, and trimesh decides: padded or cut bodies, float colours, no format line, a
    # comment that mentions end_header
    good = cases[0].read_bytes()
    header_end = good.index(b"\nend_header\n") + len(b"\nend_header\n")
    variants = {
        "padded": good + b"\0" * 7,
        "cut": good[:-5],
        "no-format": good.replace(b"format binary_little_endian 1.0\n", b""),
        "comment": good.replace(b"comment VCGLIB generated", b"comment end_header"),
        "scalar-face-property": good.replace(b"property list uchar int vertex_indices",
                                             b"property int flags"),
        "float-colours": _ply_bytes(
            ["float x", "float y", "float z", "float red", "float green", "float blue"],
            b"".join(struct.pack("<6f", *x, 0.5, 0.25, 1.0) for x in xyz), 5,
            "list uchar int vertex_indices", struct.pack("<B3i", 3, 0, 1, 2), 1),
    }
    assert header_end < len(good)
    for name, data in variants.items():
        assert data != good, name  # the variant changed something
        p = tmp_path / f"{name}.ply"
        p.write_bytes(data)
        got = read_binary_ply(p)
        if name == "comment":  # only a comment: the release's mesh (trimesh misreads it)
            for g, w in zip(got, _trimesh_ply(SID, cases[0]), strict=True):
                assert np.array_equal(g, w)
        else:
            assert got is None, name
