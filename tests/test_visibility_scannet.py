"""Visibility on synthetic ScanNet-layout scenes, checked by an independent ray caster.

The check casts with Open3D's RaycastingScene directly (not through mosaic's backend classes or
labelling code): the full scene for visible pixels, each object alone over a grid that covers
the image plus a wide border for the amodal footprint.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mosaic.cli import main
from mosaic.sources import load_scene
from mosaic.synthetic.world import SynthSpec, write_synthetic_dataset
from mosaic.visibility import compute_visibility

o3d = pytest.importorskip("open3d")

SPEC = SynthSpec(n_frames=24, color_size=(320, 240), depth_size=(160, 120), target_faces=8000)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(out, n_scenes=2, seed=3, spec=SPEC, workers=1)
    return out


def _o3d_cast(vertices, faces, K, P, xs, ys):
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(vertices.astype(np.float32)),
                        o3d.core.Tensor(faces.astype(np.uint32)))
    d = np.stack([(xs - K[0, 2]) / K[0, 0], (ys - K[1, 2]) / K[1, 1], np.ones_like(xs)], 1)
    d = d @ P[:3, :3].T
    o = np.broadcast_to(P[:3, 3], d.shape)
    rays = np.concatenate([o, d], 1).astype(np.float32)
    out = scene.cast_rays(o3d.core.Tensor(rays))
    prim = out["primitive_ids"].numpy().astype(np.int64)
    prim[~np.isfinite(out["t_hit"].numpy())] = -1
    return prim


def test_independent_caster_agrees_with_labels(root):
    scene = load_scene(root, "scene0001_00")
    frames = scene.frames[::4]
    views = compute_visibility(scene, [f.frame_id for f in frames], max_side=160)
    d_occ, d_trunc, n_checked = [], [], 0
    for frame, view in zip(frames, views, strict=True):
        h, w = view.instance_buffer.shape
        sx, sy = w / frame.width, h / frame.height
        K = np.diag([sx, sy, 1.0]) @ frame.K
        gx, gy = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
        prim = _o3d_cast(scene.vertices, scene.faces, K, frame.cam_to_world, gx.ravel(), gy.ravel())
        inst = np.where(prim >= 0, scene.face_instance[np.maximum(prim, 0)], -1).reshape(h, w)
        # the wide plane: 2 image sizes beyond each border, as the engine's default
        bx, by = np.meshgrid(np.arange(-2 * w, 3 * w) + 0.5, np.arange(-2 * h, 3 * h) + 0.5)
        inside = (bx > 0) & (bx < w) & (by > 0) & (by < h)
        for rec in view.objects:
            visible = int((inst == rec.instance_id).sum())
            assert abs(visible - rec.visible_px) <= max(1, 0.01 * visible)
            sel = scene.face_instance == rec.instance_id
            used, local = np.unique(scene.faces[sel], return_inverse=True)
            alone = _o3d_cast(scene.vertices[used], local.reshape(-1, 3), K,
                              frame.cam_to_world, bx.ravel(), by.ravel()) >= 0
            a_in = int((alone & inside.ravel()).sum())
            a_tot = int(alone.sum())
            if a_in == 0:
                continue
            d_occ.append(abs((1 - visible / a_in) - rec.occlusion))
            d_trunc.append(abs((1 - a_in / a_tot) - rec.truncation))
            n_checked += 1
    assert n_checked >= 20
    for d in (np.array(d_occ), np.array(d_trunc)):
        assert d.mean() <= 0.01 and np.percentile(d, 99) <= 0.05


def test_cli_scene_commands(root, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["scenes", "--root", str(root)])
    assert res.exit_code == 0, res.output
    assert "scene0000_00\ttrain\tcomplete" in res.output
    assert "scene0707_00\ttest" in res.output

    res = runner.invoke(main, ["scene-info", "--root", str(root), "scene0000_00"])
    assert res.exit_code == 0, res.output
    assert "axis alignment: applied" in res.output and "objects:" in res.output

    out = tmp_path / "labels.json"
    res = runner.invoke(main, ["visibility", "--root", str(root), "scene0001_00",
                               "--frames", "0:24:6", "--set", "visibility.max_side=80",
                               "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert [v["frame_id"] for v in doc["views"]] == [0, 6, 12, 18]
    scene = load_scene(root, "scene0001_00")
    direct = compute_visibility(scene, [6], max_side=80)[0]
    assert [o["visible_px"] for o in doc["views"][1]["objects"]] == [
        o.visible_px for o in direct.objects
    ]

    h5 = tmp_path / "labels.h5"
    res = runner.invoke(main, ["visibility", "--root", str(root), "scene0001_00",
                               "--frames", "0,6", "--set", "visibility.max_side=80",
                               "--out", str(h5)])
    assert res.exit_code == 0, res.output
    import h5py

    with h5py.File(h5) as f:
        assert list(f["views/frame_id"][:]) == [0, 6]
        assert f["views/instance_buffer"].shape == (2, 60, 80)


def test_cli_errors_are_one_line_with_exit_code(root):
    runner = CliRunner()
    res = runner.invoke(main, ["scene-info", "--root", str(root), "scene0999_00"])
    assert res.exit_code == 1
    assert "scene0999_00" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, ["visibility", "--root", str(root), "scene0001_00",
                               "--set", "visibility.backend=optix"])
    assert res.exit_code == 1 and "valid names" in res.output


def test_backends_command_lists_all():
    res = CliRunner().invoke(main, ["backends"])
    assert res.exit_code == 0
    for name in ("embree", "warp", "open3d", "reference"):
        assert name in res.output
