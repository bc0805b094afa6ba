"""Generic mesh source: writer + reader round trip on a small synthetic room (96x72 frames)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import trimesh
from pool_parity import assert_pool_labels_match
from test_scannetpp import agreement, instance_buffer

from mosaic.errors import CorruptDataError, MissingDataError, UnknownNameError
from mosaic.sources import list_scenes, load_scene
from mosaic.sources.mesh import MeshFrameFile, load_mesh_scene, write_mesh_scene
from mosaic.synthetic.room import SynthSpec, generate_room
from mosaic.synthetic.world import RoomRenderer
from mosaic.visibility import check_poses

SPEC = SynthSpec(n_frames=6, color_size=(96, 72), depth_size=(48, 36), target_faces=6000)
STORAGES = ("vertex_property", "face_property", "vertex_npy", "face_npy")


@pytest.fixture(scope="module")
def room():
    return generate_room(13, SPEC)


@pytest.fixture(scope="module")
def frames(room):
    r = RoomRenderer(room.vertices, room.faces, room.vertex_colors)
    return [MeshFrameFile(i, room.color_K, room.poses[i], *SPEC.color_size,
                          color=r.color_jpeg(room.color_K, room.poses[i], SPEC.color_size),
                          depth_mm=r.depth_mm(room.depth_K, room.poses[i], SPEC.depth_size),
                          depth_K=room.depth_K)
            for i in range(SPEC.n_frames)]


@pytest.fixture(scope="module")
def root(tmp_path_factory, room, frames):
    root = tmp_path_factory.mktemp("mesh")
    labels = {i: lab for i, lab in room.instance_labels.items()}
    labels[1] = {"label": labels[1], "category": labels[1], "structural": True}
    for storage in STORAGES:
        inst = room.vertex_instance if storage.startswith("vertex") else room.face_instance
        write_mesh_scene(root, storage, room.vertices, room.faces, room.vertex_colors, inst,
                         labels, frames, instance_storage=storage)
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("vertex_property\nface_property\n")
    (root / "splits" / "val.txt").write_text("vertex_npy\n")
    return root


@pytest.mark.parametrize("storage", STORAGES)
def test_round_trip_reproduces_the_renders(root, room, storage):
    scene = load_scene(root, storage, source="mesh")
    assert np.array_equal(scene.face_instance, room.face_instance)
    assert scene.meta["instances_from"].startswith(
        {"vertex_property": "vertex property", "face_property": "face property",
         "vertex_npy": "vertex_instance", "face_npy": "face_instance"}[storage])
    ours, ref = [], []
    for f in scene.frames:
        ours.append(instance_buffer(scene.vertices, scene.faces, scene.face_instance, f.K,
                                    f.cam_to_world, (f.width, f.height)))
        ref.append(instance_buffer(room.vertices, room.faces, room.face_instance, room.color_K,
                                   room.poses[f.frame_id], SPEC.color_size))
    assert agreement(ours, ref) >= 0.999
    assert len(scene.frames) == SPEC.n_frames


def test_objects_labels_structural_depth_and_splits(root, room, frames):
    scene = load_mesh_scene(root, "vertex_property")
    assert {o.instance_id: o.label for o in scene.objects} == {
        i: lab for i, lab in room.instance_labels.items() if (room.face_instance == i).any()}
    structural = {o.instance_id for o in scene.objects if o.structural}
    assert 1 in structural and structural == {
        i for i, lab in room.instance_labels.items() if lab in ("wall", "floor", "ceiling")}
    assert scene.read_color(2) == frames[2].color
    d = scene.read_depth(2)
    np.testing.assert_allclose(d.K, room.depth_K)
    assert np.array_equal(np.rint(d.depth * 1000).astype(np.uint16), frames[2].depth_mm)
    assert all(not c.rejected for c in check_poses(scene, [0, 3]))
    entries, _ = list_scenes(root, source="mesh")
    assert {e.scene_id: e.split for e in entries} == {
        "vertex_property": "train", "face_property": "train", "vertex_npy": "val",
        "face_npy": None}
    assert all(e.complete for e in entries)
    assert [e.scene_id for e in list_scenes(root, "mesh", split="val")[0]] == ["vertex_npy"]


def test_obj_mesh_with_npy_ids(root, room, tmp_path):
    dst = tmp_path / "s"
    shutil.copytree(root / "vertex_npy", dst / "objscene")
    (dst / "objscene" / "mesh.ply").unlink()
    trimesh.Trimesh(room.vertices, room.faces, process=False).export(dst / "objscene" /
                                                                      "mesh.obj")
    scene = load_mesh_scene(dst, "objscene")
    assert scene.meta["mesh"] == "mesh.obj"
    np.testing.assert_allclose(scene.vertices, room.vertices, atol=1e-5)
    assert np.array_equal(scene.face_instance, room.face_instance)


def _edit_frames(root, tmp_path, name, edit):
    dst = tmp_path / name
    shutil.copytree(root / "vertex_property", dst / "s")
    p = dst / "s" / "frames.json"
    doc = json.loads(p.read_text())
    edit(doc)
    p.write_text(json.dumps(doc))
    return dst


def test_opengl_poses_per_frame_intrinsics_and_bad_poses(root, room, tmp_path):
    flip = np.diag([1.0, -1, -1, 1])

    def edit(doc):
        doc["camera"] = "opengl"
        for f in doc["frames"]:
            f["cam_to_world"] = (np.asarray(f["cam_to_world"]) @ flip).tolist()
        doc["frames"][1]["cam_to_world"][0][0] = float("nan")
        doc["frames"][3]["image"] = "images/missing.jpg"
        doc["frames"][2]["K"] = (np.diag([0.5, 0.5, 1]) @ np.asarray(doc["K"])).tolist()
        doc["frames"][2]["width"], doc["frames"][2]["height"] = 48, 36

    scene = load_mesh_scene(_edit_frames(root, tmp_path, "gl", edit), "s")
    assert [(s.frame_id, s.reason) for s in scene.skipped_frames] == [
        (1, "non-finite pose"), (3, "colour image missing")]
    depth = scene.store.depths[0][0]
    (tmp_path / "gl" / "s" / depth).unlink()
    with pytest.raises(MissingDataError) as e:  # names the file and says what to do
        scene.read_depth(0)
    assert e.value.path.endswith(depth) and "frames.json" in e.value.hint
    f0, f2 = scene.frame(0), scene.frame(2)
    np.testing.assert_allclose(f0.cam_to_world, room.poses[0], atol=1e-12)
    assert (f2.width, f2.height) == (48, 36) and f2.K[0, 0] == pytest.approx(
        room.color_K[0, 0] / 2)


@pytest.mark.parametrize("edit, cause", [
    (lambda d: d["frames"][0].update(cam_to_world=[[1, 0, 0], [0, 1, 0]]), "shape"),
    (lambda d: d["frames"][1].update(id=0), "appears twice"),
    (lambda d: d["frames"][0].pop("image"), "lacks 'image'"),
    (lambda d: d.update(camera="blender"), "camera 'blender'"),
    (lambda d: d.pop("frames"), "no 'frames' list"),
    (lambda d: d["frames"][0].update(width=0), "has size 0x"),
    (lambda d: d["frames"][0].update(depth="depth/x.png", depth_scale=0), "depth_scale"),
])
def test_bad_frames_json_gives_typed_errors(root, tmp_path, edit, cause):
    dst = _edit_frames(root, tmp_path, "bad", edit)
    with pytest.raises(CorruptDataError) as e:
        load_mesh_scene(dst, "s")
    assert e.value.scene_id == "s" and e.value.path.endswith("frames.json")
    assert cause in e.value.cause and "adding_a_source" in e.value.hint


def test_bad_mesh_labels_and_ids_give_typed_errors(root, tmp_path):
    with pytest.raises(MissingDataError) as e:
        load_mesh_scene(root, "nope")
    assert e.value.scene_id == "nope" and e.value.path.endswith("nope")

    dst = tmp_path / "a"
    shutil.copytree(root / "face_npy", dst / "s")
    np.save(dst / "s" / "face_instance.npy", np.zeros(5, np.int32))
    with pytest.raises(CorruptDataError) as e:
        load_mesh_scene(dst, "s")
    assert e.value.path.endswith("face_instance.npy") and "expected" in e.value.cause
    assert "adding_a_source" in e.value.hint

    dst = tmp_path / "b"
    shutil.copytree(root / "face_npy", dst / "s")
    (dst / "s" / "face_instance.npy").unlink()
    with pytest.raises(MissingDataError) as e:
        load_mesh_scene(dst, "s")
    assert e.value.path.endswith("mesh.ply") and "no instance ids" in e.value.cause

    dst = tmp_path / "c"
    shutil.copytree(root / "vertex_property", dst / "s")
    labels = json.loads((dst / "s" / "labels.json").read_text())
    del labels["3"]
    (dst / "s" / "labels.json").write_text(json.dumps(labels))
    with pytest.raises(CorruptDataError) as e:
        load_mesh_scene(dst, "s")
    assert e.value.path.endswith("labels.json") and "[3]" in e.value.cause

    with pytest.raises(UnknownNameError, match="face_npy, face_property"):
        write_mesh_scene(tmp_path, "x", np.zeros((3, 3)), np.zeros((1, 3), int),
                         np.zeros((3, 3), np.uint8), np.zeros(3), {}, [],
                         instance_storage="colour")


def test_obj_with_per_face_texture_coordinates_keeps_vertex_order(tmp_path):
    """An OBJ vertex used with two different ``vt`` (a UV seam) must not be split: per-vertex
    ids are given in the file's vertex order."""
    folder = tmp_path / "uv"
    folder.mkdir()
    (folder / "mesh.obj").write_text(
        "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nvt 1 1\n"
        "f 4/4 2/2 3/3\nf 1/1 2/4 3/3\n")
    np.save(folder / "vertex_instance.npy", np.array([1, 1, 1, 2], np.int32))
    (folder / "labels.json").write_text(json.dumps({"1": "chair", "2": "table"}))
    (folder / "images").mkdir()
    (folder / "images" / "0.jpg").write_bytes(b"\xff\xd8")
    (folder / "frames.json").write_text(json.dumps({
        "K": [[50, 0, 32], [0, 50, 24], [0, 0, 1]], "width": 64, "height": 48,
        "frames": [{"id": 0, "image": "images/0.jpg", "cam_to_world": np.eye(4).tolist()}]}))
    scene = load_mesh_scene(tmp_path, "uv")
    assert len(scene.vertices) == 4
    assert scene.face_instance.tolist() == [1, 1]  # face (3,1,2): ids (2,1,1) -> 1


def test_labels_the_same_on_a_pool_of_two(root):
    assert_pool_labels_match([load_scene(root, s, source="mesh") for s in STORAGES])
