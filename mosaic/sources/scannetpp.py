"""ScanNet++ reader (``source="scannetpp"``): one release scene -> ``mosaic.structures.Scene``.

Files read from ``<root>/data/<scene>/`` (docs/release_layouts.md section 2):

* ``scans/mesh_aligned_0.05.ply``: the decimated mesh the annotations live on (metres, +z up,
  axis aligned; it is already the world frame, so ``axis_alignment`` is the identity).
* ``scans/segments.json`` and ``scans/segments_anno.json``: per-vertex instances, labels and
  annotated oriented boxes (``mosaic.sources.scannetpp_annotations``); per-face ids by the
  majority rule of ``face_instances_from_vertices``; categories from the benchmark map
  ``metadata/semantic_benchmark/map_benchmark.csv`` when present. The annotated ``obb``
  replaces the fitted box; the axis-aligned box comes from the faces.
* ``frames="iphone"`` (default): COLMAP poses, colour from ``rgb/`` or ``rgb.mkv``, LiDAR
  depth from ``depth/`` or ``depth.bin`` (``mosaic.sources.scannetpp_iphone``).
* ``frames="dslr"``: undistorted images with nerfstudio intrinsics, COLMAP or nerfstudio
  poses, no depth (``mosaic.sources.scannetpp_dslr``).

COLMAP and nerfstudio conventions are in ``mosaic.sources.scannetpp_poses``, file paths and
hints in ``mosaic.sources.scannetpp_layout``; their public names are importable from here too.
Frame ids are the number in the image name (``frame_000120.jpg`` -> 120, ``DSC01234.JPG`` ->
1234). Splits: ``<root>/splits/*.txt`` (``nvs_sem_train`` -> train, ``nvs_sem_val`` -> val,
names with ``test`` -> test).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetRootError, UnknownNameError
from ..structures import Scene, SceneObject
from .base import SceneEntry, build_objects, face_instances_from_vertices
from .mesh import read_mesh, read_split_files
from .scannet_release import normalize_split
from .scannetpp_annotations import (
    annotated_box,
    name_objects,
    read_annotations,
    read_label_map,
    resolve_label_map,
)
from .scannetpp_dslr import DslrFrameStore, dslr_frames
from .scannetpp_iphone import DEPTH_BIN_SIZE, DepthBin, IphoneFrameStore, VideoFrames, iphone_frames
from .scannetpp_layout import (
    ANNO_FILE,
    FRAME_STREAMS,
    LABEL_MAP,
    MESH_FILE,
    NERFSTUDIO_HINT,
    OBTAIN_HINT,
    SEGMENTS_FILE,
    SPLIT_FILES,
    corrupt_error,
    required_files,
    scene_folder,
)
from .scannetpp_poses import (
    ColmapCamera,
    ColmapImage,
    frame_number,
    nerfstudio_to_opencv,
    qvec_to_rotation,
    read_colmap_cameras,
    read_colmap_images,
)

SOURCE = "scannetpp"

__all__ = [
    "ANNO_FILE", "DEPTH_BIN_SIZE", "FRAME_STREAMS", "LABEL_MAP", "MESH_FILE", "NERFSTUDIO_HINT",
    "OBTAIN_HINT", "SEGMENTS_FILE", "SOURCE", "SPLIT_FILES", "ColmapCamera", "ColmapImage",
    "DepthBin", "DslrFrameStore", "IphoneFrameStore", "VideoFrames", "annotated_box",
    "frame_number", "list_scannetpp_scenes", "load_scannetpp_scene", "nerfstudio_to_opencv",
    "qvec_to_rotation", "read_colmap_cameras", "read_colmap_images", "read_label_map",
    "required_files", "scene_folder",
]


def _annotated_objects(scene_id: str, root: Path, folder: Path, vertices: np.ndarray,
                       faces: np.ndarray, label_map: str | Path | bool | None,
                       warnings: list[str], meta: dict[str, Any]
                       ) -> tuple[np.ndarray, tuple[SceneObject, ...]]:
    """(F,) int32 face instances of the mesh (vertices (V, 3) float32 metres, faces (F, 3)
    int32) and the scene objects, named through the label map (recorded in ``meta``) and
    carrying their annotated oriented boxes where the release has one."""
    vertex_instance, raw_labels, boxes = read_annotations(
        scene_id, folder, len(vertices), warnings)
    face_instance = face_instances_from_vertices(faces, vertex_instance)
    lmap, lmap_path = resolve_label_map(root, label_map, scene_id)
    naming, face_instance = name_objects(raw_labels, face_instance, lmap, lmap_path, warnings)
    meta["label_map"] = str(lmap_path) if lmap_path is not None else None
    objects: tuple[SceneObject, ...] = build_objects(vertices, faces, face_instance, naming)
    objects = tuple(dataclasses.replace(o, obb=boxes[o.instance_id])
                    if o.instance_id in boxes else o for o in objects)
    return face_instance, objects


def load_scannetpp_scene(root: str | Path, scene_id: str, *, frames: str = "iphone",
                         label_map: str | Path | bool | None = None) -> Scene:
    """Read one ScanNet++ scene.

    Args:
        root: folder holding ``data/`` and ``splits/``.
        scene_id: a 10-hex id such as ``"56a0ec536c"``.
        frames: ``"iphone"`` (default; the stream SpatialMosaic used) or ``"dslr"``.
        label_map: the benchmark map (``map_benchmark.csv``: raw ``class`` ->
            ``semantic_map_to``); None uses ``<root>/metadata/semantic_benchmark/
            map_benchmark.csv`` when present, False uses none. Mapped names become the question
            category (the raw label stays in ``label``); classes mapped to ``None`` are
            dropped (their faces become unannotated occluders). Without a map the raw label
            is the category.

    Returns:
        ``Scene`` in the mesh frame (metres, +z up): vertices (V, 3) float32, faces (F, 3) int32,
        ``face_instance`` (F,) int32, objects with the annotated oriented boxes, frames with
        finite OpenCV camera-to-world poses and a picklable frame store.

    Raises:
        UnknownNameError: ``frames`` is not one of ``FRAME_STREAMS``.
        MissingDataError / CorruptDataError: naming the scene and file.
    """
    if frames not in FRAME_STREAMS:
        raise UnknownNameError("ScanNet++ frame stream", frames, FRAME_STREAMS)
    folder = scene_folder(root, scene_id)
    warnings: list[str] = []
    meta: dict[str, Any] = {"folder": str(folder), "frames_source": frames}
    mesh = read_mesh(scene_id, folder / MESH_FILE, OBTAIN_HINT)
    vertices = mesh.vertices.astype(np.float32)
    face_instance, objects = _annotated_objects(
        scene_id, Path(root), folder, vertices, mesh.faces, label_map, warnings, meta)
    read_frames = iphone_frames if frames == "iphone" else dslr_frames
    frame_list, skipped, store = read_frames(scene_id, folder, warnings, meta)
    if not frame_list:
        raise corrupt_error(scene_id, folder / frames, "no frame with a finite pose and an image")
    frame_list.sort(key=lambda f: f.frame_id)
    split = read_split_files(Path(root) / "splits", SPLIT_FILES).get(scene_id)
    return Scene(
        scene_id=scene_id, source=SOURCE, vertices=vertices,
        faces=mesh.faces, vertex_colors=mesh.colors, face_instance=face_instance,
        objects=objects, frames=tuple(frame_list),
        skipped_frames=tuple(sorted(skipped, key=lambda s: s.frame_id)),
        split=split, warnings=tuple(warnings), store=store, meta=meta,
    )


def list_scannetpp_scenes(root: str | Path, split: str | None = None, frames: str = "iphone"
                          ) -> tuple[list[SceneEntry], list[str]]:
    """Scenes of a ScanNet++ root (folders of ``<root>/data`` plus the ids of the split lists),
    sorted by id, with warnings; ``split`` is ``train``, ``val`` (alias ``bench``), ``test`` or
    None for all. A scene is complete when the mesh, annotations and the frame stream's files
    are present."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetRootError(f"dataset root {root} does not exist. {OBTAIN_HINT}")
    split = normalize_split(split)
    splits = read_split_files(root / "splits", SPLIT_FILES)
    warnings = [] if splits else [f"{root / 'splits'} has no split lists; splits unknown"]
    data = root / "data"
    ids = set(splits)
    if data.is_dir():
        ids |= {p.name for p in data.iterdir() if p.is_dir() and not p.name.startswith(".")}
    else:
        warnings.append(f"{root} has no data/ folder")
    out = []
    for sid in sorted(ids):
        if split is not None and splits.get(sid) != split:
            continue
        folder = data / sid
        if not folder.is_dir():
            missing: tuple[str, ...] = (sid + "/",)
        else:
            missing = tuple(p for p in required_files(frames) if not (folder / p).exists())
            if frames == "iphone" and not ((folder / "iphone/rgb").is_dir()
                                           or (folder / "iphone/rgb.mkv").is_file()):
                missing += ("iphone/rgb.mkv",)
        out.append(SceneEntry(sid, splits.get(sid), folder, not missing, missing))
    return out, warnings
