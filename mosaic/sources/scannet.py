"""ScanNet v2 reader: one release scene folder -> ``mosaic.structures.Scene``.

Files read from ``<root>/scans/<scene>/`` (or ``<root>/scans_test/<scene>/``):

* ``<scene>_vh_clean_2.ply``: the decimated mesh (trimesh, ``process=False`` keeps vertex order).
* ``<scene>_vh_clean_2.0.010000.segs.json`` + ``<scene>.aggregation.json``: per-vertex
  segments and the segment groups (objects). Instance id = ``objectId + 1``.
* ``<scene>.txt``: ``axisAlignment`` (aligned = A @ raw) and ``sceneType``.
* frames from ``<scene>.sens`` (default), or an exported folder: the official Python
  exporter layout (``color/<i>.jpg``, ``depth/<i>.png``, ``pose/<i>.txt``,
  ``intrinsic/intrinsic_color.txt`` inside the scene folder), the C++ exporter layout in
  ``<scene>/sens_export/`` (``frame-%06d.{color.jpg,depth.pgm,pose.txt}``, ``_info.txt``), or
  mmdetection3d's ``<root>/posed_images/<scene>/`` (``%05d.jpg``, ``%05d.txt`` poses and one
  ``intrinsic.txt``, the colour intrinsics; frame ids are its own numbers, which count the
  extracted subset, not ``.sens`` indices). Depth is optional in every exported layout
  (colour-only exports are common): a frame without a depth image is loaded and its pose is
  not checked (``pose_check.NO_DEPTH``). A frame index with a depth image but no colour image
  or no pose file is an incomplete export: listed in ``skipped_frames`` with the reason.

Release quirks handled (docs/release_layouts.md section 1.11): aggregations with or without the
``scannet.`` prefix and ``appId``/``segmentsFile``/``annotationId``; duplicated objects
(scene0217_00) dropped; ``axisAlignment`` missing (identity + warning); ``colorToDepthExtrinsics``
missing; ``numColorFrames`` disagreeing with the ``.sens`` (the ``.sens`` wins, warning); ``-inf``
poses (skipped frames). Everything else inconsistent raises a typed error naming the scene and file:
a wrong scene is never returned.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptDataError, DatasetRootError, MissingDataError, UnknownNameError
from ..structures import DepthImage, Frame, Scene, SkippedFrame
from .base import ObjectLabel, SceneEntry, build_objects, face_instances_from_vertices
from .label_table import LabelTable, find_label_table, load_label_table
from .sanity import NON_RIGID_POSE, check_intrinsics, check_rigid, rigid_problem
from .sens import SensReader

SOURCE = "scannet"
SPLIT_NAMES = ("train", "val", "test")
SPLIT_ALIASES = {"bench": "val"}
SPLIT_DIRS = ("Tasks/Benchmark", ".", "splits", "meta_data")
CXX_EXPORT_DIR = "sens_export"
FRAME_MODES = ("auto", "sens", "exported")
OBTAIN_HINT = (
    "ScanNet is not redistributable: request access by submitting the ScanNet Terms of Use "
    "form linked from https://github.com/ScanNet/ScanNet, download the scenes with the "
    "download-scannet.py script you receive, and pass the folder that contains scans/ "
    "(and scans_test/) as --root"
)
POSED_IMAGES_DIR = "posed_images"  # mmdetection3d's extract_posed_images.py output, under root
_SCENE_RE = re.compile(r"^scene\d{4}_\d{2}$")
_EXPORT_HINT = "re-run the ScanNet exporter for this scene"


# ---- small file readers ------------------------------------------------------------------
def _corrupt(scene_id: str, path: Path, cause: str, hint: str = "") -> CorruptDataError:
    return CorruptDataError(
        scene_id, path, cause, hint or "re-download this file with download-scannet.py"
    )


def _read_json(scene_id: str, path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _corrupt(scene_id, path, f"not valid JSON ({exc})") from None


def read_meta_txt(scene_id: str, path: Path) -> dict[str, str]:
    """``key = value`` lines of ``<scene>.txt`` (split on the first ``=``; values stripped).

    A file that is not UTF-8 text, or holds no ``key = value`` line at all, is corrupt (a
    binary file must not pass for one without an ``axisAlignment``).
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _corrupt(scene_id, path, f"is not a text file ({exc})") from None
    if "\x00" in text or ("=" not in text and text.strip()):
        raise _corrupt(scene_id, path, "is not a `key = value` text file (binary content?)")
    meta = {}
    for line in text.splitlines():
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        meta[key.strip()] = value.strip()
    return meta


def _parse_matrix(scene_id: str, path: Path, text: str, what: str) -> np.ndarray:
    try:
        vals = np.array([float(t) for t in text.split()], dtype=np.float64)
    except ValueError:
        raise _corrupt(scene_id, path, f"{what} is not a list of numbers") from None
    if vals.size != 16:
        raise _corrupt(scene_id, path, f"{what} has {vals.size} numbers, expected 16 (4x4)")
    return vals.reshape(4, 4)


def _read_matrix_file(scene_id: str, path: Path) -> np.ndarray:
    if not path.is_file():
        raise MissingDataError(scene_id, path, "file missing from the exported frames",
                               "re-run the ScanNet exporter for this scene")
    return _parse_matrix(scene_id, path, path.read_text(), "matrix")


# ---- frame stores (picklable: paths only, files opened on demand) -------------------------
class SensFrameStore:
    """Colour and depth read on demand from the ``.sens`` (JPEG bytes as stored)."""

    def __init__(self, reader: SensReader):
        self.reader = reader

    def read_color(self, frame_id: int) -> bytes:
        return self.reader.color_bytes(frame_id)

    def read_depth(self, frame_id: int) -> DepthImage:
        return DepthImage(depth=self.reader.depth(frame_id), K=self.reader.header.depth_K)


@dataclass(frozen=True)
class ExportedFrameStore:
    """Colour and depth from an exported folder.

    Attributes:
        scene_id: scene (for errors).
        folder: the exported folder.
        color_pattern, depth_pattern: file names with ``{i}`` for the frame index
            (``"color/{i}.jpg"`` or ``"frame-{i:06d}.color.jpg"``); ``depth_pattern`` is ""
            when the export has no depth images at all.
        depth_K: (3, 3) depth intrinsics at ``depth_size`` (None without depth);
            depth_shift: raw units per metre.
        depth_size: (w, h) the intrinsics belong to, or None when unknown; a depth image of
            another size (exported with ``image_size``) gets its intrinsics scaled.
    """

    scene_id: str
    folder: Path
    color_pattern: str
    depth_pattern: str
    depth_K: np.ndarray | None
    depth_shift: float
    depth_size: tuple[int, int] | None = None

    def has_depth(self, frame_id: int) -> bool:
        """The export holds a depth image for this frame (colour-only exports do not)."""
        return bool(self.depth_pattern) and (
            self.folder / self.depth_pattern.format(i=int(frame_id))).is_file()

    def _path(self, pattern: str, frame_id: int) -> Path:
        path = self.folder / pattern.format(i=int(frame_id))
        if not path.is_file():
            raise MissingDataError(self.scene_id, path, f"frame {frame_id} file missing",
                                   "re-run the ScanNet exporter for this scene")
        return path

    def read_color(self, frame_id: int) -> bytes:
        return self._path(self.color_pattern, frame_id).read_bytes()

    def read_depth(self, frame_id: int) -> DepthImage:
        from PIL import Image, UnidentifiedImageError

        if not self.depth_pattern or self.depth_K is None:
            raise MissingDataError(self.scene_id, self.folder, "the export has no depth images",
                                   "export depth too (reader.py --export_depth_images) to "
                                   "check poses; frames load without it")
        path = self._path(self.depth_pattern, frame_id)
        try:
            with Image.open(path) as im:
                raw = np.asarray(im)
        except (UnidentifiedImageError, OSError) as exc:
            raise _corrupt(self.scene_id, path, f"unreadable depth image ({exc})") from None
        depth = raw.astype(np.float32) / np.float32(self.depth_shift)
        K = self.depth_K
        if self.depth_size is not None and (depth.shape[1], depth.shape[0]) != self.depth_size:
            sx, sy = depth.shape[1] / self.depth_size[0], depth.shape[0] / self.depth_size[1]
            K = _scale_K(K, sx, sy)
        return DepthImage(depth=depth, K=K)


@dataclass
class _FrameSource:
    kind: str  # "sens", "export_python", "export_cxx", "posed_images"
    path: Path  # the file or folder the poses come from
    frame_ids: list[int]
    raw_poses: list[np.ndarray]
    color_K: np.ndarray
    width: int
    height: int
    store: Any
    incomplete: list[SkippedFrame] = dataclasses.field(default_factory=list)


def _sens_frames(scene_id: str, path: Path) -> _FrameSource:
    reader = SensReader(path, scene_id)
    h = reader.header
    poses = reader.poses()
    return _FrameSource(
        "sens", path, list(range(reader.n_frames)), list(poses), h.color_K,
        h.color_width, h.color_height, SensFrameStore(reader),
    )


def _numbered(folder: Path, suffix: str, rx: re.Pattern[str]) -> dict[int, Path]:
    out = {}
    if folder.is_dir():
        for p in folder.iterdir():
            m = rx.match(p.name)
            if m and p.name.endswith(suffix):
                out[int(m.group(1))] = p
    return out


def _complete_ids(
    folder: Path, color: dict[int, Path], pose: dict[int, Path], depth: dict[int, Path],
    warnings: list[str],
) -> tuple[list[int], list[SkippedFrame]]:
    """Frame indices with a colour image and a pose (depth is optional), and the incomplete
    ones as skipped frames with what they lack."""
    ids = set(color) & set(pose)
    incomplete = []
    for fid in sorted((set(color) | set(pose) | set(depth)) - ids):
        lacks = [what for what, have in (("colour image", color), ("pose file", pose))
                 if fid not in have]
        incomplete.append(SkippedFrame(fid, "incomplete export: no " + " and no ".join(lacks)))
    if incomplete:
        warnings.append(f"{folder}: {len(incomplete)} frame indices lack a colour image or a "
                        f"pose file (listed as skipped); using the {len(ids)} complete frames")
    n_depth = len(ids & set(depth))
    if ids and n_depth < len(ids):
        warnings.append(f"{folder}: {len(ids) - n_depth} of {len(ids)} frames have no depth "
                        "image; their pose is not checked")
    return sorted(ids), incomplete


def _image_size(scene_id: str, path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError) as exc:
        raise _corrupt(scene_id, path, f"unreadable colour image ({exc})") from None


def _native_color_K(folder: Path, color_K: np.ndarray, size: tuple[int, int],
                    native: dict[str, tuple[int, int]], warnings: list[str]) -> np.ndarray:
    """Colour intrinsics for images of ``size``: exported intrinsics are at the native size
    (``<scene>.txt`` colorWidth/colorHeight); the exporter's image_size option resizes."""
    cw, ch = native.get("color", size)
    if size == (cw, ch):
        return color_K
    warnings.append(f"{folder}: images are {size[0]}x{size[1]}, not the native {cw}x{ch}; "
                    "colour intrinsics scaled to match")
    return _scale_K(color_K, size[0] / cw, size[1] / ch)


def _scale_K(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    return np.diag([sx, sy, 1.0]) @ K


def _python_export_frames(
    scene_id: str, folder: Path, warnings: list[str], native: dict[str, tuple[int, int]]
) -> _FrameSource:
    num = re.compile(r"^(\d+)\.")
    color = _numbered(folder / "color", ".jpg", num)
    depth = _numbered(folder / "depth", ".png", num)
    pose = _numbered(folder / "pose", ".txt", num)
    ids, incomplete = _complete_ids(folder, color, pose, depth, warnings)
    intr = folder / "intrinsic"
    color_K = _read_matrix_file(scene_id, intr / "intrinsic_color.txt")[:3, :3]
    # intrinsic_depth.txt matters only when there are depth images to compare with
    depth_K = None
    if depth:
        depth_K = check_intrinsics(
            scene_id, intr / "intrinsic_depth.txt",
            _read_matrix_file(scene_id, intr / "intrinsic_depth.txt")[:3, :3],
            "depth intrinsics", hint=_EXPORT_HINT)
    width, height = _image_size(scene_id, color[ids[0]]) if ids else (0, 0)
    if ids:
        color_K = _native_color_K(folder / "color", color_K, (width, height), native, warnings)
        check_intrinsics(scene_id, intr / "intrinsic_color.txt", color_K, "colour intrinsics",
                         (width, height), _EXPORT_HINT)
    store = ExportedFrameStore(scene_id, folder, "color/{i}.jpg",
                               "depth/{i}.png" if depth else "", depth_K, 1000.0,
                               native.get("depth"))
    poses = [_read_matrix_file(scene_id, pose[i]) for i in ids]
    return _FrameSource("export_python", folder / "pose", ids, poses, color_K, width, height,
                        store, incomplete)


def _cxx_export_frames(scene_id: str, folder: Path, warnings: list[str]) -> _FrameSource:
    info_path = folder / "_info.txt"
    info = read_meta_txt(scene_id, info_path)
    try:
        width, height = int(info["m_colorWidth"]), int(info["m_colorHeight"])
        shift = float(info.get("m_depthShift", "1000"))
        color_K = _parse_matrix(scene_id, info_path, info["m_calibrationColorIntrinsic"],
                                "m_calibrationColorIntrinsic")[:3, :3]
        depth_K = _parse_matrix(scene_id, info_path, info["m_calibrationDepthIntrinsic"],
                                "m_calibrationDepthIntrinsic")[:3, :3]
    except (KeyError, ValueError) as exc:
        raise _corrupt(scene_id, info_path, f"missing or invalid key {exc}",
                       "re-run the ScanNet C++ exporter for this scene") from None
    check_intrinsics(scene_id, info_path, color_K, "m_calibrationColorIntrinsic",
                     (width, height), _EXPORT_HINT)
    check_intrinsics(scene_id, info_path, depth_K, "m_calibrationDepthIntrinsic",
                     hint=_EXPORT_HINT)
    rx = re.compile(r"^frame-(\d+)\.")
    color = _numbered(folder, ".color.jpg", rx)
    depth = _numbered(folder, ".depth.pgm", rx)
    pose = _numbered(folder, ".pose.txt", rx)
    ids, incomplete = _complete_ids(folder, color, pose, depth, warnings)
    store = ExportedFrameStore(scene_id, folder, "frame-{i:06d}.color.jpg",
                               "frame-{i:06d}.depth.pgm" if depth else "", depth_K, shift)
    poses = [_read_matrix_file(scene_id, pose[i]) for i in ids]
    return _FrameSource("export_cxx", folder, ids, poses, color_K, width, height, store,
                        incomplete)


def posed_images_folder(scene_folder: Path, scene_id: str) -> Path:
    """``<root>/posed_images/<scene>`` for a scene folder ``<root>/scans*/<scene>``."""
    return scene_folder.parent.parent / POSED_IMAGES_DIR / scene_id


def _posed_images_frames(
    scene_id: str, folder: Path, warnings: list[str], native: dict[str, tuple[int, int]]
) -> _FrameSource:
    """mmdetection3d's posed_images: ``%05d.jpg``, ``%05d.txt`` and ``intrinsic.txt`` (the
    colour intrinsics as 4 lines of 4 numbers); no depth."""
    num = re.compile(r"^(\d+)\.")
    color = _numbered(folder, ".jpg", num)
    pose = _numbered(folder, ".txt", num)
    ids, incomplete = _complete_ids(folder, color, pose, {}, warnings)
    color_K = _read_matrix_file(scene_id, folder / "intrinsic.txt")[:3, :3]
    width, height = _image_size(scene_id, color[ids[0]]) if ids else (0, 0)
    if ids:
        color_K = _native_color_K(folder, color_K, (width, height), native, warnings)
        check_intrinsics(scene_id, folder / "intrinsic.txt", color_K, "colour intrinsics",
                         (width, height), _EXPORT_HINT)
    store = ExportedFrameStore(scene_id, folder, "{i:05d}.jpg", "", None, 1000.0)
    poses = [_read_matrix_file(scene_id, pose[i]) for i in ids]
    return _FrameSource("posed_images", folder, ids, poses, color_K, width, height, store,
                        incomplete)


def _frame_source(
    scene_id: str, folder: Path, mode: str, warnings: list[str],
    native: dict[str, tuple[int, int]],
) -> _FrameSource:
    if mode not in FRAME_MODES:
        raise UnknownNameError("frames mode", mode, FRAME_MODES)
    sens = folder / f"{scene_id}.sens"
    python_ok = (folder / "pose").is_dir() and (folder / "color").is_dir()
    cxx_ok = (folder / CXX_EXPORT_DIR / "_info.txt").is_file()
    posed = posed_images_folder(folder, scene_id)
    if mode in ("auto", "sens") and (sens.is_file() or mode == "sens"):
        return _sens_frames(scene_id, sens)  # raises MissingDataError when absent
    if python_ok:
        return _python_export_frames(scene_id, folder, warnings, native)
    if cxx_ok:
        return _cxx_export_frames(scene_id, folder / CXX_EXPORT_DIR, warnings)
    if (posed / "intrinsic.txt").is_file():
        return _posed_images_frames(scene_id, posed, warnings, native)
    what = "no .sens file and no exported frames" if mode == "auto" else "no exported frames"
    raise MissingDataError(
        scene_id, sens if mode == "auto" else folder, what,
        f"download {scene_id}.sens with download-scannet.py --type .sens, or export frames "
        f"into {folder}/color,pose,intrinsic[,depth] (Python exporter), "
        f"{folder / CXX_EXPORT_DIR} (C++ exporter) or {posed} (mmdetection3d)",
    )


# ---- mesh and annotations ------------------------------------------------------------------
def _load_mesh(scene_id: str, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import trimesh

    if not path.is_file():
        kind = path.name[len(scene_id):]
        raise MissingDataError(scene_id, path, "mesh file missing",
                               f"download it with download-scannet.py --type {kind}")
    try:
        # No force="mesh": that route copies the mesh and derives face colours (10x slower).
        mesh = trimesh.load(path, process=False)
    except Exception as exc:  # trimesh raises plain ValueError/struct errors on bad files
        raise _corrupt(scene_id, path, f"unreadable PLY ({type(exc).__name__}: {exc})") from None
    if not isinstance(mesh, trimesh.Trimesh):
        kind = type(mesh).__name__
        raise _corrupt(scene_id, path, f"not a triangle mesh (trimesh read a {kind})")
    verts = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(verts) == 0 or len(faces) == 0:
        raise _corrupt(scene_id, path, "mesh has no vertices or no faces")
    if faces.min() < 0 or faces.max() >= len(verts):
        raise _corrupt(scene_id, path, "a face references a vertex index out of range")
    if not np.isfinite(verts).all():
        raise _corrupt(scene_id, path, "mesh has non-finite vertex coordinates")
    colors = np.asarray(mesh.visual.vertex_colors)[:, :3].astype(np.uint8)
    return verts, faces.astype(np.int32), colors


def _strip_prefix(name: str) -> str:
    return name[len("scannet."):] if name.startswith("scannet.") else name


def _read_segs(scene_id: str, path: Path, n_vertices: int) -> np.ndarray:
    if not path.is_file():
        raise MissingDataError(scene_id, path, "segmentation file missing",
                               "download it with download-scannet.py --type "
                               "_vh_clean_2.0.010000.segs.json")
    data = _read_json(scene_id, path)
    seg = data.get("segIndices") if isinstance(data, dict) else None
    if not isinstance(seg, list):
        raise _corrupt(scene_id, path, "no segIndices list")
    if "sceneId" in data and _strip_prefix(str(data["sceneId"])) != scene_id:
        raise _corrupt(scene_id, path, f"belongs to scene {data['sceneId']!r}")
    if len(seg) != n_vertices:
        raise _corrupt(
            scene_id, path,
            f"segIndices has {len(seg)} entries but the mesh has {n_vertices} vertices "
            "(segments must pair with <scene>_vh_clean_2.ply)",
        )
    try:
        return np.asarray(seg, dtype=np.int64)
    except (TypeError, ValueError):
        raise _corrupt(scene_id, path, "segIndices are not integers") from None


def _vertex_instances(
    scene_id: str, agg_path: Path, seg: np.ndarray, warnings: list[str]
) -> tuple[np.ndarray, dict[int, str]]:
    """Per-vertex instance ids (objectId + 1, 0 = unannotated) and raw labels per instance."""
    agg = _read_json(scene_id, agg_path)
    if not isinstance(agg, dict) or not isinstance(agg.get("segGroups"), list):
        raise _corrupt(scene_id, agg_path, "no segGroups list")
    if "sceneId" in agg and _strip_prefix(str(agg["sceneId"])) != scene_id:
        raise _corrupt(scene_id, agg_path, f"belongs to scene {agg['sceneId']!r}")
    uniq, inverse = np.unique(seg, return_inverse=True)
    seg_slot = {int(s): k for k, s in enumerate(uniq)}
    slot_inst = np.zeros(len(uniq), dtype=np.int32)
    labels: dict[int, str] = {}
    seen: dict[tuple[str, frozenset[int]], int] = {}
    dropped, contested = [], 0
    for g in agg["segGroups"]:
        try:
            obj_id = int(g["objectId"] if "objectId" in g else g["id"])
            label = str(g["label"])
            segments = [int(s) for s in g["segments"]]
        except (KeyError, TypeError, ValueError):
            raise _corrupt(scene_id, agg_path, f"malformed segGroup {str(g)[:80]}") from None
        key = (label, frozenset(segments))
        if key in seen:  # scene0217_00 lists its objects twice
            dropped.append(obj_id)
            continue
        inst = obj_id + 1
        if inst < 1:
            raise _corrupt(scene_id, agg_path, f"negative objectId {obj_id}")
        if inst in labels:
            raise _corrupt(scene_id, agg_path,
                           f"objectId {obj_id} is used by two different segGroups")
        seen[key] = obj_id
        labels[inst] = label
        for s in segments:
            slot = seg_slot.get(s)
            if slot is None:
                raise _corrupt(
                    scene_id, agg_path,
                    f"segGroup objectId {obj_id} ({label!r}) names segment {s}, which is not in "
                    "the segIndices of the _vh_clean_2.0.010000.segs.json",
                    "the aggregation and segmentation files do not belong together; "
                    "re-download both",
                )
            if slot_inst[slot] == 0:
                slot_inst[slot] = inst
            elif slot_inst[slot] != inst:
                contested += 1  # first group keeps the segment
    if dropped:
        warnings.append(
            f"{agg_path}: dropped {len(dropped)} duplicated objects (same label and segments as "
            f"an earlier segGroup; objectIds {dropped[:5]}{'...' if len(dropped) > 5 else ''})"
        )
    if contested:
        warnings.append(f"{agg_path}: {contested} segments claimed by two segGroups; "
                        "the first group keeps them")
    return slot_inst[inverse], labels


def _annotations(
    scene_id: str, folder: Path, n_vertices: int, in_test: bool, warnings: list[str],
    files: dict[str, int],
) -> tuple[np.ndarray, dict[int, str]] | None:
    agg = folder / f"{scene_id}.aggregation.json"
    segs = folder / f"{scene_id}_vh_clean_2.0.010000.segs.json"
    hi_agg = folder / f"{scene_id}_vh_clean.aggregation.json"
    if agg.is_file():
        seg = _read_segs(scene_id, segs, n_vertices)
    elif hi_agg.is_file():
        # The hi-res aggregation pairs with the hi-res segmentation; it only fits the low-res
        # mesh when that segmentation has one entry per low-res vertex.
        data = _read_json(scene_id, hi_agg)
        seg_name = _strip_prefix(str(data.get("segmentsFile", ""))) if isinstance(
            data, dict) else ""
        segs = folder / (seg_name or f"{scene_id}_vh_clean.segs.json")
        if not segs.is_file():
            segs = folder / f"{scene_id}_vh_clean.segs.json"
        try:
            seg = _read_segs(scene_id, segs, n_vertices)
        except CorruptDataError as exc:
            raise _corrupt(
                scene_id, hi_agg,
                f"{agg.name} is missing and the hi-res aggregation does not match "
                f"{scene_id}_vh_clean_2.ply ({exc.cause})",
                f"download {agg.name} with download-scannet.py --type .aggregation.json",
            ) from None
        warnings.append(f"{agg} missing; used {hi_agg.name}, whose segments fit the mesh")
        agg = hi_agg
    elif in_test:
        return None  # test scenes ship without annotations
    else:
        raise MissingDataError(
            scene_id, agg, "aggregation file missing (train/val scenes are annotated)",
            "download it with download-scannet.py --type .aggregation.json",
        )
    files[segs.name] = segs.stat().st_size
    files[agg.name] = agg.stat().st_size
    return _vertex_instances(scene_id, agg, seg, warnings)


# ---- splits -----------------------------------------------------------------------------
def read_split_lists(root: str | Path) -> tuple[dict[str, list[str]], Path | None]:
    """Official split lists ``scannetv2_{train,val,test}.txt`` from the first folder among
    ``<root>/Tasks/Benchmark``, ``<root>``, ``<root>/splits``, ``<root>/meta_data`` that has
    any. Returns ({split: ids in file order}, folder) or ({}, None)."""
    for sub in SPLIT_DIRS:
        d = Path(root) / sub
        found = {
            name: d / f"scannetv2_{name}.txt"
            for name in SPLIT_NAMES
            if (d / f"scannetv2_{name}.txt").is_file()
        }
        if found:
            return {
                name: [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
                for name, p in found.items()
            }, d
    return {}, None


def normalize_split(split: str | None) -> str | None:
    """``train``/``val``/``test`` (``bench`` is the product's name for ``val``)."""
    if split is None:
        return None
    name = SPLIT_ALIASES.get(split, split)
    if name not in SPLIT_NAMES:
        raise UnknownNameError("split", split, SPLIT_NAMES + tuple(SPLIT_ALIASES))
    return name


def find_scene_folder(root: str | Path, scene_id: str) -> Path:
    """``<root>/scans/<scene>`` or ``<root>/scans_test/<scene>``; MissingDataError otherwise."""
    root = Path(root)
    for sub in ("scans", "scans_test"):
        cand = root / sub / scene_id
        if cand.is_dir():
            return cand
    where = root if not root.is_dir() else root / "scans" / scene_id
    cause = ("dataset root does not exist" if not root.is_dir()
             else "scene folder not found under scans/ or scans_test/")
    if not _SCENE_RE.match(scene_id):
        cause += " (ScanNet ids look like scene0000_00)"
    raise MissingDataError(scene_id, where, cause, OBTAIN_HINT)


# ---- the reader -------------------------------------------------------------------------
def _resolve_table(root: Path, label_table: LabelTable | str | Path | None) -> LabelTable | None:
    if isinstance(label_table, LabelTable):
        return label_table
    if label_table is not None:
        return load_label_table(label_table)
    found = find_label_table(root)
    return load_label_table(found) if found else None


def load_scannet_scene(
    root: str | Path,
    scene_id: str,
    *,
    frames: str = "auto",
    label_table: LabelTable | str | Path | None = None,
) -> Scene:
    """Read one ScanNet v2 scene.

    Args:
        root: folder holding ``scans/`` (and ``scans_test/``), optionally the label table
            ``scannetv2-labels.combined.tsv`` and the split lists.
        scene_id: e.g. ``"scene0000_00"``.
        frames: ``"auto"`` (the ``.sens`` when present, else an exported folder), ``"sens"``
            or ``"exported"`` (Python exporter layout first, then the C++ one, then
            ``<root>/posed_images/<scene>``).
        label_table: a ``LabelTable``, a tsv path, or None to use ``<root>``'s tsv if any.

    Returns:
        ``Scene`` in the aligned world (aligned = axisAlignment @ raw, metres, z up):
        vertices (V, 3) float32, faces (F, 3) int32, ``face_instance`` (F,) int32 where a face
        takes the instance id shared by at least two of its three vertices, else 0; frames with
        finite poses (OpenCV camera to aligned world, colour intrinsics of the ``.sens``
        header); non-finite poses and incomplete exported frames in ``skipped_frames``; a
        picklable ``store`` (an exported store's ``has_depth`` tells frames without depth).

    Raises:
        MissingDataError: the scene folder or a required file is absent.
        CorruptDataError: a file is truncated or disagrees with its companions.
    """
    root = Path(root)
    folder = find_scene_folder(root, scene_id)
    in_test = folder.parent.name == "scans_test"
    warnings: list[str] = []
    files: dict[str, int] = {}

    # Metadata and alignment.
    meta_path = folder / f"{scene_id}.txt"
    meta: dict[str, str] = {}
    if meta_path.is_file():
        meta = read_meta_txt(scene_id, meta_path)
        files[meta_path.name] = meta_path.stat().st_size
    else:
        warnings.append(f"{meta_path} missing: no axisAlignment or sceneType")
    if "axisAlignment" in meta:
        A = _parse_matrix(scene_id, meta_path, meta["axisAlignment"], "axisAlignment")
        check_rigid(scene_id, meta_path, A, "axisAlignment",
                    "ScanNet alignments are a rotation about z plus a translation (metres); "
                    "re-download this file with download-scannet.py --type .txt")
    else:
        A = np.eye(4)
        if meta_path.is_file():
            warnings.append(f"{meta_path} has no axisAlignment; using identity (world not "
                            "axis-aligned" + (", as usual for scans_test)" if in_test else ")"))

    # Mesh and annotations.
    mesh_path = folder / f"{scene_id}_vh_clean_2.ply"
    raw_verts, faces, colors = _load_mesh(scene_id, mesh_path)
    files[mesh_path.name] = mesh_path.stat().st_size
    ann = _annotations(scene_id, folder, len(raw_verts), in_test, warnings, files)
    if ann is None:
        face_instance = np.zeros(len(faces), dtype=np.int32)
        raw_labels: dict[int, str] = {}
    else:
        vertex_instance, raw_labels = ann
        face_instance = face_instances_from_vertices(faces, vertex_instance)
    vertices = (raw_verts @ A[:3, :3].T + A[:3, 3]).astype(np.float32)

    # Frames.
    native = {}
    for key, wk, hk in (("color", "colorWidth", "colorHeight"),
                        ("depth", "depthWidth", "depthHeight")):
        if meta.get(wk, "").isdigit() and meta.get(hk, "").isdigit():
            native[key] = (int(meta[wk]), int(meta[hk]))
    src = _frame_source(scene_id, folder, frames, warnings, native)
    if src.kind == "sens":
        files[src.path.name] = src.path.stat().st_size
    n_meta = meta.get("numColorFrames")
    if (src.kind == "sens" and n_meta is not None and n_meta.isdigit()
            and int(n_meta) != len(src.frame_ids)):
        warnings.append(
            f"{meta_path}: numColorFrames = {n_meta} but {src.path.name} has "
            f"{len(src.frame_ids)} frames; trusting {src.path.name}"
        )
    frame_list, skipped = [], list(src.incomplete)
    K = np.asarray(src.color_K, dtype=np.float64)
    for fid, pose in zip(src.frame_ids, src.raw_poses, strict=True):
        if not np.isfinite(pose).all():
            skipped.append(SkippedFrame(int(fid), "non-finite pose"))
            continue
        if rigid_problem(pose) is not None:
            skipped.append(SkippedFrame(int(fid), NON_RIGID_POSE))
            continue
        frame_list.append(Frame(int(fid), K.copy(), A @ pose, src.width, src.height))
    skipped.sort(key=lambda sk: sk.frame_id)
    if not frame_list:
        raise _corrupt(
            scene_id, src.path,
            f"none of the {len(src.frame_ids)} frames has a finite camera pose with a rigid "
            "rotation",
            "this scan cannot be used; leave it out of the scene list",
        )

    # Objects.
    table = _resolve_table(root, label_table)
    naming: dict[int, ObjectLabel] = {
        inst: table.object_label(lab) if table else ObjectLabel(label=lab, category=lab)
        for inst, lab in raw_labels.items()
    }
    objects = build_objects(vertices, faces, face_instance, naming)

    splits, _ = read_split_lists(root)
    split = next((name for name, ids in splits.items() if scene_id in ids), None)
    if split is None and in_test:
        split = "test"
    scene_meta: dict[str, Any] = {
        "sceneType": meta.get("sceneType"),
        "file_sizes": files,
        "frames_source": src.kind,
        "n_frames_total": len(src.frame_ids),
        "annotated": ann is not None,
        "label_table": str(table.path) if table is not None and table.path else None,
        "folder": str(folder),
    }
    return Scene(
        scene_id=scene_id,
        source=SOURCE,
        vertices=vertices,
        faces=faces,
        vertex_colors=colors,
        face_instance=face_instance,
        objects=objects,
        frames=tuple(frame_list),
        skipped_frames=tuple(skipped),
        split=split,
        axis_alignment=A,
        warnings=tuple(warnings),
        store=src.store,
        meta=scene_meta,
    )


# ---- listing ----------------------------------------------------------------------------
def required_files(scene_id: str, test: bool) -> tuple[str, ...]:
    """Release files a usable scene folder must hold (frames may come from an export)."""
    base = (f"{scene_id}.sens", f"{scene_id}.txt", f"{scene_id}_vh_clean_2.ply")
    if test:
        return base
    return base + (f"{scene_id}_vh_clean_2.0.010000.segs.json", f"{scene_id}.aggregation.json")


def scene_missing_files(folder: Path, scene_id: str, test: bool) -> tuple[str, ...]:
    """Names of required files absent from ``folder`` (the ``.sens`` is not required when
    exported frames are present). A folder that cannot be read is reported as
    ``"<folder>/ (unreadable: <why>)"`` instead of stopping the listing: the scene is still
    attempted, so its failure is recorded with the others."""
    try:
        if not folder.is_dir():
            return (folder.name + "/",)
        exported = (((folder / "pose").is_dir() and (folder / "color").is_dir())
                    or (folder / CXX_EXPORT_DIR / "_info.txt").is_file()
                    or (posed_images_folder(folder, scene_id) / "intrinsic.txt").is_file())
        return tuple(
            name for name in required_files(scene_id, test)
            if not (folder / name).is_file() and not (name.endswith(".sens") and exported)
        )
    except OSError as exc:  # e.g. no read permission on the folder
        return (f"{folder.name}/ (unreadable: {exc.strerror or exc})",)



def list_scannet_scenes(
    root: str | Path, split: str | None = None
) -> tuple[list[SceneEntry], list[str]]:
    """Scenes of a ScanNet root, sorted by id, with warnings.

    With the official split lists (see ``read_split_lists``) the listed scenes are returned
    (train/val under ``scans/``, test under ``scans_test/``; a listed scene without a folder is
    incomplete) plus, when no split is asked for, unlisted folders with split None. Without
    lists every folder under ``scans/`` (split unknown) and ``scans_test/`` (test) is returned
    with a warning; asking for train or val then raises ``DatasetRootError``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetRootError(f"dataset root {root} does not exist. {OBTAIN_HINT}")
    split = normalize_split(split)
    warnings: list[str] = []
    on_disk: dict[str, Path] = {}
    for sub in ("scans", "scans_test"):
        d = root / sub
        if d.is_dir():
            for p in sorted(d.iterdir()):
                if p.is_dir() and not p.name.startswith("."):
                    on_disk.setdefault(p.name, p)
    if not on_disk:
        warnings.append(f"{root} has no scene folders under scans/ or scans_test/")
    splits, split_dir = read_split_lists(root)
    wanted: dict[str, str | None] = {}
    if splits:
        for name in SPLIT_NAMES if split is None else (split,):
            if name not in splits:
                warnings.append(f"{split_dir} has no scannetv2_{name}.txt")
            for sid in splits.get(name, []):
                wanted.setdefault(sid, name)
        if split is None:
            extra = sorted(set(on_disk) - set(wanted))
            if extra:
                warnings.append(f"{len(extra)} scene folders are in no split list of {split_dir}")
            for sid in extra:
                wanted[sid] = "test" if on_disk[sid].parent.name == "scans_test" else None
    else:
        dirs = ", ".join(str(root / d) for d in SPLIT_DIRS)
        if split in ("train", "val"):
            raise DatasetRootError(
                f"no scannetv2_{split}.txt under {root} (looked in {dirs}); copy the official "
                "lists from ScanNet's Tasks/Benchmark (see data_manifests/scannet/README.md) "
                f"into {root / 'Tasks' / 'Benchmark'}"
            )
        warnings.append(f"no split lists found (looked in {dirs}); listing every scene folder")
        for sid, folder in on_disk.items():
            in_test = folder.parent.name == "scans_test"
            if split is None or in_test:
                wanted[sid] = "test" if in_test else None
    entries = []
    for sid in sorted(wanted):
        sp = wanted[sid]
        folder = on_disk.get(sid, root / ("scans_test" if sp == "test" else "scans") / sid)
        missing = scene_missing_files(folder, sid, folder.parent.name == "scans_test")
        entries.append(SceneEntry(sid, sp, folder, not missing, missing))
    return entries, warnings
