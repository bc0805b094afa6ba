"""ScanNet v2 reader: one release scene folder -> ``mosaic.structures.Scene``, and the lister.

Files read from ``<root>/scans/<scene>/`` (or ``<root>/scans_test/<scene>/``):

* ``<scene>_vh_clean_2.ply``: the decimated mesh (trimesh, ``process=False`` keeps vertex order).
* ``<scene>_vh_clean_2.0.010000.segs.json`` + ``<scene>.aggregation.json``: per-vertex
  segments and the segment groups (objects). Instance id = ``objectId + 1``.
* ``<scene>.txt``: ``axisAlignment`` (aligned = A @ raw) and ``sceneType``.
* frames from ``<scene>.sens`` (default), or an exported folder: the official Python
  exporter layout, the C++ exporter layout in ``<scene>/sens_export/``, or mmdetection3d's
  ``<root>/posed_images/<scene>/`` (see ``mosaic.sources.scannet_frames``).

The release files are read by ``mosaic.sources.scannet_release``, the frames by
``mosaic.sources.scannet_frames``; this module puts a scene together and lists a root. Their
public names are importable from here too.

Release quirks handled (docs/release_layouts.md section 1.11): aggregations with or without the
``scannet.`` prefix and ``appId``/``segmentsFile``/``annotationId``; duplicated objects
(scene0217_00) dropped; ``axisAlignment`` missing (identity + warning); ``colorToDepthExtrinsics``
missing; ``numColorFrames`` disagreeing with the ``.sens`` (the ``.sens`` wins, warning); ``-inf``
poses (skipped frames). Everything else inconsistent raises a typed error naming the scene and file:
a wrong scene is never returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetRootError
from ..structures import Frame, Scene, SceneObject, SkippedFrame
from .base import ObjectLabel, SceneEntry, build_objects, face_instances_from_vertices
from .label_table import LabelTable
from .sanity import check_rigid, pose_problems
from .scannet_frames import (
    CXX_EXPORT_DIR,
    FRAME_MODES,
    POSED_IMAGES_DIR,
    ExportedFrameStore,
    FrameSource,
    SensFrameStore,
    frame_source,
    posed_images_folder,
)
from .scannet_release import (
    OBTAIN_HINT,
    SPLIT_ALIASES,
    SPLIT_DIRS,
    SPLIT_NAMES,
    corrupt_error,
    find_scene_folder,
    load_mesh,
    normalize_split,
    parse_matrix,
    read_annotations,
    read_meta_txt,
    read_split_lists,
    resolve_label_table,
)

SOURCE = "scannet"

__all__ = [
    "CXX_EXPORT_DIR", "FRAME_MODES", "OBTAIN_HINT", "POSED_IMAGES_DIR", "SOURCE",
    "SPLIT_ALIASES", "SPLIT_DIRS", "SPLIT_NAMES", "ExportedFrameStore", "SensFrameStore",
    "find_scene_folder", "list_scannet_scenes", "load_scannet_scene", "normalize_split",
    "posed_images_folder", "read_meta_txt", "read_split_lists", "required_files",
    "scene_missing_files",
]


# ---- the reader, step by step ----------------------------------------------------------------
def _read_alignment(scene_id: str, meta_path: Path, in_test: bool, warnings: list[str],
                    files: dict[str, int]) -> tuple[dict[str, str], np.ndarray]:
    """``<scene>.txt`` as key/values and its (4, 4) ``axisAlignment`` A (aligned = A @ raw,
    metres, a rotation about z plus a translation); identity with a warning when absent."""
    meta: dict[str, str] = {}
    if meta_path.is_file():
        meta = read_meta_txt(scene_id, meta_path)
        files[meta_path.name] = meta_path.stat().st_size
    else:
        warnings.append(f"{meta_path} missing: no axisAlignment or sceneType")
    if "axisAlignment" in meta:
        A = parse_matrix(scene_id, meta_path, meta["axisAlignment"], "axisAlignment")
        check_rigid(scene_id, meta_path, A, "axisAlignment",
                    "ScanNet alignments are a rotation about z plus a translation (metres); "
                    "re-download this file with download-scannet.py --type .txt")
    else:
        A = np.eye(4)
        if meta_path.is_file():
            warnings.append(f"{meta_path} has no axisAlignment; using identity (world not "
                            "axis-aligned" + (", as usual for scans_test)" if in_test else ")"))
    return meta, A


@dataclass(frozen=True)
class _Geometry:
    """The aligned mesh and its labels: vertices (V, 3) float32 (metres, z up), faces (F, 3)
    int32, colours (V, 3) uint8, face_instance (F,) int32 (0 = none), raw label per instance;
    ``annotated`` is False for a test scene shipped without annotations."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    face_instance: np.ndarray
    raw_labels: dict[int, str]
    annotated: bool


def _read_geometry(scene_id: str, folder: Path, A: np.ndarray, in_test: bool,
                   warnings: list[str], files: dict[str, int]) -> _Geometry:
    """Mesh and annotations, the mesh moved to the aligned world by ``A``; a face takes the
    instance shared by at least two of its vertices (``face_instances_from_vertices``)."""
    mesh_path = folder / f"{scene_id}_vh_clean_2.ply"
    raw_verts, faces, colors = load_mesh(scene_id, mesh_path)
    files[mesh_path.name] = mesh_path.stat().st_size
    ann = read_annotations(scene_id, folder, len(raw_verts), in_test, warnings, files)
    if ann is None:
        face_instance = np.zeros(len(faces), dtype=np.int32)
        raw_labels: dict[int, str] = {}
    else:
        vertex_instance, raw_labels = ann
        face_instance = face_instances_from_vertices(faces, vertex_instance)
    vertices = (raw_verts @ A[:3, :3].T + A[:3, 3]).astype(np.float32)
    return _Geometry(vertices, faces, colors, face_instance, raw_labels, ann is not None)


def _native_sizes(meta: dict[str, str]) -> dict[str, tuple[int, int]]:
    """(width, height) of ``"color"`` and ``"depth"`` as ``<scene>.txt`` states them."""
    native = {}
    for key, wk, hk in (("color", "colorWidth", "colorHeight"),
                        ("depth", "depthWidth", "depthHeight")):
        if meta.get(wk, "").isdigit() and meta.get(hk, "").isdigit():
            native[key] = (int(meta[wk]), int(meta[hk]))
    return native


def _aligned_frames(scene_id: str, src: FrameSource, A: np.ndarray, meta: dict[str, str],
                    meta_path: Path, warnings: list[str], files: dict[str, int]
                    ) -> tuple[list[Frame], list[SkippedFrame]]:
    """Frames with a finite rigid pose, camera-to-aligned-world (``A @ pose``), and the skipped
    ones sorted by id. Raises when no frame is usable."""
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
    problems = pose_problems(np.asarray(src.raw_poses))
    for fid, pose, why in zip(src.frame_ids, src.raw_poses, problems, strict=True):
        if why is not None:
            skipped.append(SkippedFrame(int(fid), why))
            continue
        frame_list.append(Frame(int(fid), K.copy(), A @ pose, src.width, src.height))
    skipped.sort(key=lambda sk: sk.frame_id)
    if not frame_list:
        raise corrupt_error(
            scene_id, src.path,
            f"none of the {len(src.frame_ids)} frames has a finite camera pose with a rigid "
            "rotation",
            "this scan cannot be used; leave it out of the scene list",
        )
    return frame_list, skipped


def _objects(geometry: _Geometry, table: LabelTable | None) -> tuple[SceneObject, ...]:
    """Scene objects named by the label table (raw label as category without one)."""
    naming: dict[int, ObjectLabel] = {
        inst: table.object_label(lab) if table else ObjectLabel(label=lab, category=lab)
        for inst, lab in geometry.raw_labels.items()
    }
    return build_objects(geometry.vertices, geometry.faces, geometry.face_instance, naming)


def _scene_split(root: Path, scene_id: str, in_test: bool) -> str | None:
    """The split list naming the scene; ``test`` for an unlisted scene of ``scans_test/``."""
    splits, _ = read_split_lists(root)
    split = next((name for name, ids in splits.items() if scene_id in ids), None)
    if split is None and in_test:
        split = "test"
    return split


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
    meta_path = folder / f"{scene_id}.txt"
    meta, A = _read_alignment(scene_id, meta_path, in_test, warnings, files)
    geometry = _read_geometry(scene_id, folder, A, in_test, warnings, files)
    src = frame_source(scene_id, folder, frames, warnings, _native_sizes(meta))
    frame_list, skipped = _aligned_frames(scene_id, src, A, meta, meta_path, warnings, files)
    table = resolve_label_table(root, label_table)
    objects = _objects(geometry, table)
    scene_meta: dict[str, Any] = {
        "sceneType": meta.get("sceneType"),
        "file_sizes": files,
        "frames_source": src.kind,
        "n_frames_total": len(src.frame_ids),
        "annotated": geometry.annotated,
        "label_table": str(table.path) if table is not None and table.path else None,
        "folder": str(folder),
    }
    return Scene(
        scene_id=scene_id, source=SOURCE, vertices=geometry.vertices, faces=geometry.faces,
        vertex_colors=geometry.colors, face_instance=geometry.face_instance, objects=objects,
        frames=tuple(frame_list), skipped_frames=tuple(skipped),
        split=_scene_split(root, scene_id, in_test), axis_alignment=A,
        warnings=tuple(warnings), store=src.store, meta=scene_meta,
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
