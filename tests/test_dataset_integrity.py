"""Readers refuse what is not whole: a killed worker's missing shard, an edited shard, an
edited or malformed index; ``--allow-incomplete`` reads the rest and says what it left out;
``validate`` decodes the images a dataset ships."""

from __future__ import annotations

import json
import os
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
from process_helpers import pool_workers
from release_fixtures import generate_args

from mosaic.cli import main
from mosaic.errors import ShardError
from mosaic.io.reader import open_dataset

READERS = (["export", "--format", "jsonl"], ["stats"], ["evaluate"], ["inspect", "qa"])


def _generate(root: Path, out: Path, *extra: str):
    return CliRunner().invoke(main, generate_args(root, out, *extra))


@pytest.fixture()
def dataset(reference) -> Path:
    return reference[0]


@pytest.fixture()
def copy(dataset, tmp_path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(dataset, out)
    return out


def _exported(tmp: Path) -> list[str]:
    """The lines of every split file an export into ``tmp`` wrote."""
    return [ln for f in sorted((tmp / "x").glob("*.jsonl")) for ln in f.read_text().splitlines()]


def _read(out: Path, command: list[str], tmp: Path, *extra: str):
    """Run one reading command the way a user would; returns the click result."""
    args = [*command, str(out)]
    if command[0] == "export":
        args += ["--out-dir", str(tmp / "x")]
    elif command[0] == "stats":
        args += ["--plots", str(tmp / "plots")]
    elif command[0] == "evaluate":
        preds = tmp / "preds.jsonl"
        preds.write_text('{"id": "none", "prediction": "A"}\n')
        args += ["--pred", str(preds)]
    else:
        args += ["--type", "obj_count_occ", "--n", "1", "--out", str(tmp / "cards")]
    return CliRunner().invoke(main, [*args, *extra])


def _assert_refused(out: Path, tmp: Path, *needles: str) -> None:
    for command in READERS:
        res = _read(out, command, tmp)
        assert res.exit_code == 1, (command, res.output)
        assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
        assert "Traceback" not in res.output
        for needle in needles:
            assert needle in res.output, (command, res.output)


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux /proc")
def test_a_killed_worker_leaves_a_dataset_readers_refuse(release, dataset, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "mosaic", *generate_args(release, out, "--workers", "2")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        workers = pool_workers(proc.pid)
        if workers and list((out / "_chunks").glob("*.json")):
            killed = workers[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.01)
    output = proc.communicate(timeout=120)[0]
    assert killed is not None, "the run finished before a worker could be killed"
    assert proc.returncode == 3 and "CHUNK FAILED" in output, output
    index = json.loads((out / "index.json").read_text())
    assert index["missing_shards"] and index["shards"]
    missing = index["missing_shards"][0]
    _assert_refused(out, tmp_path, missing, "--allow-incomplete", "mosaic generate")
    with pytest.raises(ShardError, match="incomplete"):
        open_dataset(out)

    res = _read(out, ["export", "--format", "jsonl"], tmp_path, "--allow-incomplete")
    assert res.exit_code == 0, res.output
    assert f"left out {len(index['missing_shards'])}" in res.output and missing in res.output
    lines = _exported(tmp_path)
    assert len(lines) == index["totals"]["qa"] > 0
    with open_dataset(out, allow_incomplete=True) as ds:
        assert not ds.complete and [n for n, _ in ds.left_out] == index["missing_shards"]

    res = _generate(release, out, "--workers", "1")  # the rerun finishes the dataset
    assert res.exit_code == 0, res.output
    res = _read(out, ["export", "--format", "jsonl"], tmp_path)
    assert res.exit_code == 0 and "left out" not in res.output, res.output
    res_ref = _read(dataset, ["export", "--format", "jsonl"], tmp_path / "ref")
    assert res_ref.exit_code == 0
    assert sorted(_exported(tmp_path)) == sorted(_exported(tmp_path / "ref"))


def test_changed_answers_inside_a_shard_are_refused(copy, tmp_path):
    shard = sorted(copy.glob("train-*.h5"))[0]
    with h5py.File(shard, "r+") as f:  # what a hand edit or a stray writer does
        answers = f["qa/answer"].asstr()[()]
        f["qa/answer"][...] = np.array(["B" if a == "A" else a for a in answers], dtype=object)
    _assert_refused(copy, tmp_path, shard.name, "sha256", "_chunks/")
    res = CliRunner().invoke(main, ["validate", str(copy)])
    assert res.exit_code == 1 and shard.name in res.output
    res = _read(copy, ["export", "--format", "jsonl"], tmp_path, "--allow-incomplete")
    assert res.exit_code == 0 and shard.name in res.output
    exported = {json.loads(line)["scene_id"] for line in _exported(tmp_path)}
    with h5py.File(shard, "r") as f:
        assert f["scenes/scene_id"].asstr()[0] not in exported


def test_an_index_entry_removed_is_refused_by_readers_and_validate(copy, tmp_path):
    index = json.loads((copy / "index.json").read_text())
    gone = index["shards"].pop(1)
    for table, n in gone["counts"].items():
        index["totals"][table] -= n
    (copy / "index.json").write_text(json.dumps(index))
    _assert_refused(copy, tmp_path, gone["name"], "not listed in index.json")
    res = CliRunner().invoke(main, ["validate", str(copy)])
    assert res.exit_code == 1 and gone["name"] in res.output, res.output


@pytest.mark.parametrize("fix_totals", [False, True])
def test_a_lowered_count_is_refused(copy, tmp_path, fix_totals):
    index = json.loads((copy / "index.json").read_text())
    entry = index["shards"][0]
    entry["counts"]["qa"] -= 5
    if fix_totals:
        index["totals"]["qa"] -= 5
    (copy / "index.json").write_text(json.dumps(index))
    needle = "row counts" if fix_totals else "totals"
    _assert_refused(copy, tmp_path, needle)
    res = CliRunner().invoke(main, ["validate", str(copy)])
    assert res.exit_code == 1, res.output


@pytest.mark.parametrize("text", [
    '{"shards": "all"}', '{"shards": [{"name": "x.h5"}]}', "[1, 2]", '{"shards": [', "\xff\xfe",
])
def test_a_malformed_index_is_one_clear_error(copy, tmp_path, text):
    (copy / "index.json").write_bytes(text.encode("latin-1"))
    _assert_refused(copy, tmp_path, "index.json")
    res = CliRunner().invoke(main, ["validate", str(copy)])
    assert res.exit_code == 1 and "index.json" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception


def test_a_shard_damaged_after_opening_names_the_shard(copy):
    ds = open_dataset(copy)
    name = ds.shard_names[0]
    with h5py.File(copy / name, "r+") as f:  # invalid UTF-8 inside the question text
        blob = f["qa/question"][()]
        blob[:4] = 0xFF
        f["qa/question"][...] = blob
    ds.close()
    with pytest.raises(ShardError, match=name):
        ds.qa(0)


def test_validate_decodes_the_shipped_images(copy):
    image = sorted((copy / "images").rglob("*.jpg"))[0]
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])  # a truncated copy
    res = CliRunner().invoke(main, ["validate", str(copy)])
    assert res.exit_code == 1 and "does not decode" in res.output, res.output
    assert image.relative_to(copy).as_posix() in res.output
    res = CliRunner().invoke(main, ["validate", str(copy), "--no-images"])
    assert res.exit_code == 0, res.output


def test_checksums_are_cached_by_size_and_mtime(copy):
    from mosaic.io import verify

    calls = []
    real = verify.file_sha256

    def counting(path, *a):
        calls.append(Path(path).name)
        return real(path, *a)

    verify.file_sha256 = counting
    try:
        open_dataset(copy).close()
        first = len(calls)
        open_dataset(copy).close()
        assert first == len(list(copy.glob("*.h5"))) and len(calls) == first
        shard = sorted(copy.glob("*.h5"))[0]
        os.utime(shard, ns=(time.time_ns(), time.time_ns()))  # touched: hashed again
        open_dataset(copy).close()
        assert calls[first:] == [shard.name]
    finally:
        verify.file_sha256 = real


def test_other_h5_files_in_the_folder_are_not_taken_for_shards(copy, tmp_path):
    (copy / "labels.h5").write_bytes(b"not a shard")  # e.g. `mosaic visibility --out` output
    res = _read(copy, ["export", "--format", "jsonl"], tmp_path)
    assert res.exit_code == 0, res.output
    assert CliRunner().invoke(main, ["validate", str(copy)]).exit_code == 0
