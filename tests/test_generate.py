"""End-to-end generation on tiny synthetic ScanNet releases: determinism across workers and
chunking, resumption after SIGKILL, per-scene failures, validation and the CLI."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from release_fixtures import FAST, SPEC, jsonl_lines

from mosaic.cli import main
from mosaic.io.reader import open_dataset
from mosaic.prompts import build_prompt
from mosaic.sources.sens import SensReader
from mosaic.synthetic.world import write_synthetic_dataset


def _generate(root: Path, out: Path, *extra: str) -> object:
    args = ["generate", "--root", str(root), "--out", str(out), "--no-progress", *FAST, *extra]
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.fixture
def ref_dir(reference) -> Path:
    """The session's reference dataset (``conftest.reference``; read only: copy it to change
    it)."""
    return reference[0]


@pytest.fixture
def ref_lines(reference) -> list[str]:
    """Its exported JSON lines, sorted (``release_fixtures.jsonl_lines``)."""
    return reference[1]


def test_reference_run_is_valid_and_complete(ref_dir):
    res = CliRunner().invoke(main, ["validate", str(ref_dir)])
    assert res.exit_code == 0, res.output
    index = json.loads((ref_dir / "index.json").read_text())
    names = sorted(s["name"] for s in index["shards"])
    assert names == ["bench-00000-of-00001.h5"] + [f"train-{i:05d}-of-00003.h5" for i in range(3)]
    failures = json.loads((ref_dir / "failures.json").read_text())
    assert failures["failed"] == [] and failures["skipped"][0]["scene"] == "scene0707_00"
    ds = open_dataset(ref_dir)
    assert len(ds) == index["totals"]["qa"] > 0
    item = ds[0]
    for path, view in zip(item.image_paths, item.views, strict=True):
        assert path.read_bytes()[:2] == b"\xff\xd8"  # JPEG bytes as stored in the .sens
        assert view.K.shape == (3, 3) and np.isfinite(view.cam_to_world).all()
    assert set(item.visibility[0]) <= set(item.qa.targets)
    with h5py.File(ref_dir / names[0], "r", locking=False) as f:
        assert json.loads(f.attrs["config"])["viewsets"]["frame_step"] == 3
        assert len(f.attrs["config_hash"]) == 16


def test_workers_and_chunking_do_not_change_content(release, tmp_path, ref_lines):
    out = tmp_path / "w2"
    res = _generate(release, out, "--workers", "2", "--chunk-size", "2")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.glob("*.h5")) == [
        "bench-00000-of-00001.h5", "train-00000-of-00002.h5", "train-00001-of-00002.h5",
    ]
    assert jsonl_lines(out) == ref_lines


def test_rerun_skips_finished_chunks_and_refuses_other_plans(release, ref_dir, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(ref_dir, out)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.h5")}
    res = _generate(release, out, "--workers", "1", "--chunk-size", "1")
    assert res.exit_code == 0 and "4 resumed" in res.output
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.h5")} == before
    res = _generate(release, out, "--chunk-size", "1", "--seed", "5")
    assert res.exit_code == 1 and "different plan" in res.output


def test_sigkill_then_resume_matches_uninterrupted_run(release, tmp_path, ref_lines):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "mosaic", "generate", "--root", str(release), "--out",
           str(out), "--no-progress", "--workers", "1", "--chunk-size", "1", *FAST]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if list((out / "_chunks").glob("*.json")):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (out / "index.json").exists()
    for shard in out.glob("*.h5"):  # whatever has a final name is a complete shard
        with h5py.File(shard, "r", locking=False) as f:
            assert f["qa"].attrs["n_rows"] == len(f["qa/id"])
    res = _generate(release, out, "--workers", "1", "--chunk-size", "1")
    assert res.exit_code == 0, res.output
    assert "resumed" in res.output and not list(out.glob("*.tmp"))
    assert CliRunner().invoke(main, ["validate", str(out)]).exit_code == 0
    assert jsonl_lines(out) == ref_lines


def test_a_redone_chunk_that_crashes_is_not_indexed_from_its_stale_marker(release, ref_dir,
                                                                          tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(ref_dir, out)
    lost = sorted(out.glob("*.h5"))[0]
    lost.unlink()
    lost.mkdir()  # the rerun of this chunk cannot rename its shard into place: the task crashes
    res = _generate(release, out, "--workers", "1", "--chunk-size", "1")
    assert res.exit_code == 3 and "CHUNK FAILED" in res.output, res.output
    index = json.loads((out / "index.json").read_text())
    assert lost.name not in [e["name"] for e in index["shards"]]
    assert index["missing_shards"] == [lost.name]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenes_done"] == 3 and summary["scenes_failed"] == 1
    res = CliRunner().invoke(main, ["status", str(out)])  # failed with the cause, not pending
    assert res.exit_code == 3, res.output
    assert f"failed   {lost.name}" in res.output and "IsADirectoryError" in res.output


def _break_scenes(root: Path) -> dict[str, str]:
    """Truncated PLY, missing aggregation, every pose -inf: one scene each."""
    ply = root / "scans/scene0001_00/scene0001_00_vh_clean_2.ply"
    ply.write_bytes(ply.read_bytes()[: ply.stat().st_size // 2])
    (root / "scans/scene0002_00/scene0002_00.aggregation.json").unlink()
    sens = root / "scans/scene0003_00/scene0003_00.sens"
    reader = SensReader(sens, "scene0003_00")
    offsets = [reader.frame_offset(i) for i in range(reader.n_frames)]
    reader.close()
    with open(sens, "r+b") as fh:
        for off in offsets:
            fh.seek(off)
            fh.write(np.full(16, -np.inf, np.float32).tobytes())
    return {
        "scene0001_00": "scene0001_00_vh_clean_2.ply",
        "scene0002_00": "scene0002_00.aggregation.json",
        "scene0003_00": "scene0003_00.sens",
    }


def test_broken_scenes_are_reported_and_others_finish(release, tmp_path, ref_lines):
    root = tmp_path / "release"
    shutil.copytree(release, root)
    broken = _break_scenes(root)
    out = tmp_path / "ds"
    res = _generate(root, out, "--workers", "1", "--chunk-size", "2")
    assert res.exit_code == 3, res.output
    failed = json.loads((out / "failures.json").read_text())["failed"]
    assert {f["scene"] for f in failed} == set(broken)
    for f in failed:
        assert f["file"] and Path(f["file"]).name == broken[f["scene"]], f
        assert f["cause"] and f["type"].endswith("Error")
        assert f["scene"] in res.output
    ds = open_dataset(out)
    assert {q.scene_id for q in ds.iter_qa()} == {"scene0000_00"}
    good = [line for line in ref_lines if json.loads(line)["scene_id"] == "scene0000_00"]
    assert jsonl_lines(out) == good
    assert CliRunner().invoke(main, ["validate", str(out)]).exit_code == 0


def test_validate_names_corrupt_shard(ref_dir, tmp_path):
    out = tmp_path / "corrupt"
    shutil.copytree(ref_dir, out)
    shard = out / "train-00001-of-00003.h5"
    data = bytearray(shard.read_bytes())
    data[len(data) // 3] ^= 0x01
    shard.write_bytes(bytes(data))
    res = CliRunner().invoke(main, ["validate", str(out)])
    assert res.exit_code != 0
    assert "train-00001-of-00003.h5" in res.output
    assert "train-00000-of-00003.h5" not in res.output


def test_embedded_images_give_same_items(release, tmp_path, ref_lines):
    out = tmp_path / "emb"
    res = _generate(release, out, "--scenes", "scene0000_00,scene0002_00", "--embed-images")
    assert res.exit_code == 0, res.output
    assert not (out / "images").exists()
    ds = open_dataset(out)
    item = ds[0]
    assert ds.image_bytes(item, 0)[:2] == b"\xff\xd8"
    ref = {json.loads(line)["id"]: line for line in ref_lines}
    lines = jsonl_lines(out)
    assert lines and all(ref[json.loads(line)["id"]] == line for line in lines)


def test_stats_export_evaluate_cli(ref_dir, tmp_path):
    runner = CliRunner()
    plots = tmp_path / "plots"
    res = runner.invoke(main, ["stats", str(ref_dir), "--plots", str(plots)])
    assert res.exit_code == 0, res.output
    for name in ("qa_per_type.png", "answer_balance.png", "distributions.png", "categories.png"):
        assert (plots / name).read_bytes()[:4] == b"\x89PNG"
    stats = json.loads((plots / "stats.json").read_text())
    assert sum(stats["qa_per_type"].values()) == len(open_dataset(ref_dir))

    exports = tmp_path / "exports"
    res = runner.invoke(main, ["export", str(ref_dir), "--format", "spatialmosaic",
                               "--out-dir", str(exports)])
    assert res.exit_code == 0, res.output
    assert "split bench" in res.output and "split train" in res.output
    records = json.loads((exports / "spatialmosaic_bench.json").read_text())
    assert {r["question_type"] for r in records} <= set(stats["qa_per_type"])
    assert {r["split"] for r in records} == {"bench"}
    preds = tmp_path / "preds.jsonl"
    with preds.open("w") as fh:
        for r in records:
            text = r["mc_answer"] + "." if r["mc_answer"] else r["ground_truth"]
            fh.write(json.dumps({"id": r["id"], "prediction": text}) + "\n")
    scores = tmp_path / "scores.json"
    res = runner.invoke(main, ["evaluate", str(ref_dir), "--pred", str(preds),
                               "--split", "bench", "--json", str(scores)])
    assert res.exit_code == 0, res.output
    report = json.loads(scores.read_text())
    assert report["overall"] == pytest.approx(100.0) and report["n_missing"] == 0
    assert report["n_items"] == len(records)

    # the same predictions against every split: the train items have none and score 0
    res = runner.invoke(main, ["evaluate", str(ref_dir), "--pred", str(preds),
                               "--json", str(scores)])
    assert res.exit_code == 0, res.output
    report = json.loads(scores.read_text())
    assert report["n_missing"] == len(open_dataset(ref_dir, split="train"))
    assert report["overall"] < 100.0 and "score 0" in res.output
    res = runner.invoke(main, ["evaluate", str(ref_dir), "--pred", str(preds),
                               "--allow-missing", "--json", str(scores)])
    assert res.exit_code == 0, res.output
    assert json.loads(scores.read_text())["overall"] == pytest.approx(100.0)
    assert "SUBSET" in res.output and f"of {len(open_dataset(ref_dir))} items" in res.output

    # ids of another split or of no dataset at all are an error, not a silent skip
    train_sm = json.loads((exports / "spatialmosaic_train.json").read_text())
    with preds.open("a") as fh:
        fh.write(json.dumps({"id": train_sm[0]["id"], "prediction": "A"}) + "\n")
    res = runner.invoke(main, ["evaluate", str(ref_dir), "--pred", str(preds),
                               "--split", "bench"])
    assert res.exit_code == 1 and train_sm[0]["id"] in res.output


def test_dataset_scannet_without_root_explains_how_to_get_it(tmp_path):
    res = CliRunner().invoke(main, ["dataset", "--scenes", "scannet", "--root", "",
                                    "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert "download-scannet.py" in res.output and "ROOT" in res.output


def test_generate_unknown_root_is_a_clear_error(tmp_path):
    res = _generate(tmp_path / "nope", tmp_path / "out")
    assert res.exit_code not in (0, 3)
    assert "error" in res.output.lower()


def test_dataset_command_reuses_a_complete_cache(tmp_path):
    """`mosaic dataset --scenes synthetic` reuses a cache whose completion stamp matches."""
    import mosaic.cli.dataset as cli_dataset

    cache = tmp_path / "cache"
    write_synthetic_dataset(cache, n_scenes=1, seed=0, spec=SPEC)
    stamp = {"n_scenes": 1, "seed": 0, "n_frames": cli_dataset.SYNTHETIC_FRAMES}
    (cache / ".mosaic-synthetic.json").write_text(json.dumps(stamp))
    mtime = (cache / "scans/scene0000_00/scene0000_00.sens").stat().st_mtime_ns
    res = CliRunner().invoke(main, ["dataset", "--scenes", "synthetic", "--out",
                                    str(tmp_path / "ds"), "--cache", str(cache),
                                    "--n-scenes", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "validate: ok" in res.output
    assert (cache / "scans/scene0000_00/scene0000_00.sens").stat().st_mtime_ns == mtime


def test_dataset_command_ignores_scenes_left_by_a_larger_cache(tmp_path):
    """A cache rewritten with fewer scenes keeps the old scene folders; they are not used."""
    import mosaic.cli.dataset as cli_dataset

    cache = tmp_path / "cache"
    write_synthetic_dataset(cache, n_scenes=3, seed=0, spec=SPEC)
    write_synthetic_dataset(cache, n_scenes=1, seed=0, spec=SPEC)  # what a smaller run leaves
    stamp = {"n_scenes": 1, "seed": 0, "n_frames": cli_dataset.SYNTHETIC_FRAMES}
    (cache / ".mosaic-synthetic.json").write_text(json.dumps(stamp))
    out = tmp_path / "ds"
    res = CliRunner().invoke(main, ["dataset", "--scenes", "synthetic", "--out", str(out),
                                    "--cache", str(cache), "--n-scenes", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    with open_dataset(out) as ds:
        assert {q.scene_id for q in ds.iter_qa()} == {"scene0000_00"}


def test_torch_dataset_with_dataloader_workers(ref_dir):
    torch = pytest.importorskip("torch")
    from mosaic.io.torch_dataset import MosaicTorchDataset, collate_items

    ds = MosaicTorchDataset(ref_dir, decode_images=True)
    ds[0]  # open handles in the parent first: workers must not reuse them
    subset = torch.utils.data.Subset(ds, list(range(min(8, len(ds)))))
    loader = torch.utils.data.DataLoader(subset, batch_size=4, num_workers=2,
                                         collate_fn=collate_items)
    batches = list(loader)
    ids = [i for b in batches for i in b["id"]]
    assert ids == [open_dataset(ref_dir).qa(i).id for i in range(len(subset))]
    first = batches[0]
    k = len(first["frame_ids"][0])
    assert first["K"][0].shape == (k, 3, 3) and first["cam_to_world"][0].dtype == torch.float64
    img = first["images"][0][0]
    assert img.dtype == torch.uint8 and img.shape == (96, 128, 3)
    assert first["prompt"][0] == build_prompt(open_dataset(ref_dir).qa(0))
    assert first["prompt"][0].startswith("These are frames of a video.\n" + first["question"][0])


def test_split_file_selects_scenes_and_skips_test_split(release, tmp_path, ref_lines):
    ids = tmp_path / "ids.txt"
    ids.write_text("# my subset\nscene0707_00\nscene0003_00\n")
    out = tmp_path / "subset"
    res = _generate(release, out, "--split", str(ids))
    assert res.exit_code == 0, res.output
    assert [p.name for p in out.glob("*.h5")] == ["bench-00000-of-00001.h5"]
    skipped = json.loads((out / "failures.json").read_text())["skipped"]
    assert [s["scene"] for s in skipped] == ["scene0707_00"]
    assert "annotations" in skipped[0]["reason"]
    want = [line for line in ref_lines if json.loads(line)["scene_id"] == "scene0003_00"]
    assert want and jsonl_lines(out) == want


def test_unknown_executor_lists_valid_names(release, tmp_path):
    res = _generate(release, tmp_path / "x", "--executor", "nope")
    assert res.exit_code == 2 and "local" in res.output  # a usage error
    from mosaic.errors import UnknownNameError
    from mosaic.executors import get_executor

    with pytest.raises(UnknownNameError, match="ray"):
        get_executor("nope")


def test_one_scene_on_two_workers_labels_in_two_processes_with_the_same_output(
        release, tmp_path, monkeypatch, ref_lines):
    """With fewer chunks than workers the spare worker checks and labels the scene's frames
    and generates question types beside the first (mosaic.scene_pool); the items are those of
    one worker."""
    from mosaic.scene_pool import ScenePool

    calls: list[tuple[str, int]] = []
    real = ScenePool.run

    def counted(self, job, items, done=None):
        calls.append((type(job).__name__, self.workers))
        return real(self, job, items, done)

    monkeypatch.setattr(ScenePool, "run", counted)
    scene = "scene0000_00"
    one, two = tmp_path / "one", tmp_path / "two"
    assert _generate(release, one, "--workers", "1", "--scenes", scene).exit_code == 0
    assert {w for _, w in calls} == {1}
    calls.clear()
    assert _generate(release, two, "--workers", "2", "--scenes", scene).exit_code == 0
    # one chunk, two workers: the chunk runs here, its scene on 2 processes
    assert calls == [("CheckAndLabel", 2), ("QuestionTypes", 2)]
    assert jsonl_lines(two) == jsonl_lines(one)
    assert set(jsonl_lines(one)) <= set(ref_lines)
