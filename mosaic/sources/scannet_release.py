"""ScanNet v2 release files of one scene folder, and the split lists of a root.

What a scene folder ``<root>/scans/<scene>/`` (or ``<root>/scans_test/<scene>/``) ships besides
its frames (docs/release_layouts.md sections 1.4 to 1.9):

* ``<scene>_vh_clean_2.ply``: the decimated mesh (trimesh, ``process=False`` keeps vertex order).
* ``<scene>_vh_clean_2.0.010000.segs.json`` + ``<scene>.aggregation.json``: per-vertex
  segments and the segment groups (objects). Instance id = ``objectId + 1``.
* ``<scene>.txt``: ``axisAlignment`` (aligned = A @ raw) and ``sceneType``, as ``key = value``.
* the label mapping ``<root>/scannetv2-labels.combined.tsv`` (``mosaic.sources.label_table``)
  and the split lists ``scannetv2_{train,val,test}.txt``.

Release quirks handled here (docs/release_layouts.md section 1.11): aggregations with or
without the ``scannet.`` prefix and ``appId``/``segmentsFile``/``annotationId``; duplicated
objects (scene0217_00) dropped; a missing low-res aggregation replaced by the hi-res one when
its segments fit the mesh. Everything else inconsistent raises a typed error naming the scene
and file. The frames are read by ``mosaic.sources.scannet_frames``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptDataError, MissingDataError, UnknownNameError
from .label_table import LabelTable, find_label_table, load_label_table

SPLIT_NAMES = ("train", "val", "test")
SPLIT_ALIASES = {"bench": "val"}
SPLIT_DIRS = ("Tasks/Benchmark", ".", "splits", "meta_data")
OBTAIN_HINT = (
    "ScanNet is not redistributable: request access by submitting the ScanNet Terms of Use "
    "form linked from https://github.com/ScanNet/ScanNet, download the scenes with the "
    "download-scannet.py script you receive, and pass the folder that contains scans/ "
    "(and scans_test/) as --root"
)
_SCENE_RE = re.compile(r"^scene\d{4}_\d{2}$")


# ---- small file readers ------------------------------------------------------------------
def corrupt_error(scene_id: str, path: Path, cause: str, hint: str = "") -> CorruptDataError:
    """``CorruptDataError`` for a ScanNet file (default hint: re-download it)."""
    return CorruptDataError(
        scene_id, path, cause, hint or "re-download this file with download-scannet.py"
    )


def _read_json(scene_id: str, path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise corrupt_error(scene_id, path, f"not valid JSON ({exc})") from None


def read_meta_txt(scene_id: str, path: Path) -> dict[str, str]:
    """``key = value`` lines of ``<scene>.txt`` (split on the first ``=``; values stripped).

    A file that is not UTF-8 text, or holds no ``key = value`` line at all, is corrupt (a
    binary file must not pass for one without an ``axisAlignment``).
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise corrupt_error(scene_id, path, f"is not a text file ({exc})") from None
    if "\x00" in text or ("=" not in text and text.strip()):
        raise corrupt_error(scene_id, path, "is not a `key = value` text file (binary content?)")
    meta = {}
    for line in text.splitlines():
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        meta[key.strip()] = value.strip()
    return meta


def parse_matrix(scene_id: str, path: Path, text: str, what: str) -> np.ndarray:
    """(4, 4) float64 matrix of 16 whitespace-separated numbers, row-major (``what`` names it
    in errors)."""
    try:
        vals = np.array([float(t) for t in text.split()], dtype=np.float64)
    except ValueError:
        raise corrupt_error(scene_id, path, f"{what} is not a list of numbers") from None
    if vals.size != 16:
        raise corrupt_error(scene_id, path, f"{what} has {vals.size} numbers, expected 16 (4x4)")
    return vals.reshape(4, 4)


# ---- mesh and annotations ------------------------------------------------------------------
def load_mesh(scene_id: str, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``<scene>_vh_clean_2.ply`` in the raw scan frame (metres): vertices (V, 3) float64,
    faces (F, 3) int32, vertex colours (V, 3) uint8; vertex order as stored."""
    from .ply_binary import read_binary_ply

    if not path.is_file():
        kind = path.name[len(scene_id):]
        raise MissingDataError(scene_id, path, "mesh file missing",
                               f"download it with download-scannet.py --type {kind}")
    try:
        # the release's layout, read with numpy; anything else goes through trimesh
        read = read_binary_ply(path)
    except OSError as exc:
        raise corrupt_error(scene_id, path,
                            f"unreadable PLY ({type(exc).__name__}: {exc})") from None
    if read is not None:
        verts, faces, colors = read
    else:
        verts, faces, colors = _trimesh_ply(scene_id, path)
    if len(verts) == 0 or len(faces) == 0:
        raise corrupt_error(scene_id, path, "mesh has no vertices or no faces")
    if faces.min() < 0 or faces.max() >= len(verts):
        raise corrupt_error(scene_id, path, "a face references a vertex index out of range")
    if not np.isfinite(verts).all():
        raise corrupt_error(scene_id, path, "mesh has non-finite vertex coordinates")
    return verts, faces.astype(np.int32), colors


def _trimesh_ply(scene_id: str, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``load_mesh``'s arrays read by trimesh (any PLY layout; the reference of the numpy
    reader's parity test)."""
    import trimesh

    try:
        # No force="mesh": that route copies the mesh and derives face colours (10x slower).
        mesh = trimesh.load(path, process=False)
    except Exception as exc:  # trimesh raises plain ValueError/struct errors on bad files
        raise corrupt_error(scene_id, path,
                            f"unreadable PLY ({type(exc).__name__}: {exc})") from None
    if not isinstance(mesh, trimesh.Trimesh):
        kind = type(mesh).__name__
        raise corrupt_error(scene_id, path, f"not a triangle mesh (trimesh read a {kind})")
    return (np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64),
            np.asarray(mesh.visual.vertex_colors)[:, :3].astype(np.uint8))


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
        raise corrupt_error(scene_id, path, "no segIndices list")
    if "sceneId" in data and _strip_prefix(str(data["sceneId"])) != scene_id:
        raise corrupt_error(scene_id, path, f"belongs to scene {data['sceneId']!r}")
    if len(seg) != n_vertices:
        raise corrupt_error(
            scene_id, path,
            f"segIndices has {len(seg)} entries but the mesh has {n_vertices} vertices "
            "(segments must pair with <scene>_vh_clean_2.ply)",
        )
    try:
        return np.asarray(seg, dtype=np.int64)
    except (TypeError, ValueError):
        raise corrupt_error(scene_id, path, "segIndices are not integers") from None


def _vertex_instances(
    scene_id: str, agg_path: Path, seg: np.ndarray, warnings: list[str]
) -> tuple[np.ndarray, dict[int, str]]:
    """Per-vertex instance ids (objectId + 1, 0 = unannotated) and raw labels per instance."""
    agg = _read_json(scene_id, agg_path)
    if not isinstance(agg, dict) or not isinstance(agg.get("segGroups"), list):
        raise corrupt_error(scene_id, agg_path, "no segGroups list")
    if "sceneId" in agg and _strip_prefix(str(agg["sceneId"])) != scene_id:
        raise corrupt_error(scene_id, agg_path, f"belongs to scene {agg['sceneId']!r}")
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
            raise corrupt_error(scene_id, agg_path, f"malformed segGroup {str(g)[:80]}") from None
        key = (label, frozenset(segments))
        if key in seen:  # scene0217_00 lists its objects twice
            dropped.append(obj_id)
            continue
        inst = obj_id + 1
        if inst < 1:
            raise corrupt_error(scene_id, agg_path, f"negative objectId {obj_id}")
        if inst in labels:
            raise corrupt_error(scene_id, agg_path,
                                f"objectId {obj_id} is used by two different segGroups")
        seen[key] = obj_id
        labels[inst] = label
        for s in segments:
            slot = seg_slot.get(s)
            if slot is None:
                raise corrupt_error(
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


def read_annotations(
    scene_id: str, folder: Path, n_vertices: int, in_test: bool, warnings: list[str],
    files: dict[str, int],
) -> tuple[np.ndarray, dict[int, str]] | None:
    """Per-vertex instance ids (V,) int32 (objectId + 1, 0 = unannotated) and the raw label
    per instance, from the aggregation and the segmentation it pairs with; None for a test
    scene without them. Adds the sizes of the files read to ``files``."""
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
            raise corrupt_error(
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


def resolve_label_table(root: Path, label_table: LabelTable | str | Path | None
                        ) -> LabelTable | None:
    """The label table given (a ``LabelTable`` or a tsv path), or ``<root>``'s tsv if any."""
    if isinstance(label_table, LabelTable):
        return label_table
    if label_table is not None:
        return load_label_table(label_table)
    found = find_label_table(root)
    return load_label_table(found) if found else None
