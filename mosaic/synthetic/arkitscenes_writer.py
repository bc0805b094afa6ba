"""Write a synthetic room in the ARKitScenes 3DOD layout (fixtures and demo data).

From one ``SyntheticRoom`` this writes ``<root>/3dod/<Training|Validation>/<video_id>/``
(docs/release_layouts.md section 3):

* the world is the room's aligned frame turned about +z and shifted (``world_transform``),
  because ARKit worlds are gravity aligned but not axis aligned; mesh and poses share it.
* ``<id>_3dod_mesh.ply`` (binary PLY, xyz float + rgb uchar).
* ``<id>_3dod_annotation.json``: one ``data`` entry per annotated non-structural object with
  an ARKit-style label (``ARKIT_LABEL``: ScanNet category -> ARKit class written with spaces or
  hyphens, e.g. ``"tv monitor"``, so readers must normalise; other categories keep their own
  name and fall outside the 17 classes), ``segments.obbAligned`` = the object's minimum-area
  box about z (``normalizedAxes`` rows = box axes), plus ``stats``/``comment``/``confirm``/
  ``skipped``. ``box_ids`` of the result maps room instance ids to the written entry index + 1.
* ``<id>_frames/``: ``lowres_wide/<id>_<ts>.png`` (RGB PNG), ``lowres_depth/<id>_<ts>.png``
  (uint16 mm, 0 = miss), ``lowres_wide_intrinsics/<id>_<ts>.pincam`` (``w h fx fy cx cy``) and
  ``lowres_wide.traj`` (``ts rx ry rz tx ty tz``, **world-to-camera** axis-angle). Frame i has
  ``ts = t0 + 0.1 i`` written ``%.3f``; the pincam of every third frame is named 0.001 s off
  (alternating -/+); traj timestamps carry sub-millisecond jitter and more decimals; the traj
  has no pose for ``frame_without_pose`` and an extra pose with no image.
* ``3dod_train_val_splits.csv`` (``video_id,visit_id,fold``) via ``write_splits_csv``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.spatial.transform import Rotation

from ..sources.arkitscenes import FOLDS, SPLITS_CSV
from ..sources.base import fit_z_box
from ..structures import scaled_intrinsics
from .room import DEFAULT_SPEC, SyntheticRoom, SynthSpec, generate_room
from .scannetpp_writer import room_seed, write_ply
from .world import RoomRenderer, room_renderer

ARKIT_LABEL = {
    "chair": "chair", "office chair": "chair", "armchair": "chair", "table": "table",
    "desk": "table", "coffee table": "table", "end table": "table", "couch": "sofa",
    "cabinet": "cabinet", "kitchen cabinet": "cabinet", "nightstand": "cabinet",
    "dresser": "cabinet", "tv stand": "cabinet", "bed": "bed", "bookshelf": "shelf",
    "refrigerator": "refrigerator", "tv": "tv monitor", "monitor": "tv-monitor",
    "stool": "stool",
}
STRUCTURAL = ("wall", "floor", "ceiling")
LOWRES_SIZE = (256, 192)  # lowres_wide / lowres_depth size of the release


@dataclass(frozen=True)
class ArkitWritten:
    """What the writer produced.

    Attributes:
        folder: the video folder.
        world: (4, 4) rigid transform from the room's aligned frame to the written world.
        box_ids: room instance id -> written instance id (``data`` index + 1), every object.
        timestamps: (N,) float64 image timestamps of the room's frames (seconds).
        frame_without_pose: room frame index whose pose is absent from the traj (or -1).
    """

    folder: Path
    world: np.ndarray
    box_ids: dict[int, int]
    timestamps: np.ndarray
    frame_without_pose: int


def world_transform(seed: int) -> np.ndarray:
    """(4, 4) rotation about +z and translation (deterministic for a seed)."""
    rng = np.random.default_rng([seed, 23])
    a = rng.uniform(-np.pi, np.pi)
    T = np.eye(4)
    T[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    T[:3, 3] = [*rng.uniform(-3, 3, 2), rng.uniform(-1.5, -0.5)]
    return T


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def traj_line(ts: float, cam_to_world: np.ndarray, decimals: int = 8) -> str:
    """``ts rx ry rz tx ty tz`` of the world-to-camera transform of a camera-to-world pose."""
    R = cam_to_world[:3, :3].T
    t = -R @ cam_to_world[:3, 3]
    rv = Rotation.from_matrix(R).as_rotvec()
    return f"{ts:.{decimals}f} " + " ".join(f"{v:.10g}" for v in (*rv, *t))


def _annotation(room: SyntheticRoom, world: np.ndarray) -> tuple[dict, dict[int, int]]:
    data, ids = [], {}
    verts = room.vertices.astype(np.float64) @ world[:3, :3].T + world[:3, 3]
    for inst, label in sorted(room.instance_labels.items()):
        if label in STRUCTURAL:
            continue
        vid = np.flatnonzero(room.vertex_instance == inst)
        if len(vid) == 0:
            continue
        box = fit_z_box(verts[vid])
        ids[inst] = len(data) + 1
        data.append({
            "uid": f"synthetic-{room.seed}-{inst}", "label": ARKIT_LABEL.get(label, label),
            "modelId": "", "children": [], "objectId": inst, "hierarchy": 0,
            "isInGroup": False, "labelType": "object", "attributes": {},
            "segments": {"obbAligned": {"centroid": box.center.tolist(),
                                        "axesLengths": box.extent.tolist(),
                                        "normalizedAxes": box.rotation.T.reshape(-1).tolist()}},
        })
    doc = {"data": data, "stats": {"numObjects": len(data)}, "comment": "", "confirm": True,
           "skipped": False}
    return doc, ids


def write_arkitscenes_scene(
    root: str | Path,
    room: SyntheticRoom,
    video_id: str,
    *,
    fold: str = "Training",
    t0: float = 6500.123,
    frame_without_pose: int = 2,
    size: tuple[int, int] | None = None,
    renderer: RoomRenderer | None = None,
) -> ArkitWritten:
    """Write one room as ``<root>/3dod/<fold>/<video_id>/`` (fold ``Training`` or
    ``Validation``); colour and depth at ``size`` (default the room's colour size, intrinsics
    scaled from ``room.color_K``); returns what was written (see ``ArkitWritten``)."""
    folder = Path(root) / "3dod" / fold / video_id
    frames_dir = folder / f"{video_id}_frames"
    for sub in ("lowres_wide", "lowres_depth", "lowres_wide_intrinsics"):
        (frames_dir / sub).mkdir(parents=True, exist_ok=True)
    renderer = renderer or room_renderer(room)
    world = world_transform(room.seed)
    verts = (room.vertices.astype(np.float64) @ world[:3, :3].T + world[:3, 3])
    write_ply(folder / f"{video_id}_3dod_mesh.ply", verts.astype(np.float32),
              room.vertex_colors, room.faces)
    doc, ids = _annotation(room, world)
    (folder / f"{video_id}_3dod_annotation.json").write_text(json.dumps(doc, indent=1))

    rng = np.random.default_rng([room.seed, 29])
    w, h = size or room.spec.color_size
    cw, ch = room.spec.color_size
    K = scaled_intrinsics(room.color_K, w / cw, h / ch)
    n = len(room.poses)
    stamps = np.round(t0 + 0.1 * np.arange(n), 3)
    lines = []
    for i in range(n):
        ts = float(stamps[i])
        name = f"{video_id}_{ts:.3f}"
        pose_room = room.poses[i]
        (frames_dir / "lowres_wide" / f"{name}.png").write_bytes(
            _png(renderer.color(K, pose_room, (w, h))))
        (frames_dir / "lowres_depth" / f"{name}.png").write_bytes(
            _png(renderer.depth_mm(K, pose_room, (w, h))))
        off = (-0.001 if (i // 3) % 2 else 0.001) if i % 3 == 1 else 0.0
        (frames_dir / "lowres_wide_intrinsics" / f"{video_id}_{ts + off:.3f}.pincam").write_text(
            f"{w} {h} {K[0, 0]:.6f} {K[1, 1]:.6f} {K[0, 2]:.6f} {K[1, 2]:.6f}\n")
        if i != frame_without_pose:
            jitter = float(rng.uniform(-0.0004, 0.0004))
            lines.append(traj_line(ts + jitter, world @ pose_room))
    # a trajectory sample with no image (ARKit logs more poses than it keeps frames)
    lines.append(traj_line(float(stamps[-1]) + 0.05, world @ room.poses[-1]))
    (frames_dir / "lowres_wide.traj").write_text("\n".join(lines) + "\n")
    return ArkitWritten(folder, world, ids, stamps, frame_without_pose)


def write_splits_csv(root: str | Path, folds: dict[str, str]) -> Path:
    """``<root>/3dod_train_val_splits.csv`` for {video_id: "Training" | "Validation"}."""
    path = Path(root) / SPLITS_CSV
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(["video_id", "visit_id", "fold"])
        for k, (vid, fold) in enumerate(sorted(folds.items())):
            wr.writerow([vid, "NA" if k % 2 else str(420000 + k), fold])
    return path


def write_arkitscenes_dataset(out: str | Path, n_scenes: int = 4, seed: int = 0,
                              spec: SynthSpec = DEFAULT_SPEC, n_val: int | None = None,
                              size: tuple[int, int] | None = LOWRES_SIZE,
                              first_id: int = 41069025) -> dict[str, list[str]]:
    """Write ``n_scenes`` procedural rooms (the rooms of ``synthetic.write_synthetic_dataset``
    for the same seed) as ARKitScenes 3DOD videos under ``out`` at the lowres 256x192 size,
    the last ``n_val`` (default a quarter, at least one from two scenes) under Validation, plus
    the splits csv. Returns ``{"train": ids, "val": ids}``."""
    if n_val is None:
        n_val = max(1, n_scenes // 4) if n_scenes >= 2 else 0
    out_ids: dict[str, list[str]] = {"train": [], "val": []}
    folds = {}
    for k in range(n_scenes):
        room = generate_room(room_seed(seed, k), spec)
        vid = str(first_id + 17 * k)
        fold = "Validation" if k >= n_scenes - n_val else "Training"
        write_arkitscenes_scene(out, room, vid, fold=fold, size=size)
        out_ids[FOLDS[fold]].append(vid)
        folds[vid] = fold
    write_splits_csv(out, folds)
    return out_ids
