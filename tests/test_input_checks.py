"""Inputs that parse but make no sense are refused where they are read, with the file named:
a scaled axisAlignment, a binary <scene>.txt, zero intrinsics, non-rigid poses, corrupt JPEGs
in a .sens, settings out of range, another scene's visibility, a scene with nothing usable."""

from __future__ import annotations

import dataclasses
import json
import shutil
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from release_fixtures import FAST, SPEC

from mosaic import generate_qa
from mosaic.cli import main
from mosaic.config import MosaicConfig, load_config
from mosaic.errors import ConfigError, CorruptDataError, SceneDataError
from mosaic.sources import load_scene
from mosaic.sources.sanity import intrinsics_problem, rigid_problem
from mosaic.sources.sens import SensReader
from mosaic.synthetic.scannet_writer import CORRUPT_JPEG_EVERY
from mosaic.synthetic.world import write_synthetic_dataset
from mosaic.visibility import compute_visibility


@pytest.fixture()
def root(release, tmp_path) -> Path:
    copy = tmp_path / "release"
    shutil.copytree(release, copy)
    return copy


def _generate(root: Path, out: Path, *extra: str):
    return CliRunner().invoke(main, ["generate", "--root", str(root), "--out", str(out),
                                     "--no-progress", *FAST, *extra])


def _failures(out: Path) -> dict[str, dict]:
    return {f["scene"]: f for f in json.loads((out / "failures.json").read_text())["failed"]}


def _set_alignment(path: Path, A: np.ndarray) -> None:
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("axisAlignment")]
    lines.append("axisAlignment = " + " ".join(f"{v:.6f}" for v in A.ravel()))
    path.write_text("\n".join(sorted(lines)) + "\n")


def _alignment(path: Path) -> np.ndarray:
    line = next(ln for ln in path.read_text().splitlines() if ln.startswith("axisAlignment"))
    return np.array([float(v) for v in line.split("=", 1)[1].split()]).reshape(4, 4)


def test_a_scaled_axis_alignment_fails_its_scene_naming_the_file(root, tmp_path):
    meta = root / "scans/scene0001_00/scene0001_00.txt"
    A = _alignment(meta)
    A[:3, :3] *= 100  # metres become centimetres: 172 m distances, 15,000 cm sizes
    _set_alignment(meta, A)
    out = tmp_path / "ds"
    res = _generate(root, out)
    assert res.exit_code == 3, res.output
    fail = _failures(out)["scene0001_00"]
    assert fail["type"] == "CorruptDataError" and Path(fail["file"]) == meta
    assert "axisAlignment scales by 100" in fail["cause"]
    assert "FAILED scene0001_00" in res.output and "scales by 100" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenes_done"] == 3  # the others finish


@pytest.mark.parametrize("bad", ["shear", "mirror"])
def test_alignments_that_are_not_rigid_are_refused(root, bad):
    meta = root / "scans/scene0000_00/scene0000_00.txt"
    A = _alignment(meta)
    if bad == "shear":
        A[0, 1] += 0.3
    else:
        A[:3, 0] *= -1
    _set_alignment(meta, A)
    with pytest.raises(CorruptDataError, match="axisAlignment") as info:
        load_scene(root, "scene0000_00")
    assert info.value.path == str(meta)


def test_a_binary_meta_file_is_not_taken_for_identity_alignment(root):
    meta = root / "scans/scene0002_00/scene0002_00.txt"
    meta.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(CorruptDataError, match="not a text file") as info:
        load_scene(root, "scene0002_00")
    assert info.value.path == str(meta)


def _sens_header_matrix_offset(path: Path, k: int) -> int:
    """Byte offset of calibration matrix k (0 colour K, 2 depth K) of a .sens header."""
    with open(path, "rb") as fh:
        _version, name_len = struct.unpack("<IQ", fh.read(12))
    return 12 + name_len + 64 * k


def test_zero_colour_intrinsics_fail_the_scene_at_once(root, tmp_path):
    sens = root / "scans/scene0003_00/scene0003_00.sens"
    with open(sens, "r+b") as fh:
        fh.seek(_sens_header_matrix_offset(sens, 0))
        fh.write(np.zeros(16, "<f4").tobytes())
    out = tmp_path / "ds"
    res = _generate(root, out)
    assert res.exit_code == 3, res.output
    fail = _failures(out)["scene0003_00"]
    assert Path(fail["file"]) == sens and fail["type"] == "CorruptDataError"
    assert "colour intrinsics" in fail["cause"] and "fx=0" in fail["cause"]


def test_non_rigid_poses_skip_their_frames(root, tmp_path):
    sens = root / "scans/scene0000_00/scene0000_00.sens"
    reader = SensReader(sens, "scene0000_00")
    offsets = [reader.frame_offset(i) for i in (3, 4, 5)]
    poses = [reader.pose(i) for i in (3, 4, 5)]
    reader.close()
    with open(sens, "r+b") as fh:
        for off, pose in zip(offsets, poses, strict=True):
            scaled = pose.copy()
            scaled[:3, :3] *= 1.5
            fh.seek(off)
            fh.write(scaled.astype("<f4").tobytes())
    scene = load_scene(root, "scene0000_00")
    skipped = {s.frame_id: s.reason for s in scene.skipped_frames}
    assert {3, 4, 5} <= set(skipped) and "not rigid" in skipped[3]
    res = _generate(root, tmp_path / "ds", "--scenes", "scene0000_00")
    assert res.exit_code == 0 and "pose not rigid" in res.output, res.output


def test_corrupt_jpegs_in_a_sens_are_rejected_frames_with_their_cause(tmp_path):
    root = tmp_path / "release"
    spec = dataclasses.replace(SPEC, quirks=frozenset({"corrupt_jpeg"}))
    write_synthetic_dataset(root, n_scenes=2, seed=3, spec=spec)
    out = tmp_path / "ds"
    res = _generate(root, out)
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_rejected"].get("colour image does not decode", 0) >= 2
    shard = sorted(out.glob("train-*.h5"))[0]
    with h5py.File(shard, "r") as f:
        info = json.loads(f["scenes/info"][()][: f["scenes/info_offsets"][1]].tobytes())
        frame_ids = f["qa/frame_ids"][()]
    rejected = [r for r in info["rejected_frames"] if r["reason"] == "colour image does not decode"]
    assert rejected and all(r["frame_id"] % CORRUPT_JPEG_EVERY == 0 for r in rejected)
    assert "truncated" in rejected[0]["detail"] or "decode" in rejected[0]["detail"]
    assert not set(frame_ids.tolist()) & {r["frame_id"] for r in rejected}
    assert CliRunner().invoke(main, ["validate", str(out)]).exit_code == 0

    # every sampled frame corrupt: the scene is a failure with its cause, not an empty success
    out2 = tmp_path / "ds2"
    res = _generate(root, out2, "--set", f"viewsets.frame_step={CORRUPT_JPEG_EVERY}")
    assert res.exit_code == 3, res.output
    fails = _failures(out2)
    assert "scene0001_00" in fails  # (scene0000_00 has an invalid first pose: other frames)
    assert all("sampled frames were rejected" in f["cause"]
               and "colour image does not decode" in f["cause"] for f in fails.values())


def test_undecodable_frames_are_rejected_alike_by_a_pool_worker(tmp_path):
    """The decode check runs inside the labelling batches: frames a pool worker checks are
    rejected with the same cause as in one process."""
    from pool_parity import assert_pool_labels_match

    root = tmp_path / "release"
    spec = dataclasses.replace(SPEC, n_frames=30, quirks=frozenset({"corrupt_jpeg"}))
    write_synthetic_dataset(root, n_scenes=1, seed=3, spec=spec)
    rejected = assert_pool_labels_match([load_scene(root, "scene0000_00")])
    assert rejected and all(r.frame_id % CORRUPT_JPEG_EVERY == 0 for r in rejected)


@pytest.mark.parametrize("setting, needle", [
    ("visibility.max_side=0", "visibility.max_side=0 must be >= 16"),
    ("viewsets.set_sizes=[1]", "viewsets.set_sizes=[1] must be"),
    ("qa.per_type_per_scene=-1", "qa.per_type_per_scene=-1 must be >= 1"),
    ("visibility.occ_bins=[0.7,0.4,0.1]", "visibility.occ_bins"),
])
def test_settings_out_of_range_are_refused_before_any_work(release, tmp_path, setting, needle):
    out = tmp_path / "ds"
    res = _generate(release, out, "--set", setting)
    assert res.exit_code == 1 and needle in res.output, res.output
    assert not out.exists()
    with pytest.raises(ConfigError, match="out of range"):
        load_config(None, [setting])


def test_another_scenes_visibility_is_refused(release):
    a = load_scene(release, "scene0000_00")
    b = load_scene(release, "scene0001_00")
    frames = [f.frame_id for f in a.frames[:6:3]]
    views = compute_visibility(a, frames, max_side=64)
    with pytest.raises(SceneDataError, match="does not belong to this scene"):
        generate_qa(b, visibility=views, config=MosaicConfig())


def test_sanity_functions_name_the_problem():
    assert rigid_problem(np.eye(4)) is None
    scaled = np.eye(4)
    scaled[:3, :3] *= 100
    assert "scales by 100" in rigid_problem(scaled)
    rounded = np.eye(4)
    rounded[:3, :3] = np.round([[0.8, -0.6, 0], [0.6, 0.8, 0], [0, 0, 1]], 3)
    assert rigid_problem(rounded) is None  # values rounded to 3 decimals still pass
    K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    assert intrinsics_problem(K, (640, 480)) is None
    assert "principal point" in intrinsics_problem(K, (300, 200))
    assert "fx=0" in intrinsics_problem(np.zeros((3, 3)))


def test_batched_pose_checks_give_the_per_pose_answers():
    """``pose_problems`` answers exactly as ``pose_problem`` on every pose: fine, non-finite,
    scaled, mirrored, sheared, with a bad last row, and on both sides of the tolerance."""
    from scipy.spatial.transform import Rotation

    from mosaic.sources.sanity import (
        NON_FINITE_POSE,
        NON_RIGID_POSE,
        RIGID_TOL,
        pose_problem,
        pose_problems,
    )

    rng = np.random.default_rng(4)
    poses = []
    for k in range(400):
        M = np.eye(4)
        M[:3, :3] = Rotation.random(random_state=k).as_matrix()
        M[:3, 3] = rng.normal(size=3)
        kind = k % 8
        if kind == 1:
            M[rng.integers(4), rng.integers(4)] = rng.choice([np.inf, -np.inf, np.nan])
        elif kind == 2:  # scaled near the tolerance, either side
            M[:3, :3] *= 1 + rng.uniform(-1.5, 1.5) * RIGID_TOL / 2
        elif kind == 3:
            M[:3, 0] *= -1  # mirror
        elif kind == 4:
            M[0, 1] += rng.uniform(-2, 2) * RIGID_TOL  # shear around the tolerance
        elif kind == 5:
            M[3, rng.integers(3)] = rng.choice([1e-7, 1e-5, 0.5])
        elif kind == 6:
            M = np.round(M, 3)  # rounded, as some exports store it
        poses.append(M)
    want = [pose_problem(M) for M in poses]
    assert pose_problems(np.stack(poses)) == want
    assert set(want) == {None, NON_FINITE_POSE, NON_RIGID_POSE}
