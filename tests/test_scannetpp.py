"""ScanNet++ writer + reader on small synthetic rooms (128x96 iPhone, 96x64 DSLR, ~8k faces)."""

from __future__ import annotations

import importlib.util
import io
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pool_parity import assert_pool_labels_match

from mosaic.errors import CorruptDataError, MissingDataError, UnknownNameError
from mosaic.sources import list_scenes, load_scene
from mosaic.sources.base import fit_z_box
from mosaic.sources.scannetpp import load_scannetpp_scene, nerfstudio_to_opencv
from mosaic.synthetic.room import SynthSpec, generate_room
from mosaic.synthetic.scannetpp_writer import (
    IphoneOptions,
    dslr_intrinsics,
    dslr_poses,
    overlap_pair,
    room_seed,
    to_nerfstudio,
    write_scannetpp_dataset,
)
from mosaic.synthetic.world import RoomRenderer, room_renderer
from mosaic.visibility import check_poses
from mosaic.visibility.base import camera_rays, get_backend
from mosaic.visibility.pose_check import NO_DEPTH

SPEC = SynthSpec(n_frames=8, color_size=(128, 96), depth_size=(64, 48), target_faces=8000)
# rgb.mkv needs PyAV and lz4 depth needs lz4 (the optional ScanNet++ extras); without them those
# scenes use the other layouts and the video test is skipped.
HAVE_AV = importlib.util.find_spec("av") is not None
HAVE_LZ4 = importlib.util.find_spec("lz4") is not None
VARIANTS = {  # scene index -> iPhone colour/depth layout
    0: IphoneOptions("jpg", "png"),
    1: IphoneOptions("mkv" if HAVE_AV else "jpg", "bin_stream"),
    2: IphoneOptions("jpg", "bin_deflate"),
    3: IphoneOptions("jpg", "bin_lz4" if HAVE_LZ4 else "bin_deflate"),
}


def instance_buffer(vertices, faces, face_instance, K, cam_to_world, size) -> np.ndarray:
    """(h, w) int32 first-hit instance id (-1 = miss), cast with the raw Embree caster."""
    w, h = size
    origins, dirs, _ = camera_rays(K, cam_to_world, w, h)
    face, _ = get_backend("embree").build(vertices, faces).cast(origins, dirs)
    return np.where(face >= 0, np.asarray(face_instance)[np.maximum(face, 0)], -1).reshape(h, w)


def agreement(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Share of pixels with the same id over a list of buffers."""
    same = sum(int((x == y).sum()) for x, y in zip(a, b, strict=True))
    return same / sum(x.size for x in a)


@pytest.fixture(scope="module")
def room():
    return generate_room(21, SPEC)


@pytest.fixture(scope="module")
def release(tmp_path_factory, room):
    root = tmp_path_factory.mktemp("scannetpp")
    renderer = room_renderer(room)
    ids = []
    for k, opts in VARIANTS.items():
        from mosaic.synthetic.scannetpp_writer import write_scannetpp_scene

        ids.append(write_scannetpp_scene(root, room, f"{k:02d}a0ec536c", iphone=opts,
                                         dslr=k == 0, renderer=renderer).name)
    from mosaic.synthetic.scannetpp_writer import write_split_lists

    write_split_lists(root, {"nvs_sem_train": ids[:3], "nvs_sem_val": ids[3:],
                             "nvs_test_iphone": ["ffffffffff"]})
    return root, ids


def test_iphone_poses_reproduce_the_renders(release, room):
    root, ids = release
    for sid in ids:
        scene = load_scene(root, sid, source="scannetpp")
        assert scene.source == "scannetpp" and scene.meta["frames_source"] == "iphone"
        # COLMAP registers all video frames but frame 1
        assert [f.frame_id for f in scene.frames] == [i for i in range(SPEC.n_frames) if i != 1]
        ours, ref = [], []
        for f in scene.frames:
            assert (f.width, f.height) == SPEC.color_size
            np.testing.assert_allclose(f.K, room.color_K, atol=1e-6)
            ours.append(instance_buffer(scene.vertices, scene.faces, scene.face_instance, f.K,
                                        f.cam_to_world, (f.width, f.height)))
            ref.append(instance_buffer(room.vertices, room.faces, room.face_instance,
                                       room.color_K, room.poses[f.frame_id], SPEC.color_size))
        assert agreement(ours, ref) >= 0.999
        # overlapping segGroups resolved by the smallest-group rule
        assert overlap_pair(room) is not None
        assert any("smallest group" in w for w in scene.warnings)
        assert np.array_equal(scene.face_instance, room.face_instance)


def test_dslr_colmap_and_undone_nerfstudio_poses_agree(release, room, tmp_path):
    root, ids = release
    scene = load_scannetpp_scene(root, ids[0], frames="dslr")
    assert scene.meta["dslr_poses"] == "colmap"
    poses, K = dslr_poses(room), dslr_intrinsics((96, 64))
    assert len(scene.frames) == len(poses)  # train frames and test_frames
    ours = [instance_buffer(scene.vertices, scene.faces, scene.face_instance, f.K,
                            f.cam_to_world, (f.width, f.height)) for f in scene.frames]
    ref = [instance_buffer(room.vertices, room.faces, room.face_instance, K, p, (96, 64))
           for p in poses]
    assert agreement(ours, ref) >= 0.999
    # Without COLMAP the nerfstudio transform_matrix is used, flip and permutation undone.
    copy = tmp_path / "ns"
    shutil.copytree(root / "data" / ids[0], copy / "data" / ids[0])
    (copy / "data" / ids[0] / "dslr" / "colmap" / "images.txt").unlink()
    ns = load_scannetpp_scene(copy, ids[0], frames="dslr")
    assert ns.meta["dslr_poses"] == "nerfstudio"
    for a, b in zip(scene.frames, ns.frames, strict=True):
        np.testing.assert_allclose(a.cam_to_world, b.cam_to_world, atol=1e-6)
    # DSLR frames are the JPEGs as stored, and there is no depth sensor
    f0 = scene.frames[0]
    name = f"DSC{f0.frame_id:05d}.JPG"
    img = root / "data" / ids[0] / "dslr" / "resized_undistorted_images" / name
    assert scene.read_color(f0.frame_id) == img.read_bytes()
    assert not scene.read_depth(f0.frame_id).depth.any()


def test_nerfstudio_conversion_is_not_the_identity_and_round_trips(room):
    pose = room.poses[3]
    ns = to_nerfstudio(pose)
    assert not np.allclose(ns, pose)  # the world permutation and flip change it
    np.testing.assert_allclose(nerfstudio_to_opencv(ns), pose, atol=1e-12)


def test_colour_from_extracted_frames(release):
    root, ids = release
    jpg_scene = load_scene(root, ids[0], source="scannetpp")
    path = root / "data" / ids[0] / "iphone" / "rgb" / "frame_000004.jpg"
    assert jpg_scene.read_color(4) == path.read_bytes()


@pytest.mark.skipif(not HAVE_AV, reason="PyAV not installed (pip install av)")
def test_colour_decoded_from_the_video(release, room):
    import av

    root, ids = release
    renderer = RoomRenderer(room.vertices, room.faces, room.vertex_colors)
    mkv_scene = load_scene(root, ids[1], source="scannetpp")
    assert mkv_scene.meta["iphone_color"] == "rgb.mkv"
    for fid in (0, 5):
        got = np.asarray(Image.open(io.BytesIO(mkv_scene.read_color(fid))).convert("RGB"),
                         dtype=np.float32)
        errs = [np.abs(got - renderer.color(room.color_K, room.poses[i], SPEC.color_size)
                       ).mean() for i in range(SPEC.n_frames)]
        # the decoded frame is the video frame with that index, not a neighbour
        assert int(np.argmin(errs)) == fid and errs[fid] < 6.0
    # random access (seek to the key frame before, decode forward) = sequential decoding
    with av.open(str(root / "data" / ids[1] / "iphone" / "rgb.mkv")) as c:
        seq = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(seq) == SPEC.n_frames
    for fid in (7, 2, 6, 0, 3):
        got = np.asarray(Image.open(io.BytesIO(mkv_scene.read_color(fid))), dtype=np.float32)
        assert np.abs(got - seq[fid]).mean() < 1.5  # only the JPEG re-encoding differs
    store = pickle.loads(pickle.dumps(mkv_scene.store))
    assert store.read_color(4) == mkv_scene.read_color(4)
    with pytest.raises(MissingDataError, match="no frame 99"):
        mkv_scene.read_color(99)


@pytest.mark.parametrize("k", sorted(VARIANTS))
def test_depth_variants_and_pose_check(release, room, k):
    root, ids = release
    scene = load_scene(root, ids[k], source="scannetpp")
    renderer = RoomRenderer(room.vertices, room.faces, room.vertex_colors)
    d = scene.read_depth(6)
    assert d.depth.shape == (192, 256) and d.depth.dtype == np.float32
    ref = renderer.depth_mm(d.K, room.poses[6], (256, 192)).astype(np.float32) / 1000
    assert np.abs(d.depth - ref).max() <= 0.0011  # mm rounding of the uint16 variants
    checks = check_poses(scene, [0, 6])
    assert all(not c.rejected and c.error_m < 0.005 for c in checks)


def test_objects_labels_and_annotated_boxes(release, room):
    root, ids = release
    scene = load_scene(root, ids[0], source="scannetpp")
    assert {o.instance_id: o.label for o in scene.objects} == {
        i: lab for i, lab in room.instance_labels.items() if (room.vertex_instance == i).any()}
    assert {o.instance_id for o in scene.objects if o.structural} == {
        i for i, lab in room.instance_labels.items() if lab in ("wall", "floor", "ceiling")}
    assert np.array_equal(scene.vertex_colors, room.vertex_colors)
    rotated = 0
    for o in scene.objects:
        pts = room.vertices[room.vertex_instance == o.instance_id].astype(np.float64)
        expect = fit_z_box(pts)
        np.testing.assert_allclose(o.obb.rotation, expect.rotation, atol=1e-9)
        np.testing.assert_allclose(o.obb.extent, expect.extent, atol=1e-9)
        local = (pts - o.obb.center) @ o.obb.rotation  # inside the annotated box
        assert (np.abs(local) <= o.obb.extent / 2 + 1e-5).all()
        rotated += abs(expect.rotation[0, 1]) > 0.05
    assert rotated >= 1  # a transposed rotation would have failed on these


def test_splits_listing_and_pickled_store(release):
    root, ids = release
    entries, warnings = list_scenes(root, source="scannetpp")
    by_id = {e.scene_id: e for e in entries}
    assert [by_id[s].split for s in ids] == ["train", "train", "train", "val"]
    assert all(by_id[s].complete for s in ids)
    assert by_id["ffffffffff"].split == "test" and not by_id["ffffffffff"].complete
    assert [e.scene_id for e in list_scenes(root, "scannetpp", split="bench")[0]] == [ids[3]]
    scene = load_scene(root, ids[1], source="scannetpp")
    assert scene.split == "train"
    scene.read_depth(2)  # builds the depth.bin reader state; pickling must still work
    store = pickle.loads(pickle.dumps(scene.store))
    assert np.array_equal(store.read_depth(2).depth, scene.read_depth(2).depth)


def test_unknown_names_fail_listing_the_known_ones(release):
    root, ids = release
    with pytest.raises(UnknownNameError, match="arkitscenes, mesh, scannet, scannetpp"):
        load_scene(root, ids[0], source="scannet++")
    with pytest.raises(UnknownNameError, match="dslr, iphone"):
        load_scannetpp_scene(root, ids[0], frames="panocam")


def _broken_copy(root: Path, sid: str, dst: Path) -> Path:
    shutil.copytree(root / "data" / sid / "scans", dst / "data" / sid / "scans")
    shutil.copytree(root / "data" / sid / "iphone" / "colmap",
                    dst / "data" / sid / "iphone" / "colmap")
    (dst / "data" / sid / "iphone" / "rgb").mkdir()
    return dst / "data" / sid


def test_bad_inputs_give_typed_errors_naming_scene_and_file(release, tmp_path):
    root, ids = release
    sid = ids[0]
    with pytest.raises(MissingDataError) as e:
        load_scannetpp_scene(root, "0000000000")
    assert e.value.scene_id == "0000000000" and "data/0000000000" in e.value.path

    folder = _broken_copy(root, sid, tmp_path / "a")
    seg = folder / "scans" / "segments.json"
    doc = json.loads(seg.read_text())
    doc["segIndices"] = doc["segIndices"][:-5]
    seg.write_text(json.dumps(doc))
    with pytest.raises(CorruptDataError) as e:
        load_scannetpp_scene(tmp_path / "a", sid)
    assert e.value.scene_id == sid and e.value.path.endswith("segments.json")
    assert "vertices" in e.value.cause

    folder = _broken_copy(root, sid, tmp_path / "b")
    (folder / "scans" / "mesh_aligned_0.05.ply").unlink()
    with pytest.raises(MissingDataError) as e:
        load_scannetpp_scene(tmp_path / "b", sid)
    assert e.value.path.endswith("mesh_aligned_0.05.ply")

    folder = _broken_copy(root, sid, tmp_path / "c")
    images = folder / "iphone" / "colmap" / "images.txt"
    images.write_text("# header\n1 0.5 0.5 x 0.5 0 0 0 1 frame_000000.jpg\n\n")
    with pytest.raises(CorruptDataError) as e:
        load_scannetpp_scene(tmp_path / "c", sid)
    assert e.value.path.endswith("images.txt")

    folder = _broken_copy(root, sid, tmp_path / "d")
    (folder / "scans" / "segments_anno.json").write_text("{not json")
    with pytest.raises(CorruptDataError, match="not valid JSON") as e:
        load_scannetpp_scene(tmp_path / "d", sid)
    assert e.value.path.endswith("segments_anno.json")

    # another scene's annotation with the same vertex count would otherwise be read silently
    folder = _broken_copy(root, sid, tmp_path / "g")
    anno = folder / "scans" / "segments_anno.json"
    doc = json.loads(anno.read_text())
    doc["sceneId"] = f"scannetpp.{ids[1]}"
    anno.write_text(json.dumps(doc))
    with pytest.raises(CorruptDataError, match=f"belongs to scene 'scannetpp.{ids[1]}'") as e:
        load_scannetpp_scene(tmp_path / "g", sid)
    assert e.value.scene_id == sid and e.value.path.endswith("segments_anno.json")

    folder = _broken_copy(root, sid, tmp_path / "f")  # only frames 0 and 3 extracted
    for k in (0, 3):
        name = f"frame_{k:06d}.jpg"
        shutil.copy(root / "data" / sid / "iphone" / "rgb" / name, folder / "iphone/rgb" / name)
    part = load_scannetpp_scene(tmp_path / "f", sid)
    assert [f.frame_id for f in part.frames] == [0, 3]
    assert {s.reason for s in part.skipped_frames} == {"colour frame not extracted and no rgb.mkv"}

    folder = _broken_copy(root, sid, tmp_path / "e")
    shutil.rmtree(folder / "iphone" / "rgb")
    with pytest.raises(MissingDataError, match="rgb") as e:
        load_scannetpp_scene(tmp_path / "e", sid)
    assert e.value.scene_id == sid


def test_dataset_writer_splits_and_same_rooms_as_the_scannet_release(tmp_path):
    spec = SynthSpec(n_frames=3, color_size=(64, 48), depth_size=(32, 24), target_faces=2000)
    splits = write_scannetpp_dataset(tmp_path, n_scenes=2, seed=4, spec=spec, dslr=False)
    entries, _ = list_scenes(tmp_path, source="scannetpp")
    assert {e.scene_id: e.split for e in entries} == {splits["train"][0]: "train",
                                                      splits["val"][0]: "val"}
    # scene k is the room the ScanNet synthetic release writes as scene000k_00
    scene = load_scene(tmp_path, splits["val"][0], source="scannetpp")
    room = generate_room(room_seed(4, 1), spec)
    np.testing.assert_array_equal(scene.vertices, room.vertices)


def test_benchmark_label_map(release, room, tmp_path):
    root, ids = release
    dst = tmp_path / "mapped"
    shutil.copytree(root / "data" / ids[0] / "scans", dst / "data" / ids[0] / "scans")
    shutil.copytree(root / "data" / ids[0] / "iphone", dst / "data" / ids[0] / "iphone")
    present = sorted({lab for i, lab in room.instance_labels.items()
                      if (room.vertex_instance == i).any()} - {"wall", "floor", "ceiling"})
    renamed, dropped, kept = present[:3]
    meta = dst / "metadata" / "semantic_benchmark"
    meta.mkdir(parents=True)
    (meta / "map_benchmark.csv").write_text(
        "class,count,semantic_map_to,instance_map_to\n"
        f"{renamed},120,benchmark {renamed},\n{dropped},80,None,None\n{kept},300,,\n")
    scene = load_scene(dst, ids[0], source="scannetpp")
    cats = {o.label: o.category for o in scene.objects}
    assert cats[renamed] == f"benchmark {renamed}" and cats[kept] == kept
    assert dropped not in cats
    gone = [i for i, lab in room.instance_labels.items() if lab == dropped]
    assert not np.isin(scene.face_instance, gone).any()
    assert (scene.face_instance[np.isin(room.face_instance, gone)] == 0).all()
    raw = load_scannetpp_scene(dst, ids[0], label_map=False)
    assert {o.label: o.category for o in raw.objects}[renamed] == renamed
    # a bad or missing map fails naming the scene being read (failure reports are per scene)
    (meta / "map_benchmark.csv").write_text("label,target\nchair,seat\n")
    with pytest.raises(CorruptDataError) as e:
        load_scene(dst, ids[0], source="scannetpp")
    assert e.value.scene_id == ids[0] and "'class'" in e.value.cause
    with pytest.raises(MissingDataError) as e:
        load_scannetpp_scene(dst, ids[0], label_map=tmp_path / "nope.csv")
    assert e.value.scene_id == ids[0] and e.value.path.endswith("nope.csv")


def test_iphone_without_any_depth_is_not_comparable_not_a_failure(release, tmp_path):
    """No depth/ and no depth.bin: the reader warns "no sensor depth", so the pose check must
    report the frames as not checked instead of failing the scene on a missing PNG."""
    root, ids = release
    dst = tmp_path / "data" / ids[2]
    shutil.copytree(root / "data" / ids[2], dst)
    (dst / "iphone" / "depth.bin").unlink()
    scene = load_scannetpp_scene(tmp_path, ids[2])
    assert any("no sensor depth" in w for w in scene.warnings)
    assert scene.meta["iphone_depth"] == "none"
    d = scene.read_depth(6)
    assert (d.depth == 0).all()
    checks = check_poses(scene, [0, 6])
    assert [c.reason for c in checks] == [NO_DEPTH] * 2
    assert not any(c.rejected for c in checks)


@pytest.mark.parametrize("k, error", [(1, MissingDataError), (3, CorruptDataError)])
def test_truncated_depth_bin(release, tmp_path, k, error):
    root, ids = release
    src = root / "data" / ids[k] / "iphone" / "depth.bin"
    dst = tmp_path / "data" / ids[k]
    shutil.copytree(root / "data" / ids[k], dst)
    data = src.read_bytes()
    (dst / "iphone" / "depth.bin").write_bytes(data[: len(data) // 2])
    scene = load_scannetpp_scene(tmp_path, ids[k])
    with pytest.raises(error) as e:
        scene.read_depth(7)
    assert e.value.scene_id == ids[k] and e.value.path.endswith("depth.bin")


def test_colmap_images_txt_variants(tmp_path, room):
    from mosaic.sources.scannetpp import read_colmap_images
    from mosaic.synthetic.scannetpp_writer import colmap_line

    a, b, c = (colmap_line(i + 1, room.poses[i], 1, f"frame_{i:06d}.jpg") for i in range(3))
    variants = {
        "standard": f"# c\n{a}\n1.0 2.0 -1 3.5 4.5 7\n{b}\n\n{c}\n\n",
        "no points lines": f"{a}\n{b}\n{c}\n",
        "blank lines between": f"\n{a}\n\n\n{b}\n4 5 6\n\n{c}",
    }
    for name, text in variants.items():
        p = tmp_path / f"{name}.txt"
        p.write_text(text)
        images = read_colmap_images("s", p)
        assert [im.name for im in images] == [f"frame_{i:06d}.jpg" for i in range(3)], name
        for i, im in enumerate(images):
            np.testing.assert_allclose(im.cam_to_world, room.poses[i], atol=1e-9)


def test_depth_bin_stream_random_access_with_checkpoints(release, room):
    from mosaic.sources.scannetpp import DepthBin

    root, ids = release
    path = root / "data" / ids[1] / "iphone" / "depth.bin"
    renderer = RoomRenderer(room.vertices, room.faces, room.vertex_colors)
    K = np.diag([256 / SPEC.color_size[0], 192 / SPEC.color_size[1], 1.0]) @ room.color_K
    truth = [renderer.depth_mm(K, room.poses[i], (256, 192)).astype(np.float32) / 1000
             for i in range(SPEC.n_frames)]
    reader = DepthBin(ids[1], path, checkpoint_every=3)
    for i in (5, 1, 7, 6, 0, 3, 7):
        assert np.abs(reader.read(i) - truth[i]).max() <= 0.0006
    assert sorted(reader._checkpoints) == [0, 3, 6]
    with pytest.raises(MissingDataError, match="frame 8 not in depth.bin"):
        reader.read(8)


def test_manifest_lists_nested_files_and_summarises_frame_folders(release, tmp_path):
    import json

    from mosaic.sources import write_manifest

    root, ids = release
    doc = json.loads(write_manifest(root, tmp_path / "m.json", source="scannetpp").read_text())
    files = doc["scenes"][0]["files"]
    assert "scans/mesh_aligned_0.05.ply" in files
    assert len(files["scans/mesh_aligned_0.05.ply"]["sha256"]) == 64
    assert any(k.startswith("iphone/colmap/") for k in files)
    bulk = [v for k, v in files.items() if k.endswith("/")]
    assert all(v["n_files"] >= 0 and "sha256" not in v for v in bulk)


# ---- COLMAP models: what the toolkit's read_model needs ---------------------------------------
def _read_colmap_text(folder: Path) -> tuple[dict, dict, dict]:
    """cameras, images and points3D of a COLMAP text model, read as the toolkit's read_model
    does (images: two lines each, the second ``X Y POINT3D_ID`` triples)."""
    def data_lines(name: str) -> list[str]:
        return [ln for ln in (folder / name).read_text().split("\n")
                if not ln.startswith("#")]

    cams = {}
    for ln in data_lines("cameras.txt"):
        if ln.strip():
            e = ln.split()
            cams[int(e[0])] = (e[1], int(e[2]), int(e[3]), np.array(e[4:], float))
    images, lines = {}, data_lines("images.txt")
    while lines and lines[0].strip():
        head, pts = lines[0].split(), lines[1].split()
        lines = lines[2:]
        images[int(head[0])] = (np.array(head[1:5], float), np.array(head[5:8], float),
                                int(head[8]), head[9],
                                [(float(pts[k]), float(pts[k + 1]), int(pts[k + 2]))
                                 for k in range(0, len(pts), 3)])
    points = {}
    for ln in data_lines("points3D.txt"):
        if ln.strip():
            e = ln.split()
            points[int(e[0])] = (np.array(e[1:4], float), [int(v) for v in e[4:7]], float(e[7]),
                                 list(zip(map(int, e[8::2]), map(int, e[9::2]), strict=True)))
    return cams, images, points


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def _project(model: str, params: np.ndarray, cam: np.ndarray) -> np.ndarray:
    fx, fy, cx, cy = params[:4]
    x, y = cam[0] / cam[2], cam[1] / cam[2]
    if model == "OPENCV_FISHEYE":
        r = np.hypot(x, y)
        t = np.arctan(r)
        k = params[4:8]
        scale = t * (1 + k[0] * t**2 + k[1] * t**4 + k[2] * t**6 + k[3] * t**8) / r
        x, y = x * scale, y * scale
    return np.array([fx * x + cx, fy * y + cy])


def _opencv_new_camera_matrix(params: np.ndarray, w: int, h: int) -> np.ndarray:
    """OpenCV's fisheye new camera matrix (balance 0, same size), undistorting the four border
    midpoints by bisection on theta (the writer uses Newton)."""
    fx, fy, cx, cy, *k = params
    und = []
    for u, v in ((w // 2, 0), (w, h // 2), (w // 2, h), (0, h // 2)):
        px, py = (u - cx) / fx, (v - cy) / fy
        td = np.hypot(px, py)
        lo, hi = 0.0, np.pi / 2 - 1e-9
        for _ in range(200):
            mid = (lo + hi) / 2
            val = mid * (1 + k[0] * mid**2 + k[1] * mid**4 + k[2] * mid**6 + k[3] * mid**8)
            lo, hi = (mid, hi) if val < td else (lo, mid)
        s = np.tan(lo) / td
        und.append((px * s, py * s * fx / fy))
    pts = np.array(und)
    c = pts.mean(axis=0)
    a = fx / fy
    f = max(w / 2 / (c[0] - pts[:, 0].min()), w / 2 / (pts[:, 0].max() - c[0]),
            h / 2 * a / (c[1] - pts[:, 1].min()), h / 2 * a / (pts[:, 1].max() - c[1]))
    return np.array([f, f / a, w / 2 - c[0] * f, (h / 2 * a - c[1] * f) / a])


@pytest.mark.parametrize("camera", ["iphone", "dslr"])
def test_colmap_models_are_complete_and_consistent(release, camera):
    """Every POINT3D_ID an image names is defined in points3D.txt, tracks point back at the
    right 2D points, and the points reproject onto them through the camera model."""
    root, ids = release
    cams, images, points = _read_colmap_text(root / "data" / ids[0] / camera / "colmap")
    assert len(cams) == 1 and len(images) > 2 and len(points) >= 5
    model, w, h, params = cams[1]
    assert model == ("OPENCV" if camera == "iphone" else "OPENCV_FISHEYE")
    named = {pid for im in images.values() for *_, pid in im[4] if pid != -1}
    assert named == set(points)
    n_obs = 0
    for pid, (xyz, rgb, err, track) in points.items():
        assert all(0 <= c <= 255 for c in rgb) and err >= 0 and track
        for image_id, idx in track:
            q, t, cam_id, _name, pts = images[image_id]
            x, y, got = pts[idx]
            assert got == pid and cam_id == 1
            cam = _quat_matrix(q) @ xyz + t
            assert cam[2] > 0 and 0 <= x < w and 0 <= y < h
            np.testing.assert_allclose(_project(model, params, cam), (x, y), atol=2e-3)
            n_obs += 1
    assert n_obs == sum(pid != -1 for im in images.values() for *_, pid in im[4])


def test_dslr_cameras_txt_matches_the_undistorted_transforms(release):
    root, ids = release
    dslr = root / "data" / ids[0] / "dslr"
    (model, w, h, params), = _read_colmap_text(dslr / "colmap")[0].values()
    ns = json.loads((dslr / "nerfstudio" / "transforms_undistorted.json").read_text())
    assert model == "OPENCV_FISHEYE" and (w, h) == (ns["w"], ns["h"]) == (96, 64)
    assert ns["camera_model"] == "PINHOLE"
    got = np.array([ns["fl_x"], ns["fl_y"], ns["cx"], ns["cy"]])
    np.testing.assert_allclose(got, _opencv_new_camera_matrix(params, w, h), atol=1e-6)
    # the undistorted principal point is not the fisheye's: it is what the undistortion writes
    assert abs(got[2] - params[2]) > 0.05
    scene = load_scannetpp_scene(root, ids[0], frames="dslr")
    np.testing.assert_allclose(scene.frames[0].K[[0, 1, 0, 1], [0, 1, 2, 2]], got, atol=1e-9)


def test_every_iphone_layout_labels_the_same_on_a_pool_of_two(release):
    """JPEG or video colour; PNG, stream, deflate or lz4 depth: read by a pool's worker."""
    root, ids = release
    assert_pool_labels_match([load_scene(root, sid, source="scannetpp") for sid in ids])
