"""Colour-only ScanNet copies, as users have them: the official Python and C++ exporters run
without depth, and mmdetection3d's posed_images. They load, label and generate questions; the
pose check is skipped for every frame and that is recorded per frame and in the run summary."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner
from pool_parity import assert_pool_labels_match
from release_fixtures import FAST, SPEC

from mosaic.cli import main
from mosaic.io.reader import open_dataset
from mosaic.sources import list_scenes, load_scene
from mosaic.synthetic.world import write_synthetic_dataset
from mosaic.visibility import check_poses
from mosaic.visibility.pose_check import NO_DEPTH

# writer quirk -> the reader's frames_source for it
LAYOUTS = {
    "export_python_color": "export_python",
    "export_cxx_color": "export_cxx",
    "posed_images": "posed_images",
}


@pytest.fixture(scope="module")
def releases(tmp_path_factory) -> dict[str, Path]:
    """One two-scene release per layout (no .sens) plus the same rooms with .sens."""
    out = {}
    for quirk in ("sens", *LAYOUTS):
        root = tmp_path_factory.mktemp(quirk)
        quirks = frozenset() if quirk == "sens" else frozenset({"no_sens", quirk})
        write_synthetic_dataset(root, n_scenes=2, seed=5,
                                spec=dataclasses.replace(SPEC, quirks=quirks), quirks=False)
        out[quirk] = root
    return out


def _generate(root: Path, out: Path):
    args = ["generate", "--root", str(root), "--out", str(out), "--no-progress", *FAST]
    return CliRunner().invoke(main, args, catch_exceptions=False)


def _questions(out: Path) -> list[tuple]:
    return sorted((q.scene_id, q.question_type, q.frame_ids, q.question, q.options, q.answer)
                  for q in open_dataset(out).iter_qa())


@pytest.fixture(scope="module")
def with_sens(releases, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "sens"
    res = _generate(releases["sens"], out)
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.parametrize("quirk", list(LAYOUTS))
def test_colour_only_layout_loads_without_pose_check(releases, quirk):
    root = releases[quirk]
    entries, _ = list_scenes(root)
    assert all(e.complete for e in entries if e.split != "test"), entries
    ref = load_scene(releases["sens"], "scene0000_00")
    scene = load_scene(root, "scene0000_00")
    assert scene.meta["frames_source"] == LAYOUTS[quirk]
    assert [f.frame_id for f in scene.frames] == [f.frame_id for f in ref.frames]
    assert scene.read_color(3) == ref.read_color(3)
    assert not any(scene.store.has_depth(f.frame_id) for f in scene.frames)
    assert any("no depth image" in w for w in scene.warnings)
    checks = check_poses(scene, [0, 7, 12])
    assert [(c.reason, c.rejected, c.checked) for c in checks] == [(NO_DEPTH, False, False)] * 3


@pytest.mark.parametrize("quirk", list(LAYOUTS))
def test_colour_only_layout_generates_the_same_questions(releases, with_sens, quirk, tmp_path):
    out = tmp_path / "ds"
    res = _generate(releases[quirk], out)
    assert res.exit_code == 0, res.output
    assert CliRunner().invoke(main, ["validate", str(out)]).exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_sampled"] > 0 and summary["frames_rejected"] == {}
    assert summary["frames_unchecked"] == {NO_DEPTH: summary["frames_sampled"]}
    assert f"kept, {NO_DEPTH}: {summary['frames_sampled']}" in res.output
    ref = json.loads((with_sens / "summary.json").read_text())
    assert ref["frames_unchecked"] == {} and ref["frames_sampled"] == summary["frames_sampled"]
    # the synthetic poses are right, so the pose check rejects nothing with .sens either
    got = _questions(out)
    assert got and got == _questions(with_sens)
    # recorded per frame in the scene's info
    n_unchecked = 0
    for shard in out.glob("*.h5"):
        with h5py.File(shard, "r", locking=False) as f:
            blob, offsets = f["scenes/info"][()], f["scenes/info_offsets"][()]
        for k in range(len(offsets) - 1):
            info = json.loads(bytes(blob[offsets[k]:offsets[k + 1]]).decode())
            assert {r["reason"] for r in info["unchecked_frames"]} == {NO_DEPTH}
            n_unchecked += len(info["unchecked_frames"])
    assert n_unchecked == summary["frames_sampled"]


def test_every_scannet_layout_labels_the_same_on_a_pool_of_two(releases):
    """.sens, the two colour-only exports and posed_images, read by a pool's worker."""
    assert_pool_labels_match([load_scene(root, "scene0000_00") for root in releases.values()])
