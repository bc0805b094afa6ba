"""ScanNet++ annotations: per-vertex instances, labels, annotated boxes and the benchmark map.

``scans/segments.json`` (``segIndices`` per vertex) and ``scans/segments_anno.json``
(``segGroups``): instance id = ``objectId + 1`` (``id + 1`` when a group has no objectId); a
vertex in several groups goes to the group with the fewest vertices (the toolkit's single-label
rule). Categories: the raw label, or its ``semantic_map_to`` class in the benchmark map
``metadata/semantic_benchmark/map_benchmark.csv`` when present (classes mapped to ``None`` are
dropped). Boxes: the annotated ``obb`` (rotation = ``normalizedAxes`` reshaped to 3x3 and
transposed, the toolkit's rule; ``axesLengths`` are full side lengths), in the mesh frame
(metres, +z up). Layouts: docs/release_layouts.md section 2.2.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptDataError, MissingDataError
from ..structures import OrientedBox
from .base import ObjectLabel
from .mesh import read_json
from .scannetpp_layout import (
    ANNO_FILE,
    LABEL_MAP,
    MESH_FILE,
    OBTAIN_HINT,
    SEGMENTS_FILE,
    corrupt_error,
)


def annotated_box(obb: Any) -> OrientedBox:
    """``OrientedBox`` of a ScanNet++ ``obb`` dict: rotation = normalizedAxes as 3x3,
    transposed (its rows are the box axes); extent = axesLengths (full lengths)."""
    axes = np.asarray(obb["normalizedAxes"], dtype=np.float64).reshape(3, 3)
    return OrientedBox(center=np.asarray(obb["centroid"], dtype=np.float64).reshape(3),
                       extent=np.asarray(obb["axesLengths"], dtype=np.float64).reshape(3),
                       rotation=axes.T.copy())


def read_label_map(path: Path, scene_id: str = "-") -> dict[str, str | None]:
    """ScanNet++ ``map_benchmark.csv``: raw label -> benchmark class from ``semantic_map_to``
    (an empty cell keeps the raw label, ``None`` drops the class: -> None). ``scene_id`` is
    the scene being read, for errors."""
    out: dict[str, str | None] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "class" not in reader.fieldnames:
            raise CorruptDataError(scene_id, path, "no 'class' column (expected the ScanNet++ "
                                   "map_benchmark.csv)", "pass the benchmark map or None")
        for row in reader:
            target = (row.get("semantic_map_to") or "").strip()
            out[row["class"]] = None if target == "None" else (target or row["class"])
    return out


def _read_segment_files(scene_id: str, folder: Path, n_vertices: int
                        ) -> tuple[np.ndarray, list[Any], Path]:
    """Segment id per vertex (V,) int64, the segGroups list and the path it came from; both
    files must belong to this scene."""
    seg_path, anno_path = folder / SEGMENTS_FILE, folder / ANNO_FILE
    seg_data = read_json(scene_id, seg_path, OBTAIN_HINT)
    seg = seg_data.get("segIndices") if isinstance(seg_data, dict) else None
    if not isinstance(seg, list) or len(seg) != n_vertices:
        n = len(seg) if isinstance(seg, list) else "no"
        raise corrupt_error(scene_id, seg_path, f"segIndices has {n} entries but "
                            f"{Path(MESH_FILE).name} has {n_vertices} vertices")
    seg_arr = np.asarray(seg, dtype=np.int64)
    anno = read_json(scene_id, anno_path, OBTAIN_HINT)
    groups = anno.get("segGroups") if isinstance(anno, dict) else None
    if not isinstance(groups, list):
        raise corrupt_error(scene_id, anno_path, "no segGroups list")
    # segment ids are vertex ids here, so another scene's file would still mostly "fit"
    for path, doc in ((seg_path, seg_data), (anno_path, anno)):
        owner = str(doc.get("sceneId", scene_id)).removeprefix("scannetpp.")
        if owner != scene_id:
            raise corrupt_error(scene_id, path, f"belongs to scene {doc['sceneId']!r}")
    return seg_arr, groups, anno_path


def read_annotations(scene_id: str, folder: Path, n_vertices: int, warnings: list[str]
                     ) -> tuple[np.ndarray, dict[int, str], dict[int, OrientedBox]]:
    """Per-vertex instance (V,) int32 (0 = none), raw label and annotated box per instance.

    A vertex claimed by several segGroups goes to the group covering the fewest vertices, the
    toolkit's single-label rule (a cup annotated inside a table's group stays a cup).
    """
    seg_arr, groups, anno_path = _read_segment_files(scene_id, folder, n_vertices)
    uniq, inverse = np.unique(seg_arr, return_inverse=True)
    slot_size = np.bincount(inverse, minlength=len(uniq))  # vertices per segment
    labels: dict[int, str] = {}
    boxes: dict[int, OrientedBox] = {}
    members: list[tuple[int, np.ndarray]] = []
    unknown = 0
    for g in groups:
        try:
            obj = int(g["objectId"] if "objectId" in g else g["id"])
            label = str(g["label"])
            segments = np.asarray([int(s) for s in g["segments"]], dtype=np.int64)
        except (KeyError, TypeError, ValueError):
            raise corrupt_error(scene_id, anno_path, f"malformed segGroup {str(g)[:80]}") from None
        inst = obj + 1
        if inst < 1 or inst in labels:
            raise corrupt_error(scene_id, anno_path, f"objectId {obj} is negative or used twice")
        labels[inst] = label
        if isinstance(g.get("obb"), dict):
            try:
                boxes[inst] = annotated_box(g["obb"])
            except (KeyError, TypeError, ValueError):
                raise corrupt_error(scene_id, anno_path, f"objectId {obj}: malformed obb") from None
        pos = np.searchsorted(uniq, segments).clip(0, max(len(uniq) - 1, 0))
        known = (uniq[pos] == segments) if len(uniq) else np.zeros(len(segments), bool)
        unknown += int((~known).sum())
        members.append((inst, np.unique(pos[known])))
    slot_inst = np.zeros(len(uniq), np.int32)
    best = np.full(len(uniq), np.iinfo(np.int64).max)
    contested = np.zeros(len(uniq), np.int32)
    for inst, slots in members:
        size = int(slot_size[slots].sum())
        contested[slots] += 1
        take = slots[size < best[slots]]  # ties: the earlier group keeps the vertex
        slot_inst[take], best[take] = inst, size
    if unknown:
        warnings.append(f"{anno_path}: {unknown} segment ids are not in segments.json; ignored")
    n_multi = int(slot_size[contested > 1].sum())
    if n_multi:
        warnings.append(f"{anno_path}: {n_multi} vertices belong to several segGroups; each "
                        "goes to the smallest group (the toolkit's single-label rule)")
    return slot_inst[inverse], labels, boxes


def resolve_label_map(root: Path, label_map: str | Path | None | bool, scene_id: str
                      ) -> tuple[dict[str, str | None] | None, Path | None]:
    """The benchmark map and its path: ``label_map`` when a path, ``<root>``'s
    ``map_benchmark.csv`` for None or True (none when absent), none for False."""
    if label_map is False:
        return None, None
    if label_map is None or label_map is True:
        path = root / LABEL_MAP
        return (read_label_map(path, scene_id), path) if path.is_file() else (None, None)
    path = Path(label_map)
    if not path.is_file():
        raise MissingDataError(scene_id, path, "label map missing",
                               "pass the ScanNet++ metadata/semantic_benchmark/map_benchmark.csv")
    return read_label_map(path, scene_id), path


def name_objects(raw_labels: dict[int, str], face_instance: np.ndarray,
                 lmap: dict[str, str | None] | None, lmap_path: Path | None,
                 warnings: list[str]) -> tuple[dict[int, ObjectLabel], np.ndarray]:
    """Naming per instance (category = the mapped class, ``label`` the raw one; the raw label
    without a map) and the (F,) int32 ``face_instance`` with the objects of classes mapped to
    None set to 0 (unannotated occluders)."""
    naming: dict[int, ObjectLabel] = {}
    dropped: list[int] = []
    for inst, lab in raw_labels.items():
        cat = lmap.get(lab, lab) if lmap is not None else lab
        if cat is None:
            dropped.append(inst)
        else:
            naming[inst] = ObjectLabel(label=lab, category=cat)
    if dropped:
        drop = np.zeros(max(raw_labels) + 1, bool)
        drop[dropped] = True
        face_instance = np.where(drop[face_instance], 0, face_instance).astype(np.int32)
        warnings.append(f"{lmap_path}: {len(dropped)} objects of classes mapped to None "
                        "left unannotated")
    return naming, face_instance
