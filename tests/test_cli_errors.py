"""CLI input errors: bad --frames values and unusable frames give a usage error (exit 2) that
names the problem, never a Python traceback; a scene list that contradicts --split is refused."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mosaic.cli import main
from mosaic.sources import load_scene
from mosaic.synthetic.world import SynthSpec, write_synthetic_dataset

SPEC = SynthSpec(n_frames=12, color_size=(160, 120), depth_size=(80, 60), target_faces=4000)
SCENE = "scene0000_00"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    write_synthetic_dataset(out, n_scenes=2, seed=5, spec=SPEC, workers=1)  # 0001 is val
    return out


@pytest.mark.parametrize("command", [["visibility"], ["inspect", "visibility"]])
@pytest.mark.parametrize("frames", ["abc", "0,x", "0:6:0", "1:2:3:4"])
def test_malformed_frames_are_usage_errors(root, tmp_path, command, frames):
    args = [*command, "--root", str(root), SCENE, "--frames", frames,
            "--set", "visibility.max_side=40"]
    if command[0] == "inspect":
        args += ["--out", str(tmp_path)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert "--frames" in res.output and "Traceback" not in res.output


def test_visibility_names_frames_without_a_usable_pose(root):
    scene = load_scene(root, SCENE)
    assert scene.skipped_frames, "fixture scene should carry a non-finite pose quirk"
    bad = scene.skipped_frames[0].frame_id
    for frames in ("0,999", f"0,{bad}"):
        res = CliRunner().invoke(main, ["visibility", "--root", str(root), SCENE,
                                        "--frames", frames, "--set", "visibility.max_side=40"])
        assert res.exit_code == 2, res.output
        assert frames.split(",")[1] in res.output and "usable pose" in res.output


def test_visibility_step_must_be_positive(root):
    res = CliRunner().invoke(main, ["visibility", "--root", str(root), SCENE, "--step", "-2",
                                    "--set", "visibility.max_side=40"])
    assert res.exit_code == 2, res.output


@pytest.mark.parametrize("split,scene", [("train", "scene0001_00"), ("train", "scene0707_00"),
                                         ("bench", "scene0000_00")])
def test_scenes_of_another_split_are_refused_not_relabelled(root, tmp_path, split, scene):
    # scene0001_00 is val (-> bench), scene0707_00 test: neither may land in train shards
    out = tmp_path / "ds"
    res = CliRunner().invoke(main, ["generate", "--root", str(root), "--split", split,
                                    "--scenes", scene, "--out", str(out), "--no-progress"])
    assert res.exit_code == 1, res.output
    assert scene in res.output and "outside split" in res.output
    assert not list(out.glob("*.h5"))


def test_unknown_scene_with_split_is_still_attempted_and_reported(root):
    from mosaic.config import SourceConfig
    from mosaic.run import resolve_scenes

    plan = resolve_scenes(SourceConfig(root=str(root)), "train",
                          ["scene0000_00", "scene0999_00"])
    assert plan.splits == {"train": ["scene0000_00", "scene0999_00"]}


def test_inspect_qa_needs_a_positive_card_count(tmp_path):
    # --n 0 used to draw one card anyway (the count was checked after the first append)
    res = CliRunner().invoke(main, ["inspect", "qa", str(tmp_path), "--type", "obj_count_occ",
                                    "--n", "0", "--out", str(tmp_path / "cards")])
    assert res.exit_code == 2 and "--n" in res.output, res.output


def test_visibility_rejects_an_unknown_output_type_before_casting(root, tmp_path):
    res = CliRunner().invoke(main, ["visibility", "--root", str(root), SCENE,
                                    "--set", "visibility.max_side=40",
                                    "--out", str(tmp_path / "labels.txt")])
    assert res.exit_code == 2 and "--out" in res.output, res.output
    assert "views" not in res.output  # nothing was labelled


def test_a_selection_of_only_test_scenes_is_an_error_not_an_empty_dataset(root, tmp_path):
    out = tmp_path / "ds"
    res = CliRunner().invoke(main, ["generate", "--root", str(root), "--split", "test",
                                    "--out", str(out), "--no-progress"])
    assert res.exit_code == 1, res.output
    assert "scene0707_00" in res.output and "test split" in res.output
    assert not (out / "index.json").exists()


@pytest.mark.parametrize("setting,valid", [("qa.types=obj_count_occ,obj_cont", "obj_count_occ_na"),
                                           ("visibility.backend=embre", "embree")])
def test_a_misspelt_name_fails_before_any_scene_is_processed(root, tmp_path, setting, valid):
    out = tmp_path / "ds"
    res = CliRunner().invoke(main, ["generate", "--root", str(root), "--out", str(out),
                                    "--no-progress", "--set", setting])
    assert res.exit_code == 1, res.output
    assert setting.split(",")[-1].split("=")[-1] in res.output and valid in res.output
    assert not out.exists()  # no plan.json pinning the bad config, no failed scenes


def test_dataset_never_writes_synthetic_scenes_into_a_foreign_folder(root, tmp_path):
    # e.g. a real ScanNet root given as --cache: its scene0000_00 must not be overwritten
    sens = root / "scans" / SCENE / f"{SCENE}.sens"
    before = sens.stat().st_mtime_ns
    res = CliRunner().invoke(main, ["dataset", "--scenes", "synthetic", "--cache", str(root),
                                    "--out", str(tmp_path / "ds"), "--n-scenes", "1",
                                    "--no-progress"])
    assert res.exit_code == 1 and "--cache" in res.output, res.output
    assert sens.stat().st_mtime_ns == before
