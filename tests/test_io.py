"""HDF5 shard round trips, reader joins, validation and exports on hand-built records."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle

import h5py
import numpy as np
import pytest

from mosaic.io.exports import (
    FORMATS,
    FRAMES_DIR,
    ExportError,
    export_dataset,
    export_file_name,
    option_strings,
)
from mosaic.io.reader import open_dataset
from mosaic.io.shard_writer import SceneRecord, ShardWriter, write_bytes_atomic
from mosaic.io.validate import validate_dataset
from mosaic.prompts import build_prompt
from mosaic.stages.chunk import write_index
from mosaic.structures import (
    FAMILY_OF,
    Frame,
    ObjectVisibility,
    OrientedBox,
    QAItem,
    Scene,
    SceneObject,
    SkippedFrame,
    ViewVisibility,
)

SPATIALMOSAIC_FIELDS = (
    "dataset", "scene_name", "question_type", "frames", "question", "options", "ground_truth",
    "mc_answer", "overlap_avg", "occlusion_avg", "occ_level", "overlap_level", "vis_level",
    "GT Scenario", "id", "bbox_2d", "bbox_2d_diag",
)


def make_scene(scene_id: str, n_frames: int = 3) -> Scene:
    objects = tuple(
        SceneObject(
            instance_id=i,
            label=f"raw{i}",
            category="chair" if i % 2 else "table",
            nyu40_id=None if i == 2 else 5,
            scannet200_id=2,
            aabb_min=np.array([i, 0.0, 0.0]),
            aabb_max=np.array([i + 0.5, 0.5, 1.0]),
            obb=OrientedBox(np.array([i + 0.25, 0.25, 0.5]), np.array([0.5, 0.5, 1.0]), np.eye(3)),
            n_faces=10 * i,
            structural=i == 3,
        )
        for i in (1, 2, 3)
    )
    frames = []
    for f in range(n_frames):
        pose = np.eye(4)
        pose[0, 3] = 0.1 * f
        K = np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]])
        frames.append(Frame(frame_id=10 * f, K=K, cam_to_world=pose, width=64, height=48))
    return Scene(
        scene_id=scene_id,
        source="scannet",
        vertices=np.zeros((3, 3), np.float32),
        faces=np.zeros((1, 3), np.int32),
        vertex_colors=np.zeros((3, 3), np.uint8),
        face_instance=np.zeros(1, np.int32),
        objects=objects,
        frames=tuple(frames),
        skipped_frames=(SkippedFrame(99, "non-finite pose"),),
        split="train",
        meta={"sceneType": "Living room / Lounge"},
    )


def make_view(frame_id: int) -> ViewVisibility:
    objs = (
        ObjectVisibility(1, 120, 150, 200, 0.25, 0.2, 0.6, (1.0, 2.0, 11.0, 12.0),
                         (0.0, 1.0, 12.0, 13.0), (6.0, 7.0), 2.5, ((2, 20), (0, 10)),
                         "occluded+truncated", "medium", True),
        ObjectVisibility(2, 0, 30, 40, 0.25, 1.0, 0.0, None, (3.0, 3.0, 5.0, 5.0), None,
                         math.nan, (), "invisible", "high", False),
    )
    buf = np.zeros((4, 4), np.int32)
    return ViewVisibility(frame_id, buf, buf.astype(np.float32), buf, 0.5, objs,
                          np.arange(3, dtype=np.int64))


def make_qa(scene_id: str, k: int, frame_ids: tuple[int, ...]) -> QAItem:
    qtype = ("obj_count_occ", "obj_localization_occ_na", "obj_existence_occ_lr")[k % 3]
    mc = qtype != "obj_localization_occ_na"
    return QAItem(
        id=f"{scene_id}-{qtype}-{k:04d}",
        scene_id=scene_id,
        question_type=qtype,
        family=FAMILY_OF[qtype],
        frame_ids=frame_ids,
        question=f"How many chairs — ü {k}?",
        options=("3", "1", "2", "4") if mc else (),
        answer="A" if mc else "(6,7)",
        ground_truth="3" if mc else "(6,7)",
        overlap_avg=12.5,
        overlap_level="medium",
        occlusion_avg=0.4,
        occ_level="medium",
        vis_level="Partially Visible",
        coverage="Full Coverage",
        bbox_2d=None if mc else (1.0, 2.0, 11.0, 12.0),
        bbox_2d_diag=None if mc else math.hypot(10, 10),
        targets=(1, 2),
        template_id=f"t{k}",
        seed=1234 + k,
        evidence={"visible_px": [120, 0], "note": "x"},
    )


def jpeg(frame_id: int) -> bytes:
    """A real 64x48 JPEG (the frames' size) whose pixels depend on the frame id."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (frame_id % 256, 80, 160)).save(buf, "JPEG")
    return buf.getvalue()


def write_dataset(root, n_scenes=2, embed=False, splits=None):
    """``n_scenes`` one-scene shards, all ``train`` unless ``splits`` names each one's split."""
    splits = splits or ("train",) * n_scenes
    shards = []
    for s in range(n_scenes):
        sid = f"scene{s:04d}_00"
        scene = make_scene(sid)
        views = [make_view(0), make_view(20)]
        qa = [make_qa(sid, k, (20, 0) if k % 2 else (0, 20)) for k in range(3)]
        rec = SceneRecord(
            scene=scene, n_sampled=3, rejected=[{"frame_id": 10, "error_m": 0.3, "reason": "r"}],
            views=views, pose_errors={0: 0.01},
            image_paths={0: f"images/{sid}/0.jpg", 20: f"images/{sid}/20.jpg"},
            images={0: jpeg(0), 20: jpeg(20)} if embed else {}, qa=qa,
        )
        if not embed:
            for fid in (0, 20):
                (root / "images" / sid).mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(root / f"images/{sid}/{fid}.jpg", jpeg(fid))
        # shard i of n of its own split, as the driver names them
        i, n = splits[:s].count(splits[s]), splits.count(splits[s])
        w = ShardWriter(root / f"{splits[s]}-{i:05d}-of-{n:05d}.h5", splits[s],
                        '{"seed":0}', "abc", "0.1.0", embed_images=embed)
        w.add_scene(rec)
        shards.append(w.close())
    write_index(root, shards, {"source": "scannet", "config_hash": "abc"})
    return shards


def test_round_trip_every_field(tmp_path):
    write_dataset(tmp_path)
    ds = open_dataset(tmp_path)
    assert len(ds) == 6
    item = ds[4]
    want = make_qa("scene0001_00", 1, (20, 0))
    assert item.qa == want
    assert [v.frame_id for v in item.views] == [20, 0]
    assert item.views[1].K[0, 0] == 50.0 and item.views[0].cam_to_world[0, 3] == pytest.approx(0.2)
    assert item.views[1].pose_error == pytest.approx(0.01) and math.isnan(item.views[0].pose_error)
    assert item.image_paths[0] == tmp_path / "images/scene0001_00/20.jpg"
    vis = item.visibility[0]
    assert set(vis) == {1, 2}
    assert vis[1] == make_view(20).objects[0]
    v2 = vis[2]
    assert v2.bbox_visible is None and v2.center_visible is None and math.isnan(v2.depth_median)
    assert v2.occluders == () and v2.visible is False
    assert ds[-1].qa.id == ds[5].qa.id
    with pytest.raises(IndexError):
        ds[6]
    assert [q.id for q in ds.iter_qa()] == [d.qa.id for d in ds]
    ds.close()
    with h5py.File(tmp_path / "train-00000-of-00002.h5") as f:
        assert f.attrs["schema_version"] and f.attrs["config_hash"] == "abc"
        assert f["qa/question"].dtype == np.uint8 and f["qa/question"].compression == "gzip"
        assert f["objects/nyu40_id"][1] == -1
        info = json.loads(f["scenes/info"][()].tobytes())
        assert info["skipped_frames"][0]["reason"] == "non-finite pose"


def test_unknown_split_is_an_error_not_an_empty_dataset(tmp_path):
    from mosaic.errors import UnknownNameError

    write_dataset(tmp_path, n_scenes=1)
    assert len(open_dataset(tmp_path, split="train")) == 3
    with pytest.raises(UnknownNameError, match="'val'.*train"):
        open_dataset(tmp_path, split="val")


def test_reader_pickles_without_handles(tmp_path):
    write_dataset(tmp_path, n_scenes=1)
    ds = open_dataset(tmp_path)
    first = ds[0].qa
    clone = pickle.loads(pickle.dumps(ds))
    assert clone[0].qa == first and len(clone) == len(ds)


_FORKED = None


def _ragged_in_child(row):
    # the first read in the child is a ragged column: its handle and caches must be its own
    shard = _FORKED.shards[0]
    frame_ids = shard.ragged("qa", "frame_ids", row).tolist()
    return frame_ids, shard.ragged("qa", "targets", row).tolist()


def test_ragged_read_first_after_fork(tmp_path):
    import multiprocessing as mp

    global _FORKED
    write_dataset(tmp_path, n_scenes=1)
    ds = open_dataset(tmp_path)
    want = [(list(ds[i].qa.frame_ids), list(ds[i].qa.targets)) for i in range(2)]  # parent caches
    _FORKED = ds
    try:
        with mp.get_context("fork").Pool(1) as pool:
            got = pool.map(_ragged_in_child, [0, 1])
    finally:
        _FORKED = None
    assert [tuple(g) for g in got] == [tuple(w) for w in want]


def test_embedded_images(tmp_path):
    write_dataset(tmp_path, n_scenes=1, embed=True)
    ds = open_dataset(tmp_path)
    item = ds[1]
    assert ds.image_bytes(item, 0) == jpeg(20)
    assert not (tmp_path / "images").exists()
    assert validate_dataset(tmp_path).ok
    export_dataset(tmp_path, "spatialmosaic", tmp_path / "exports")
    assert (tmp_path / "images/scene0000_00/20.jpg").read_bytes() == jpeg(20)


def test_validate_flags_flipped_byte(tmp_path):
    write_dataset(tmp_path)
    report = validate_dataset(tmp_path)
    assert report.ok, report.problems
    target = tmp_path / "train-00001-of-00002.h5"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    report = validate_dataset(tmp_path)
    assert not report.ok
    assert report.bad_shards() == ["train-00001-of-00002.h5"]


def test_validate_flags_missing_image_and_shard(tmp_path):
    write_dataset(tmp_path)
    (tmp_path / "images/scene0000_00/20.jpg").unlink()
    report = validate_dataset(tmp_path)
    assert report.bad_shards() == ["train-00000-of-00002.h5"]
    (tmp_path / "train-00001-of-00002.h5").unlink()
    report = validate_dataset(tmp_path)
    assert "train-00001-of-00002.h5" in report.bad_shards()


def test_exports_write_one_file_per_split(tmp_path):
    write_dataset(tmp_path, n_scenes=3, splits=("train", "bench", "train"))
    for fmt in FORMATS:
        written = export_dataset(tmp_path, fmt, tmp_path / "exports")
        assert set(written) == {"bench", "train"}
        for split, path in written.items():
            assert path.name == export_file_name(fmt, split)
            text = path.read_text()
            records = ([json.loads(x) for x in text.splitlines()] if fmt == "jsonl"
                       else json.loads(text))
            assert len(records) == (3 if split == "bench" else 6)
            assert {r["split"] for r in records} == {split}
            bench_scene = "scene0001_00"
            ids_scenes = {r["id"].split("-")[0] for r in records}
            assert (ids_scenes == {bench_scene}) == (split == "bench")
    only = export_dataset(tmp_path, "spatialmosaic", tmp_path / "one", split="bench")
    assert list(only) == ["bench"]
    mine = export_dataset(tmp_path, "jsonl", tmp_path, split="train", output=tmp_path / "t.jsonl")
    assert mine == {"train": tmp_path / "t.jsonl"}
    with pytest.raises(ExportError, match=r"splits bench, train.*--split"):
        export_dataset(tmp_path, "jsonl", tmp_path, output=tmp_path / "all.jsonl")


def test_spatialmosaic_export_uses_their_field_values(tmp_path):
    write_dataset(tmp_path)
    sm = json.loads(export_dataset(tmp_path, "spatialmosaic", tmp_path)["train"].read_text())
    assert len(sm) == 6
    for rec in sm:
        assert all(k in rec for k in SPATIALMOSAIC_FIELDS)
        assert set(rec["provenance"]) >= {"frame_ids", "targets", "template_id"}
        assert all("/" in f and (tmp_path / f).is_file() for f in rec["frames"])
        assert rec["GT Scenario"] == "Full Coverage" and rec["vis_level"] == "Partially Visible"
        assert rec["family"] == FAMILY_OF[rec["question_type"]] and rec["split"] == "train"
    mc = next(r for r in sm if r["question_type"] == "obj_count_occ")
    assert mc["options"] == ["A. 3", "B. 1", "C. 2", "D. 4"] and mc["mc_answer"] == "A"
    assert mc["bbox_2d"] == [] and mc["bbox_2d_diag"] == "0"  # as theirs when not applicable
    loc = next(r for r in sm if r["question_type"] == "obj_localization_occ_na")
    assert loc["ground_truth"] == "(6,7)" and loc["mc_answer"] == ""
    assert loc["bbox_2d"] == [1, 2, 11, 12]
    assert float(loc["bbox_2d_diag"]) == math.hypot(10, 10)  # exact round trip of the text
    assert loc["prompt"] == build_prompt(open_dataset(tmp_path).qa(1))


def test_llava_export_introduces_each_image_by_its_frame_label(tmp_path):
    write_dataset(tmp_path)
    llava = json.loads(export_dataset(tmp_path, "llava", tmp_path)["train"].read_text())
    human, gpt = llava[1]["conversations"]
    item = open_dataset(tmp_path).qa(1)
    assert human["value"] == "Frame 1: <image>\nFrame 2: <image>\n" + build_prompt(item)
    assert gpt == {"from": "gpt", "value": "(6,7)"} and len(llava[1]["image"]) == 2
    assert llava[0]["conversations"][1]["value"] == "A"  # the letter for multiple choice


def test_jsonl_export_has_every_field_split_and_prompt(tmp_path):
    write_dataset(tmp_path)
    path = export_dataset(tmp_path, "jsonl", tmp_path)["train"]
    rec = json.loads(path.read_text().splitlines()[0])
    assert set(rec) >= set(make_qa("s", 0, (0,)).__dataclass_fields__) | {"frames", "views"}
    assert rec["split"] == "train" and rec["prompt"].startswith("These are frames of a video.\n")
    assert option_strings(open_dataset(tmp_path)[0].qa)[1] == "B. 1"


def test_spatialmosaic_train_export_is_what_their_loader_reads(tmp_path):
    """Their LLaVA-Video loader (llava/train/train.py of the SpatialMosaic release) takes a
    record without "image"/"video" keys and with "frames" down its frames branch, opens
    ``<frame_folder>/<scene_name>/images/<token>.jpg`` for each token, and expects one image
    token in the first (human) turn for the whole clip."""
    write_dataset(tmp_path, n_scenes=2, splits=("train", "bench"))
    out = tmp_path / "exports"
    written = export_dataset(tmp_path, "spatialmosaic-train", out)
    frame_folder = out / FRAMES_DIR
    assert set(written) == {"train", "bench"}
    for split, path in written.items():
        records = json.loads(path.read_text())
        assert records
        for rec in records:
            assert rec["frames"]
            assert rec["split"] == split and "image" not in rec and "video" not in rec
            assert {"id", "scene_name", "data_source", "question_type"} <= set(rec)
            assert rec["data_source"] == "scannet"
            for token in rec["frames"]:
                frame = frame_folder / rec["scene_name"] / "images" / (str(token) + ".jpg")
                want = tmp_path / f"images/{rec['scene_name']}/{token}.jpg"
                assert frame.read_bytes() == want.read_bytes()
            human, gpt = rec["conversations"]
            assert human["from"] == "human" and gpt["from"] == "gpt"
            assert human["value"].startswith("<image>\n") and human["value"].count("<image>") == 1


def _storage_cell(col) -> str:
    """The dtype / shape cell docs/data_format.md gives a column of this kind."""
    dims = "".join(f" {d}," for d in col.shape)[:-1]
    if col.kind == "str":
        return "UTF-8 vlen string (N,)"
    if col.kind == "text":
        return "`uint8` blob + `int64` offsets (N+1)"
    if col.kind == "ragged":
        return f"`{col.dtype}` values (M,{dims}) + `int64` offsets (N+1)"
    return f"`{col.dtype}` (N,{dims})"


def test_docs_tables_are_the_schema():
    """Each table of docs/data_format.md lists the declared columns in order, with their
    storage, dtype, shape and meaning (a new column needs its row)."""
    from pathlib import Path

    from mosaic.io.schema import SCHEMA

    doc = (Path(__file__).resolve().parents[1] / "docs" / "data_format.md").read_text()
    for table, spec in SCHEMA.items():
        section = doc.split(f"### `{table}/`\n", 1)[1].split("\n#", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("| `")]
        want = [
            f"| `{c.name}`{' (optional)' if c.optional else ''} | {c.kind} | "
            f"{_storage_cell(c)} | {c.doc.replace('|', chr(92) + '|')} |"
            for c in spec.columns
        ]
        assert rows == want, table


def test_package_open_dataset_takes_a_split(tmp_path):
    import mosaic

    write_dataset(tmp_path, n_scenes=1)
    with mosaic.open_dataset(tmp_path, split="train") as ds:  # as docs/data_format.md shows
        assert len(ds) == 3


def test_json_array_exports_stream_the_bytes_json_dump_writes():
    """The llava / spatialmosaic exports are streamed record by record (flat memory on large
    datasets); the file must equal what json.dump(list, indent=1) writes."""
    import io

    from mosaic.io.exports import _write_json_array

    cases = ([], [{"a": 1, "b": [1, 2, {"c": "x\ny"}], "d": {}, "e": []}],
             [{"q": "é", "z": {"y": [1.5]}}, {"b": None}])
    for records in cases:
        want, got = io.StringIO(), io.StringIO()
        json.dump(records, want, indent=1)
        _write_json_array(got, iter(records))
        assert got.getvalue() == want.getvalue()


# The schema drives writer and reader: one declaration per stored field (mosaic/io/schema.py).


@dataclasses.dataclass(frozen=True)
class RatedQA(QAItem):
    """A QAItem with one more attribute, as a task family adding a field would have."""

    difficulty: float = 0.0


def _rated_schema():
    from mosaic.io.columns import Table, number
    from mosaic.io.schema import SCHEMA

    qa = SCHEMA["qa"]
    rated = number("difficulty", "float64", "how hard the item is (0-1)")
    return Table("qa", (*qa.columns, rated), record=RatedQA, joined=qa.joined)


def _scene_record(sid: str, qa: list) -> SceneRecord:
    return SceneRecord(
        scene=make_scene(sid), n_sampled=3, rejected=[], views=[make_view(0), make_view(20)],
        pose_errors={0: 0.01}, image_paths={0: f"images/{sid}/0.jpg", 20: f"images/{sid}/20.jpg"},
        qa=qa,
    )


def test_a_field_declared_once_is_written_validated_and_read_back(tmp_path, monkeypatch):
    """A new record attribute plus its one column: the writer stores it, validation checks
    it and the reader rebuilds it, with no other change."""
    from mosaic.io.schema import SCHEMA

    monkeypatch.setitem(SCHEMA, "qa", _rated_schema())
    sid = "scene0000_00"
    items = [RatedQA(**dataclasses.asdict(make_qa(sid, k, (20, 0))), difficulty=k / 4)
             for k in range(3)]
    writer = ShardWriter(tmp_path / "train-00000-of-00001.h5", "train", "{}", "abc", "0.1.0")
    writer.add_scene(_scene_record(sid, items))
    write_index(tmp_path, [writer.close()], {"source": "scannet", "config_hash": "abc"})
    with h5py.File(tmp_path / "train-00000-of-00001.h5") as f:
        stored = f["qa/difficulty"]
        assert stored.dtype == np.float64 and stored.compression == "gzip" and stored.shuffle
        assert stored[()].tolist() == [0.0, 0.25, 0.5]
    assert validate_dataset(tmp_path, check_images=False).ok
    with open_dataset(tmp_path) as ds:
        assert [ds.qa(i) for i in range(len(ds))] == items


def test_a_record_field_without_its_column_fails_at_declaration():
    from mosaic.io.columns import Table
    from mosaic.io.schema import SCHEMA

    qa = SCHEMA["qa"]
    with pytest.raises(ValueError, match=r"RatedQA: fields without a column \['difficulty'\]"):
        Table("qa", qa.columns, record=RatedQA, joined=qa.joined)
    with pytest.raises(ValueError, match=r"columns for no field \['difficulty'\]"):
        Table("qa", _rated_schema().columns, record=QAItem, joined=qa.joined)
    with pytest.raises(ValueError, match=r"fields without a column \['scene_id'\]"):
        Table("qa", qa.columns, record=QAItem)


def test_a_scene_that_fails_to_encode_leaves_no_rows(tmp_path):
    writer = ShardWriter(tmp_path / "train-00000-of-00001.h5", "train", "{}", "abc", "0.1.0")
    writer.add_scene(_scene_record("scene0000_00", [make_qa("scene0000_00", 0, (0, 20))]))
    before = writer.counts()
    # the last question of the scene fails in the last table: every table has rows by then
    bad = [make_qa("scene0001_00", 0, (0,)),
           dataclasses.replace(make_qa("scene0001_00", 1, (20,)), seed=None)]
    with pytest.raises(TypeError):
        writer.add_scene(_scene_record("scene0001_00", bad))
    assert writer.counts() == before
    good = [make_qa("scene0002_00", 2, (20, 0))]
    writer.add_scene(_scene_record("scene0002_00", good))
    write_index(tmp_path, [writer.close()], {"source": "scannet", "config_hash": "abc"})
    with open_dataset(tmp_path) as ds:
        assert [d.qa.id for d in ds] == [make_qa("scene0000_00", 0, ()).id, good[0].id]
        assert ds[1].views[0].frame_id == 20 and ds[1].visibility[0][1].visible_px == 120


def test_every_objects_column_decodes_to_what_it_was_written_from(tmp_path):
    """objects/ is not read back as a record; its declared decoders still invert the
    encoders on a real shard (-1 -> None ids, 0/1 -> bool, box arrays)."""
    from mosaic.io.schema import SCHEMA

    write_dataset(tmp_path, n_scenes=1)
    objects = make_scene("scene0000_00").objects
    with h5py.File(tmp_path / "train-00000-of-00001.h5") as f:
        for col in SCHEMA["objects"].columns:
            if col.get is None:  # a link: the writer's row number
                continue
            stored = f[f"objects/{col.name}"]
            values = stored.asstr()[()] if col.kind == "str" else stored[()]
            for obj, value in zip(objects, values, strict=True):
                got, want = col.decode(value), col.get(obj)
                if isinstance(want, np.ndarray):
                    assert np.array_equal(got, want), col.name
                else:
                    assert got == want and type(got) is type(want), col.name
