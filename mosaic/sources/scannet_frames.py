"""ScanNet v2 frame sources: the ``.sens`` and the exported frame layouts of one scene.

A scene's frames come from ``<scene>.sens`` (``mosaic.sources.sens``), or an exported folder:
the official Python exporter layout (``color/<i>.jpg``, ``depth/<i>.png``, ``pose/<i>.txt``,
``intrinsic/intrinsic_color.txt`` inside the scene folder), the C++ exporter layout in
``<scene>/sens_export/`` (``frame-%06d.{color.jpg,depth.pgm,pose.txt}``, ``_info.txt``), or
mmdetection3d's ``<root>/posed_images/<scene>/`` (``%05d.jpg``, ``%05d.txt`` poses and one
``intrinsic.txt``, the colour intrinsics; frame ids are its own numbers, which count the
extracted subset, not ``.sens`` indices). Depth is optional in every exported layout
(colour-only exports are common): a frame without a depth image is loaded and its pose is
not checked (``pose_check.NO_DEPTH``). A frame index with a depth image but no colour image
or no pose file is an incomplete export: listed in ``skipped_frames`` with the reason.
Layouts: docs/release_layouts.md sections 1.2 (``.sens``) and 1.3 (exported folders).

Poses are read as stored: (4, 4) camera-to-world in the raw scan frame (OpenCV camera,
metres); the reader (``mosaic.sources.scannet``) applies the axis alignment.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDataError, UnknownNameError
from ..structures import DepthImage, SkippedFrame, scaled_intrinsics
from .mesh import image_size, read_depth_png
from .sanity import check_intrinsics
from .scannet_release import corrupt_error, parse_matrix, read_meta_txt
from .sens import SensReader

CXX_EXPORT_DIR = "sens_export"
FRAME_MODES = ("auto", "sens", "exported")
POSED_IMAGES_DIR = "posed_images"  # mmdetection3d's extract_posed_images.py output, under root
_EXPORT_HINT = "re-run the ScanNet exporter for this scene"


def _read_matrix_file(scene_id: str, path: Path) -> np.ndarray:
    """(4, 4) matrix of an exported ``.txt`` (pose or intrinsics)."""
    if not path.is_file():
        raise MissingDataError(scene_id, path, "file missing from the exported frames",
                               "re-run the ScanNet exporter for this scene")
    return parse_matrix(scene_id, path, path.read_text(), "matrix")


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
        if not self.depth_pattern or self.depth_K is None:
            raise MissingDataError(self.scene_id, self.folder, "the export has no depth images",
                                   "export depth too (reader.py --export_depth_images) to "
                                   "check poses; frames load without it")
        path = self._path(self.depth_pattern, frame_id)
        depth = read_depth_png(self.scene_id, path, self.depth_shift, _EXPORT_HINT)
        K = self.depth_K
        if self.depth_size is not None and (depth.shape[1], depth.shape[0]) != self.depth_size:
            sx, sy = depth.shape[1] / self.depth_size[0], depth.shape[0] / self.depth_size[1]
            K = scaled_intrinsics(K, sx, sy)
        return DepthImage(depth=depth, K=K)


@dataclass
class FrameSource:
    """The frames of one scene as one layout stores them (poses not yet checked or aligned).

    Attributes:
        kind: the layout.
        path: the file or folder the poses come from.
        frame_ids: frame indices, ascending; raw_poses: (4, 4) camera-to-world per frame in
            the raw scan frame (OpenCV camera, metres), possibly non-finite.
        color_K: (3, 3) colour intrinsics at ``width`` x ``height`` pixels.
        store: picklable frame store (``read_color``, ``read_depth``).
        incomplete: exported frame indices lacking a colour image or a pose file.
    """

    kind: str  # "sens", "export_python", "export_cxx", "posed_images"
    path: Path  # the file or folder the poses come from
    frame_ids: list[int]
    raw_poses: list[np.ndarray]
    color_K: np.ndarray
    width: int
    height: int
    store: Any
    incomplete: list[SkippedFrame] = dataclasses.field(default_factory=list)


def _sens_frames(scene_id: str, path: Path) -> FrameSource:
    reader = SensReader(path, scene_id)
    h = reader.header
    poses = reader.poses()
    return FrameSource(
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


def _native_color_K(folder: Path, color_K: np.ndarray, size: tuple[int, int],
                    native: dict[str, tuple[int, int]], warnings: list[str]) -> np.ndarray:
    """Colour intrinsics for images of ``size``: exported intrinsics are at the native size
    (``<scene>.txt`` colorWidth/colorHeight); the exporter's image_size option resizes."""
    cw, ch = native.get("color", size)
    if size == (cw, ch):
        return color_K
    warnings.append(f"{folder}: images are {size[0]}x{size[1]}, not the native {cw}x{ch}; "
                    "colour intrinsics scaled to match")
    return scaled_intrinsics(color_K, size[0] / cw, size[1] / ch)


def _python_export_frames(
    scene_id: str, folder: Path, warnings: list[str], native: dict[str, tuple[int, int]]
) -> FrameSource:
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
    width, height = image_size(scene_id, color[ids[0]], _EXPORT_HINT) if ids else (0, 0)
    if ids:
        color_K = _native_color_K(folder / "color", color_K, (width, height), native, warnings)
        check_intrinsics(scene_id, intr / "intrinsic_color.txt", color_K, "colour intrinsics",
                         (width, height), _EXPORT_HINT)
    store = ExportedFrameStore(scene_id, folder, "color/{i}.jpg",
                               "depth/{i}.png" if depth else "", depth_K, 1000.0,
                               native.get("depth"))
    poses = [_read_matrix_file(scene_id, pose[i]) for i in ids]
    return FrameSource("export_python", folder / "pose", ids, poses, color_K, width, height,
                       store, incomplete)


def _cxx_export_frames(scene_id: str, folder: Path, warnings: list[str]) -> FrameSource:
    info_path = folder / "_info.txt"
    info = read_meta_txt(scene_id, info_path)
    try:
        width, height = int(info["m_colorWidth"]), int(info["m_colorHeight"])
        shift = float(info.get("m_depthShift", "1000"))
        color_K = parse_matrix(scene_id, info_path, info["m_calibrationColorIntrinsic"],
                               "m_calibrationColorIntrinsic")[:3, :3]
        depth_K = parse_matrix(scene_id, info_path, info["m_calibrationDepthIntrinsic"],
                               "m_calibrationDepthIntrinsic")[:3, :3]
    except (KeyError, ValueError) as exc:
        raise corrupt_error(scene_id, info_path, f"missing or invalid key {exc}",
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
    return FrameSource("export_cxx", folder, ids, poses, color_K, width, height, store,
                       incomplete)


def posed_images_folder(scene_folder: Path, scene_id: str) -> Path:
    """``<root>/posed_images/<scene>`` for a scene folder ``<root>/scans*/<scene>``."""
    return scene_folder.parent.parent / POSED_IMAGES_DIR / scene_id


def _posed_images_frames(
    scene_id: str, folder: Path, warnings: list[str], native: dict[str, tuple[int, int]]
) -> FrameSource:
    """mmdetection3d's posed_images: ``%05d.jpg``, ``%05d.txt`` and ``intrinsic.txt`` (the
    colour intrinsics as 4 lines of 4 numbers); no depth."""
    num = re.compile(r"^(\d+)\.")
    color = _numbered(folder, ".jpg", num)
    pose = _numbered(folder, ".txt", num)
    ids, incomplete = _complete_ids(folder, color, pose, {}, warnings)
    color_K = _read_matrix_file(scene_id, folder / "intrinsic.txt")[:3, :3]
    width, height = image_size(scene_id, color[ids[0]], _EXPORT_HINT) if ids else (0, 0)
    if ids:
        color_K = _native_color_K(folder, color_K, (width, height), native, warnings)
        check_intrinsics(scene_id, folder / "intrinsic.txt", color_K, "colour intrinsics",
                         (width, height), _EXPORT_HINT)
    store = ExportedFrameStore(scene_id, folder, "{i:05d}.jpg", "", None, 1000.0)
    poses = [_read_matrix_file(scene_id, pose[i]) for i in ids]
    return FrameSource("posed_images", folder, ids, poses, color_K, width, height, store,
                       incomplete)


def frame_source(
    scene_id: str, folder: Path, mode: str, warnings: list[str],
    native: dict[str, tuple[int, int]],
) -> FrameSource:
    """The scene's frames for a ``frames`` mode of ``FRAME_MODES``: ``"sens"``, or
    ``"exported"`` (Python exporter layout first, then the C++ one, then
    ``<root>/posed_images/<scene>``), or ``"auto"`` (the ``.sens`` when present, else as
    exported). ``native`` maps ``"color"``/``"depth"`` to the (width, height) of
    ``<scene>.txt``, the size exported intrinsics belong to."""
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

