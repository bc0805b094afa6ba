"""ARKitScenes 3DOD reader (``source="arkitscenes"``): one video -> ``mosaic.structures.Scene``.

Files read from ``<root>/3dod/{Training,Validation}/<video_id>/`` (docs/release_layouts.md
section 3):

* ``<id>_3dod_mesh.ply``: the scan mesh (metres, world +z up, gravity aligned but not axis
  aligned; the world is used as is, ``axis_alignment`` = identity).
* ``<id>_3dod_annotation.json``: ``data[i].segments.obbAligned`` (``centroid``, full
  ``axesLengths``, ``normalizedAxes`` whose reshaped rows are the box axes, so rotation =
  reshape(3, 3).T). Labels are normalised as the official loader does (space, ``-`` and ``/``
  -> ``_``) and only the 17 classes of ``CLASSES`` are kept. Instance id = position in
  ``data`` + 1 (stable whatever is filtered).
* ``<id>_frames/lowres_wide/<id>_<ts>.png`` (RGB), ``lowres_depth/<id>_<ts>.png`` (uint16 mm),
  ``lowres_wide_intrinsics/<id>_<ts>.pincam`` (``w h fx fy cx cy``; the name may differ by
  +-0.001 s from the image's, tried in the loader's order ts, ts-0.001, ts+0.001) and
  ``lowres_wide.traj`` (``ts rx ry rz tx ty tz``: axis-angle and translation of the
  **world-to-camera** transform; inverted here). A frame takes the pose whose timestamp
  rounded to 3 decimals equals its own, else the nearest within ``POSE_TOLERANCE`` s (the
  loader's fallback); frames without pose or intrinsics are skipped with the reason.

Frame id = timestamp in milliseconds (``round(ts * 1000)``), so ``<id>_<frame_id/1000:.3f>``
names the image.

**Instances (an approximation).** ARKitScenes has oriented boxes, no per-vertex labels. A mesh
face belongs to a box when all three of its vertices lie inside the box grown by
``box_margin`` (default 0.01 m) on every side; a face inside several boxes goes to the smallest
box (by volume); every other face is 0 (unannotated). Geometry inside a box that is not the
object (the floor under a table, a wall behind a shelf, a cushion on a sofa) is therefore
counted as the object, and object parts sticking out of the box are not. No class is
structural: ARKit has no wall/floor/ceiling labels, so walls and floors are unannotated
occluders (instance 0) and never question targets, exactly as the engine treats structure.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import CorruptDataError, DatasetRootError, MissingDataError
from ..structures import DepthImage, Frame, OrientedBox, Scene, SkippedFrame, scaled_intrinsics
from .base import ObjectLabel, SceneEntry, build_objects
from .mesh import image_size, read_depth_png, read_json, read_mesh
from .sanity import check_intrinsics, pose_problem

SOURCE = "arkitscenes"
CLASSES = ("cabinet", "refrigerator", "shelf", "stove", "bed", "sink", "washer", "toilet",
           "bathtub", "oven", "dishwasher", "fireplace", "stool", "chair", "table",
           "tv_monitor", "sofa")
FOLDS = {"Training": "train", "Validation": "val"}
SPLITS_CSV = "3dod_train_val_splits.csv"
POSE_TOLERANCE = 0.005  # s: the official loader's fallback when no traj key matches exactly
PINCAM_OFFSETS = (0.0, -0.001, 0.001)  # s, in the loader's order
BOX_MARGIN = 0.01  # m
OBTAIN_HINT = (
    "download ARKitScenes 3DOD with the official download_data.py of apple/ARKitScenes "
    "(python download_data.py 3dod --video_id_csv threedod/3dod_train_val_splits.csv "
    "--download_dir ROOT) and pass ROOT (the folder holding 3dod/) as --root"
)
_TS_RE = re.compile(r"^(?P<vid>.+)_(?P<ts>\d+\.\d+)\.png$")


def _corrupt(scene_id: str, path: Path, cause: str) -> CorruptDataError:
    return CorruptDataError(scene_id, path, cause, "re-download this video's 3dod files")


def normalise_label(label: str) -> str:
    """The official loader's label normalisation: space, ``-`` and ``/`` become ``_``."""
    for ch in (" ", "-", "/"):
        label = label.replace(ch, "_")
    return label


def axis_angle_to_matrix(r: np.ndarray) -> np.ndarray:
    """(3, 3) rotation of an axis-angle vector (radians)."""
    return Rotation.from_rotvec(np.asarray(r, dtype=np.float64)).as_matrix()


def read_traj(scene_id: str, path: Path) -> dict[int, np.ndarray]:
    """``lowres_wide.traj`` -> {timestamp in ms (rounded to 3 decimals): (4, 4) OpenCV
    camera-to-world}; the file holds world-to-camera axis-angle + translation per line."""
    if not path.is_file():
        raise MissingDataError(scene_id, path, "camera trajectory missing", OBTAIN_HINT)
    poses: dict[int, np.ndarray] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        tok = line.split()
        if not tok:
            continue
        if len(tok) != 7:
            raise _corrupt(scene_id, path, f"line {n} has {len(tok)} numbers, expected 7 "
                           "(timestamp, axis-angle, translation)")
        try:
            vals = np.array([float(t) for t in tok])
        except ValueError:
            raise _corrupt(scene_id, path, f"line {n} is not numeric") from None
        R = axis_angle_to_matrix(vals[1:4])
        c2w = np.eye(4)
        c2w[:3, :3] = R.T
        c2w[:3, 3] = -R.T @ vals[4:7]
        poses[int(round(round(vals[0], 3) * 1000))] = c2w
    return poses


def read_pincam(scene_id: str, path: Path) -> tuple[int, int, np.ndarray]:
    """(width, height, (3, 3) K) of a ``.pincam`` line ``w h fx fy cx cy``."""
    try:
        vals = [float(t) for t in path.read_text().split()]
    except ValueError:
        raise _corrupt(scene_id, path, "not numeric") from None
    if len(vals) != 6:
        raise _corrupt(scene_id, path, f"{len(vals)} numbers, expected 6 (w h fx fy cx cy)")
    w, h, fx, fy, cx, cy = vals
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    check_intrinsics(scene_id, path, K, "intrinsics", (int(w), int(h)), OBTAIN_HINT)
    return int(w), int(h), K


@dataclass(frozen=True)
class ArkitFrameStore:
    """``lowres_wide`` colour (PNG bytes as stored) and ``lowres_depth`` (picklable).

    Attributes:
        scene_id: the video id; frames: the ``<id>_frames`` folder.
        color_K: frame id -> (3, 3) colour K; sizes: frame id -> (width, height).
    """

    scene_id: str
    frames: Path
    color_K: dict[int, np.ndarray]
    sizes: dict[int, tuple[int, int]]

    def _name(self, frame_id: int) -> str:
        return f"{self.scene_id}_{int(frame_id) / 1000:.3f}.png"

    def read_color(self, frame_id: int) -> bytes:
        path = self.frames / "lowres_wide" / self._name(frame_id)
        if not path.is_file():
            raise MissingDataError(self.scene_id, path, "lowres_wide image missing", OBTAIN_HINT)
        return path.read_bytes()

    def read_depth(self, frame_id: int) -> DepthImage:
        fid = int(frame_id)
        depth = read_depth_png(self.scene_id, self.frames / "lowres_depth" / self._name(fid),
                               1000.0, OBTAIN_HINT)
        h, w = depth.shape
        cw, ch = self.sizes[fid]
        return DepthImage(depth=depth, K=scaled_intrinsics(self.color_K[fid], w / cw, h / ch))


# ---- annotations -> per-face instances ---------------------------------------------------
@dataclass(frozen=True)
class ArkitBox:
    """One kept annotation: instance id, raw and normalised label, oriented box (world)."""

    instance_id: int
    label: str
    category: str
    box: OrientedBox
    uid: str


def read_annotation(scene_id: str, path: Path, warnings: list[str]) -> list[ArkitBox]:
    """The kept (17-class) boxes of ``<id>_3dod_annotation.json``."""
    doc = read_json(scene_id, path, OBTAIN_HINT)
    if not isinstance(doc, dict) or not isinstance(doc.get("data", []), list):
        raise _corrupt(scene_id, path, "no 'data' list")
    data = doc.get("data") or []
    if doc.get("skipped"):
        warnings.append(f"{path}: the annotators skipped this scan (skipped = "
                        f"{doc.get('skipped')!r})")
    out, dropped = [], []
    for i, d in enumerate(data):
        try:
            label = str(d["label"])
            obb = d["segments"]["obbAligned"]
            axes = np.asarray(obb["normalizedAxes"], dtype=np.float64).reshape(3, 3)
            box = OrientedBox(center=np.asarray(obb["centroid"], dtype=np.float64).reshape(3),
                              extent=np.asarray(obb["axesLengths"], dtype=np.float64).reshape(3),
                              rotation=axes.T.copy())
        except (KeyError, TypeError, ValueError):
            raise _corrupt(scene_id, path, f"data[{i}] has no label or no segments.obbAligned "
                           "with centroid/axesLengths/normalizedAxes") from None
        category = normalise_label(label)
        if category not in CLASSES:
            dropped.append(label)
            continue
        if not (np.isfinite(box.center).all() and np.isfinite(box.rotation).all()
                and (box.extent > 0).all()):
            raise _corrupt(scene_id, path, f"data[{i}] ({label}) has a degenerate box")
        out.append(ArkitBox(i + 1, label, category, box, str(d.get("uid", ""))))
    if dropped:
        warnings.append(f"{path}: {len(dropped)} boxes outside the 17 classes dropped "
                        f"({', '.join(sorted(set(dropped))[:5])})")
    return out


def faces_in_boxes(vertices: np.ndarray, faces: np.ndarray, boxes: list[ArkitBox],
                   margin: float = BOX_MARGIN) -> np.ndarray:
    """(F,) int32 instance per face: the smallest box (by volume) holding all three of the
    face's vertices (box grown by ``margin`` metres per side), else 0."""
    out = np.zeros(len(faces), np.int32)
    best = np.full(len(faces), np.inf)
    v = np.asarray(vertices, dtype=np.float64)
    for b in boxes:
        half = b.box.extent / 2 + margin
        radius = float(np.linalg.norm(half))
        near = np.flatnonzero(np.abs(v - b.box.center).max(axis=1) <= radius)
        inside = np.zeros(len(v), bool)
        local = (v[near] - b.box.center) @ b.box.rotation  # coordinates along the box axes
        inside[near] = (np.abs(local) <= half).all(axis=1)
        f_in = inside[faces].all(axis=1)
        vol = float(np.prod(b.box.extent))
        take = f_in & (vol < best)
        out[take], best[take] = b.instance_id, vol
    return out


# ---- frames -------------------------------------------------------------------------------
def _read_frames(scene_id: str, frames_dir: Path, warnings: list[str]
                 ) -> tuple[list[Frame], list[SkippedFrame], ArkitFrameStore]:
    wide = frames_dir / "lowres_wide"
    if not wide.is_dir():
        raise MissingDataError(scene_id, wide, "lowres_wide frames missing", OBTAIN_HINT)
    poses = read_traj(scene_id, frames_dir / "lowres_wide.traj")
    traj_ts = np.array(sorted(poses), dtype=np.int64)
    intr = frames_dir / "lowres_wide_intrinsics"
    frames, skipped = [], []
    color_K: dict[int, np.ndarray] = {}
    sizes: dict[int, tuple[int, int]] = {}
    for p in sorted(wide.iterdir()):
        m = _TS_RE.match(p.name)
        if m is None or m["vid"] != scene_id:
            continue
        ts = float(m["ts"])
        fid = int(round(ts * 1000))
        pincam = next((intr / f"{scene_id}_{ts + off:.3f}.pincam" for off in PINCAM_OFFSETS
                       if (intr / f"{scene_id}_{ts + off:.3f}.pincam").is_file()), None)
        if pincam is None:
            skipped.append(SkippedFrame(fid, "no .pincam intrinsics within 0.001 s"))
            continue
        w, h, K = read_pincam(scene_id, pincam)
        pose = poses.get(fid)
        if pose is None and len(traj_ts):
            k = int(np.argmin(np.abs(traj_ts - fid)))
            if abs(int(traj_ts[k]) - fid) < POSE_TOLERANCE * 1000:
                pose = poses[int(traj_ts[k])]
        if pose is None:
            skipped.append(SkippedFrame(fid, f"no lowres_wide.traj pose within "
                                             f"{POSE_TOLERANCE} s"))
            continue
        why = pose_problem(pose)
        if why is not None:
            skipped.append(SkippedFrame(fid, why))
            continue
        color_K[fid], sizes[fid] = K, (w, h)
        frames.append(Frame(fid, K, pose, w, h))
    # file names sort as text: 999.9 s would come after 1000.0 s; Scene wants frame-id order
    frames.sort(key=lambda f: f.frame_id)
    skipped.sort(key=lambda s: s.frame_id)
    if frames:
        f0 = frames[0]
        actual = image_size(scene_id, wide / f"{scene_id}_{f0.frame_id / 1000:.3f}.png",
                            OBTAIN_HINT)
        if actual != (f0.width, f0.height):
            warnings.append(f"{wide}: images are {actual[0]}x{actual[1]} but the .pincam says "
                            f"{f0.width}x{f0.height}")
    return frames, skipped, ArkitFrameStore(scene_id, frames_dir, color_K, sizes)


# ---- the reader ---------------------------------------------------------------------------
def find_video_folder(root: str | Path, video_id: str) -> Path:
    """``<root>/3dod/Training/<id>`` or ``<root>/3dod/Validation/<id>``."""
    root = Path(root)
    for fold in FOLDS:
        cand = root / "3dod" / fold / video_id
        if cand.is_dir():
            return cand
    cause = ("dataset root does not exist" if not root.is_dir()
             else "video folder not found under 3dod/Training or 3dod/Validation")
    raise MissingDataError(video_id, root / "3dod" / "Training" / video_id, cause, OBTAIN_HINT)


def read_splits_csv(root: Path) -> dict[str, str]:
    """video id -> train/val from ``3dod_train_val_splits.csv`` (root or root/3dod), if any."""
    for cand in (root / SPLITS_CSV, root / "3dod" / SPLITS_CSV):
        if cand.is_file():
            with open(cand, newline="") as fh:
                return {row["video_id"].strip(): FOLDS.get(row.get("fold", "").strip(), "")
                        for row in csv.DictReader(fh) if row.get("video_id")}
    return {}


def load_arkitscenes_scene(root: str | Path, scene_id: str, *,
                           box_margin: float = BOX_MARGIN) -> Scene:
    """Read one ARKitScenes 3DOD video.

    Args:
        root: folder holding ``3dod/`` (and optionally ``3dod_train_val_splits.csv``).
        scene_id: the video id, e.g. ``"41069025"``.
        box_margin: metres a box is grown by for the face-in-box rule (module docstring).

    Returns:
        ``Scene`` in the ARKit world (metres, +z up): vertices (V, 3) float32, faces (F, 3)
        int32, ``face_instance`` (F,) int32 from the boxes, objects with the annotated boxes,
        frames with finite OpenCV camera-to-world poses (frames lacking a pose or intrinsics
        in ``skipped_frames``), and a picklable frame store.

    Raises:
        MissingDataError / CorruptDataError naming the video and file.
    """
    root = Path(root)
    folder = find_video_folder(root, scene_id)
    warnings: list[str] = []
    mesh = read_mesh(scene_id, folder / f"{scene_id}_3dod_mesh.ply", OBTAIN_HINT)
    boxes = read_annotation(scene_id, folder / f"{scene_id}_3dod_annotation.json", warnings)
    vertices = mesh.vertices.astype(np.float32)
    face_instance = faces_in_boxes(vertices, mesh.faces, boxes, box_margin)
    naming = {b.instance_id: ObjectLabel(label=b.label, category=b.category) for b in boxes}
    objects = build_objects(vertices, mesh.faces, face_instance, naming)
    by_id = {b.instance_id: b for b in boxes}
    objects = tuple(dataclasses.replace(o, obb=by_id[o.instance_id].box) for o in objects)
    empty = sorted(b.label for b in boxes if b.instance_id not in {o.instance_id
                                                                   for o in objects})
    if empty:
        warnings.append(f"{folder}: {len(empty)} boxes hold no complete mesh face and give no "
                        f"object ({', '.join(empty[:5])})")
    frames, skipped, store = _read_frames(scene_id, folder / f"{scene_id}_frames", warnings)
    if not frames:
        raise _corrupt(scene_id, folder / f"{scene_id}_frames",
                       "no lowres_wide frame has both a pose and intrinsics")
    split = FOLDS[folder.parent.name]
    listed = read_splits_csv(root).get(scene_id)
    if listed and listed != split:
        warnings.append(f"{SPLITS_CSV} puts {scene_id} in {listed} but it is under "
                        f"{folder.parent.name}/; using {split}")
    meta: dict[str, Any] = {"folder": str(folder), "box_margin": box_margin,
                            "uids": {b.instance_id: b.uid for b in boxes},
                            "instances": "faces inside annotated boxes (approximation)"}
    return Scene(
        scene_id=scene_id, source=SOURCE, vertices=vertices, faces=mesh.faces,
        vertex_colors=mesh.colors, face_instance=face_instance, objects=objects,
        frames=tuple(frames), skipped_frames=tuple(skipped), split=split,
        warnings=tuple(warnings), store=store, meta=meta,
    )


def required_files(video_id: str) -> tuple[str, ...]:
    """Paths (relative to the video folder) a usable scene must hold."""
    fr = f"{video_id}_frames"
    return (f"{video_id}_3dod_mesh.ply", f"{video_id}_3dod_annotation.json",
            f"{fr}/lowres_wide", f"{fr}/lowres_wide_intrinsics", f"{fr}/lowres_wide.traj")


def list_arkitscenes_scenes(root: str | Path, split: str | None = None
                            ) -> tuple[list[SceneEntry], list[str]]:
    """Videos under ``<root>/3dod/{Training,Validation}``, sorted by id, with warnings;
    ``split`` is ``train`` (Training), ``val`` (Validation; alias ``bench``) or None."""
    from .scannet import normalize_split

    root = Path(root)
    if not (root / "3dod").is_dir():
        raise DatasetRootError(f"{root} has no 3dod/ folder. {OBTAIN_HINT}")
    split = normalize_split(split)
    warnings = []
    listed = read_splits_csv(root)
    if not listed:
        warnings.append(f"no {SPLITS_CSV} under {root}; splits from the folder names")
    out = []
    for fold, name in FOLDS.items():
        d = root / "3dod" / fold
        if (split is not None and name != split) or not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            if not p.is_dir() or p.name.startswith("."):
                continue
            missing = tuple(r for r in required_files(p.name) if not (p / r).exists())
            out.append(SceneEntry(p.name, name, p, not missing, missing))
    return sorted(out, key=lambda e: e.scene_id), warnings
