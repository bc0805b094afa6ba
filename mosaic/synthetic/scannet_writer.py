"""Write a scene in the ScanNet v2 release layout (fixtures and synthetic scenes).

The files mimic the real release byte for byte where docs/release_layouts.md section 1 knows the
bytes: binary PLY headers of 1.4, string-valued segmentation params and non-contiguous segment ids
(1.5), v2 aggregation prefixes (1.6), an alphabetical ``<scene>.txt`` (1.7) and a version-4
``.sens`` (1.2). ``quirks`` reproduce the defects of real release files so readers are tested
against them:

* ``v1_aggregation``: aggregation without the ``scannet.`` prefix, ``appId`` and ``segmentsFile``.
* ``frames_off_by_one``: ``numColorFrames`` one higher than the frames in the ``.sens``.
* ``no_color_to_depth``: ``colorToDepthExtrinsics`` missing from ``<scene>.txt``.
* ``duplicate_objects``: every segGroup listed a second time with new objectIds (scene0217_00).
* ``export_python``: the official Python exporter's folders inside the scene folder:
  ``color/<i>.jpg``, ``depth/<i>.png`` (16-bit mm), ``pose/<i>.txt``,
  ``intrinsic/{intrinsic,extrinsic}_{color,depth}.txt`` (indices unpadded).
* ``export_cxx``: the official C++ exporter's files in ``<scene>/sens_export/``:
  ``frame-%06d.color.jpg``, ``frame-%06d.depth.pgm`` (binary 16-bit PGM, big-endian),
  ``frame-%06d.pose.txt`` and ``_info.txt``.
* ``export_python_color`` / ``export_cxx_color``: the same layouts without depth images, as
  colour-only exports have them (``reader.py --export_color_images --export_poses
  --export_intrinsics`` still writes all four intrinsic/extrinsic matrices).
* ``posed_images``: mmdetection3d's ``extract_posed_images.py`` output,
  ``<root>/posed_images/<scene>/%05d.jpg`` and ``%05d.txt`` (poses) plus ``intrinsic.txt``
  (the colour intrinsics); every frame is written (the script keeps all frames of a scan up
  to its limit of 300), numbered in order.
* ``no_sens``: no ``.sens`` file (a copy that holds only exported frames).
* ``corrupt_jpeg``: in the ``.sens``, the colour JPEG of every ``CORRUPT_JPEG_EVERY``-th frame
  (0, 6, 12, ...) is cut to half its bytes, as in a damaged download (not part of the
  default synthetic release; tests ask for it).

Geometry is written in the RAW (unaligned) world: the reader applies ``axisAlignment``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import UnknownNameError
from ..sources.scannet import POSED_IMAGES_DIR
from ..sources.sens import write_sens

QUIRKS = frozenset(
    {
        "v1_aggregation",
        "frames_off_by_one",
        "no_color_to_depth",
        "duplicate_objects",
        "export_python",
        "export_cxx",
        "export_python_color",
        "export_cxx_color",
        "posed_images",
        "no_sens",
        "corrupt_jpeg",
    }
)
CORRUPT_JPEG_EVERY = 6
SPLITS = ("train", "val", "test")
CXX_EXPORT_DIR = "sens_export"
# quirks that write the frames again beside (or instead of) the .sens
PYTHON_EXPORTS = frozenset({"export_python", "export_python_color"})
CXX_EXPORTS = frozenset({"export_cxx", "export_cxx_color"})
FRAME_EXPORTS = PYTHON_EXPORTS | CXX_EXPORTS | {"posed_images"}
SEGS_PARAMS = {  # docs/release_layouts.md 1.5: the values are strings in the release
    "kThresh": "0.0001",
    "segMinVerts": "20",
    "minPoints": "750",
    "maxPoints": "30000",
    "thinThresh": "0.05",
    "flatThresh": "0.001",
    "minLength": "0.02",
    "maxLength": "1",
}
LABEL_TSV_COLUMNS = (
    "id", "raw_category", "category", "count", "nyu40id", "eigen13id", "nyuClass",
    "nyu40class", "eigen13class", "ModelNet40", "ModelNet10", "ShapeNetCore55",
    "synsetoffset", "wnsynsetid", "wnsynsetkey", "mpcat40", "mpcat40index",
)
LABEL_TSV_NAME = "scannetv2-labels.combined.tsv"


@dataclass
class ReleaseFrame:
    """One sensor frame.

    Attributes:
        cam_to_world: (4, 4) float RAW world (before axisAlignment), OpenCV camera; may be -inf.
        color_jpeg: a complete JPEG file.
        depth_mm: (depth_h, depth_w) uint16 millimetres, 0 = invalid.
    """

    cam_to_world: np.ndarray
    color_jpeg: bytes
    depth_mm: np.ndarray


@dataclass
class ReleaseScene:
    """Everything a ScanNet release folder holds, in memory.

    Attributes:
        scene_id: ``"scene%04d_%02d"``.
        vertices: (V, 3) float32 RAW world (before axisAlignment), metres, z up.
        vertex_colors: (V, 3) uint8 RGB.
        faces: (F, 3) int32.
        vertex_instance: (V,) int32; 0 = unannotated, k >= 1 -> objectId k - 1.
        instance_labels: instance id -> raw category string (e.g. ``"office chair"``).
        axis_alignment: (4, 4) with aligned = A @ raw; None -> the key is not written.
        color_K: (3, 3) at ``color_size``; depth_K: (3, 3) at ``depth_size``.
        color_size, depth_size: (width, height).
        frames: the sensor sequence (any sequence: a lazy one renders frames as they are
            written, so a 5,500-frame scan is never held in memory).
    """

    scene_id: str
    vertices: np.ndarray
    vertex_colors: np.ndarray
    faces: np.ndarray
    vertex_instance: np.ndarray
    instance_labels: dict[int, str]
    axis_alignment: np.ndarray | None
    color_K: np.ndarray
    color_size: tuple[int, int]
    depth_K: np.ndarray
    depth_size: tuple[int, int]
    frames: Sequence[ReleaseFrame]
    scene_type: str = "Living room / Lounge"
    sensor_name: str = "StructureSensor"


@dataclass
class LabelRow:
    """One row of ``scannetv2-labels.combined.tsv`` (the columns readers use)."""

    id: int
    raw_category: str
    category: str
    nyu40id: int
    nyu40class: str
    count: int = 1


# ---- PLY ---------------------------------------------------------------------------------
def _ply_header(n_vertices: int, n_faces: int, *, labels: bool) -> bytes:
    lines = [
        "ply",
        "format binary_little_endian 1.0",
        "comment MLIB generated" if labels else "comment VCGLIB generated",
        f"element vertex {n_vertices}",
        "property float x",
        "property float y",
        "property float z",
        "property uchar red",
        "property uchar green",
        "property uchar blue",
        "property uchar alpha",
    ]
    if labels:
        lines.append("property ushort label")
    lines += [f"element face {n_faces}", "property list uchar int vertex_indices", "end_header"]
    return ("\n".join(lines) + "\n").encode("ascii")


def write_ply(
    path: Path,
    vertices: np.ndarray,
    colors: np.ndarray,
    faces: np.ndarray,
    labels: np.ndarray | None = None,
) -> Path:
    """Binary little-endian PLY exactly as ScanNet ships it (16 or 18 bytes per vertex,
    13 bytes per face). ``labels`` (V,) uint16 makes it a ``.labels.ply``. Written here rather
    than with trimesh: the release's header (comment line, property order, the ``label``
    property) must be reproduced byte for byte."""
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
              ("red", "u1"), ("green", "u1"), ("blue", "u1"), ("alpha", "u1")]
    if labels is not None:
        fields.append(("label", "<u2"))
    vrec = np.zeros(len(vertices), dtype=np.dtype(fields))
    for k, name in enumerate("xyz"):
        vrec[name] = vertices[:, k]
    for k, name in enumerate(("red", "green", "blue")):
        vrec[name] = colors[:, k]
    vrec["alpha"] = 255
    if labels is not None:
        vrec["label"] = labels
    frec = np.zeros(len(faces), dtype=np.dtype([("n", "u1"), ("v", "<i4", (3,))]))
    frec["n"] = 3
    frec["v"] = faces
    with open(path, "wb") as fh:
        fh.write(_ply_header(len(vertices), len(faces), labels=labels is not None))
        fh.write(vrec.tobytes())
        fh.write(frec.tobytes())
    return path


# ---- annotations -------------------------------------------------------------------------
def _segments(vertex_instance: np.ndarray, seed: int) -> tuple[np.ndarray, dict[int, list[int]]]:
    """Split every instance's vertices (and the unannotated rest) into a few segments with
    sparse, non-contiguous ids below about nV, like the release's over-segmentation."""
    rng = np.random.default_rng(seed)
    n_v = len(vertex_instance)
    pieces: list[tuple[int, np.ndarray]] = []
    for inst in np.unique(vertex_instance):
        verts = np.flatnonzero(vertex_instance == inst)
        k = int(min(3, max(1, len(verts) // 8)))
        pieces += [(int(inst), part) for part in np.array_split(verts, k)]
    ids = np.sort(rng.choice(max(n_v, 4 * len(pieces)), size=len(pieces), replace=False))
    ids = ids[rng.permutation(len(ids))]
    seg = np.empty(n_v, dtype=np.int64)
    by_instance: dict[int, list[int]] = {}
    for sid, (inst, part) in zip(ids, pieces, strict=True):
        seg[part] = sid
        if inst > 0:
            by_instance.setdefault(inst, []).append(int(sid))
    return seg, by_instance


def _aggregation(scene: ReleaseScene, by_instance: dict[int, list[int]], quirks: frozenset) -> dict:
    groups = []
    for inst in sorted(by_instance):
        if inst not in scene.instance_labels:
            raise ValueError(f"{scene.scene_id}: instance {inst} has vertices but no label")
        groups.append({
            "id": inst - 1,
            "objectId": inst - 1,
            "segments": sorted(by_instance[inst]),
            "label": scene.instance_labels[inst],
        })
    if "duplicate_objects" in quirks and groups:
        # scene0217_00 lists its objects a second time with new objectIds.
        start = max(g["objectId"] for g in groups) + 1
        groups += [
            {**g, "id": start + k, "objectId": start + k, "segments": list(g["segments"])}
            for k, g in enumerate(groups)
        ]
    sid = scene.scene_id
    if "v1_aggregation" in quirks:
        return {"sceneId": sid, "segGroups": groups}
    return {
        "sceneId": f"scannet.{sid}",
        "appId": "Aggregator.v2",
        "segGroups": groups,
        "segmentsFile": f"scannet.{sid}_vh_clean_2.0.010000.segs.json",
    }


# ---- metadata ----------------------------------------------------------------------------
def _fmt(m: np.ndarray) -> str:
    return " ".join(f"{v:f}" for v in np.asarray(m, dtype=np.float64).ravel())


def _meta_txt(scene: ReleaseScene, test_split: bool, quirks: frozenset) -> str:
    cK, dK = np.asarray(scene.color_K), np.asarray(scene.depth_K)
    n = len(scene.frames)
    meta = {
        "colorHeight": str(scene.color_size[1]),
        "colorWidth": str(scene.color_size[0]),
        "depthHeight": str(scene.depth_size[1]),
        "depthWidth": str(scene.depth_size[0]),
        "fx_color": f"{cK[0, 0]:f}", "fy_color": f"{cK[1, 1]:f}",
        "mx_color": f"{cK[0, 2]:f}", "my_color": f"{cK[1, 2]:f}",
        "fx_depth": f"{dK[0, 0]:f}", "fy_depth": f"{dK[1, 1]:f}",
        "mx_depth": f"{dK[0, 2]:f}", "my_depth": f"{dK[1, 2]:f}",
        "numColorFrames": str(n + (1 if "frames_off_by_one" in quirks else 0)),
        "numDepthFrames": str(n),
        "numIMUmeasurements": "0",
        "sceneType": scene.scene_type,
    }
    if "no_color_to_depth" not in quirks:
        meta["colorToDepthExtrinsics"] = _fmt(np.eye(4))  # both .sens extrinsics are identity
    if scene.axis_alignment is not None and not test_split:
        meta["axisAlignment"] = _fmt(scene.axis_alignment)
    return "".join(f"{k} = {meta[k]}\n" for k in sorted(meta))


# ---- exported frame layouts --------------------------------------------------------------
def _mat_lines(m: np.ndarray) -> str:
    return "".join(" ".join(f"{v:f}" for v in row) + "\n" for row in np.asarray(m, np.float64))


def _k4(K: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = K
    return out


def _png16(depth_mm: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(depth_mm, dtype=np.uint16)).save(buf, format="PNG")
    return buf.getvalue()


def _pgm16(depth_mm: np.ndarray) -> bytes:
    h, w = depth_mm.shape
    # PGM with maxval > 255 stores two bytes per sample, most significant first.
    return f"P5\n{w} {h}\n65535\n".encode("ascii") + depth_mm.astype(">u2").tobytes()


def _export_python(folder: Path, scene: ReleaseScene, depth: bool = True) -> None:
    for sub in ("color", "depth", "pose", "intrinsic") if depth else ("color", "pose",
                                                                       "intrinsic"):
        (folder / sub).mkdir(exist_ok=True)
    for i, fr in enumerate(scene.frames):
        (folder / "color" / f"{i}.jpg").write_bytes(fr.color_jpeg)
        if depth:
            (folder / "depth" / f"{i}.png").write_bytes(_png16(fr.depth_mm))
        (folder / "pose" / f"{i}.txt").write_text(_mat_lines(fr.cam_to_world))
    intr = folder / "intrinsic"
    (intr / "intrinsic_color.txt").write_text(_mat_lines(_k4(scene.color_K)))
    (intr / "extrinsic_color.txt").write_text(_mat_lines(np.eye(4)))
    (intr / "intrinsic_depth.txt").write_text(_mat_lines(_k4(scene.depth_K)))
    (intr / "extrinsic_depth.txt").write_text(_mat_lines(np.eye(4)))


def _export_cxx(folder: Path, scene: ReleaseScene, depth: bool = True) -> None:
    out = folder / CXX_EXPORT_DIR
    out.mkdir(exist_ok=True)
    for i, fr in enumerate(scene.frames):
        (out / f"frame-{i:06d}.color.jpg").write_bytes(fr.color_jpeg)
        if depth:
            (out / f"frame-{i:06d}.depth.pgm").write_bytes(_pgm16(fr.depth_mm))
        (out / f"frame-{i:06d}.pose.txt").write_text(_mat_lines(fr.cam_to_world))
    info = {
        "m_versionNumber": "4",
        "m_sensorName": scene.sensor_name,
        "m_colorWidth": str(scene.color_size[0]),
        "m_colorHeight": str(scene.color_size[1]),
        "m_depthWidth": str(scene.depth_size[0]),
        "m_depthHeight": str(scene.depth_size[1]),
        "m_depthShift": "1000",
        "m_calibrationColorIntrinsic": _fmt(_k4(scene.color_K)),
        "m_calibrationColorExtrinsic": _fmt(np.eye(4)),
        "m_calibrationDepthIntrinsic": _fmt(_k4(scene.depth_K)),
        "m_calibrationDepthExtrinsic": _fmt(np.eye(4)),
        "m_frames.size": str(len(scene.frames)),
    }
    (out / "_info.txt").write_text("".join(f"{k} = {v}\n" for k, v in info.items()))


def _export_posed_images(root: Path, scene: ReleaseScene) -> None:
    out = Path(root) / POSED_IMAGES_DIR / scene.scene_id
    out.mkdir(parents=True, exist_ok=True)
    for i, fr in enumerate(scene.frames):
        (out / f"{i:05d}.jpg").write_bytes(fr.color_jpeg)
        (out / f"{i:05d}.txt").write_text(_mat_lines(fr.cam_to_world))
    (out / "intrinsic.txt").write_text(_mat_lines(_k4(scene.color_K)))


# ---- public ------------------------------------------------------------------------------
def write_release_scene(
    root: Path,
    scene: ReleaseScene,
    *,
    test_split: bool = False,
    quirks: frozenset[str] = frozenset(),
    seed: int = 0,
    nyu40_of: Mapping[str, int] | None = None,
) -> Path:
    """Write ``scene`` under ``<root>/scans/<scene_id>/`` (``scans_test/`` when ``test_split``).

    Train/val scenes get ``.sens``, ``.txt``, ``_vh_clean.ply`` (same mesh as the decimated
    one), ``_vh_clean_2.ply``, ``_vh_clean_2.labels.ply`` (label = ``nyu40_of[raw label]`` or
    0), ``_vh_clean_2.0.010000.segs.json`` and ``.aggregation.json``. Test scenes get only the
    ``.sens``, both meshes and a ``.txt`` without ``axisAlignment``. ``quirks`` (subset of
    ``QUIRKS``, see the module docstring) add the release's known defects or other frame
    layouts (``no_sens`` leaves the ``.sens`` out); ``seed`` fixes the segment ids. Returns the
    scene folder.
    """
    bad = set(quirks) - QUIRKS
    if bad:
        raise UnknownNameError("quirk", sorted(bad)[0], sorted(QUIRKS))
    quirks = frozenset(quirks)
    sid = scene.scene_id
    folder = Path(root) / ("scans_test" if test_split else "scans") / sid
    folder.mkdir(parents=True, exist_ok=True)
    verts = np.asarray(scene.vertices, dtype=np.float32)
    colors = np.asarray(scene.vertex_colors, dtype=np.uint8)
    faces = np.asarray(scene.faces, dtype=np.int32)
    vinst = np.asarray(scene.vertex_instance, dtype=np.int32)
    if vinst.shape != (len(verts),):
        raise ValueError(f"{sid}: vertex_instance shape {vinst.shape} != ({len(verts)},)")

    if quirks & FRAME_EXPORTS:
        # the exports read every frame again: render each once (frames may render lazily)
        scene = replace(scene, frames=list(scene.frames))
    if "no_sens" not in quirks:
        write_sens(
            folder / f"{sid}.sens",
            color_K=scene.color_K,
            depth_K=scene.depth_K,
            color_size=scene.color_size,
            depth_size=scene.depth_size,
            frames=((f.cam_to_world,
                     f.color_jpeg[: len(f.color_jpeg) // 2]
                     if "corrupt_jpeg" in quirks and i % CORRUPT_JPEG_EVERY == 0
                     else f.color_jpeg,
                     f.depth_mm) for i, f in enumerate(scene.frames)),
            sensor_name=scene.sensor_name,
        )
    (folder / f"{sid}.txt").write_text(_meta_txt(scene, test_split, quirks))
    write_ply(folder / f"{sid}_vh_clean_2.ply", verts, colors, faces)
    write_ply(folder / f"{sid}_vh_clean.ply", verts, colors, faces)
    if not test_split:
        seg, by_instance = _segments(vinst, seed)
        segs = {"params": SEGS_PARAMS, "sceneId": sid, "segIndices": seg.tolist()}
        (folder / f"{sid}_vh_clean_2.0.010000.segs.json").write_text(json.dumps(segs))
        agg = _aggregation(scene, by_instance, quirks)
        (folder / f"{sid}.aggregation.json").write_text(json.dumps(agg, indent=1))
        nyu = nyu40_of or {}
        lab = np.zeros(len(verts), dtype=np.uint16)
        for inst, label in scene.instance_labels.items():
            lab[vinst == inst] = int(nyu.get(label, 0))
        write_ply(folder / f"{sid}_vh_clean_2.labels.ply", verts, colors, faces, labels=lab)
    if quirks & PYTHON_EXPORTS:
        _export_python(folder, scene, depth="export_python" in quirks)
    if quirks & CXX_EXPORTS:
        _export_cxx(folder, scene, depth="export_cxx" in quirks)
    if "posed_images" in quirks:
        _export_posed_images(root, scene)
    return folder


def write_label_table(root: Path, rows: list[LabelRow]) -> Path:
    """Write ``<root>/scannetv2-labels.combined.tsv`` with the release's 17 columns (columns
    not in ``LabelRow`` are left empty)."""
    path = Path(root) / LABEL_TSV_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(LABEL_TSV_COLUMNS)
        for r in rows:
            vals = {"id": r.id, "raw_category": r.raw_category, "category": r.category,
                    "count": r.count, "nyu40id": r.nyu40id, "nyu40class": r.nyu40class}
            w.writerow([vals.get(c, "") for c in LABEL_TSV_COLUMNS])
    return path


def write_split_lists(root: Path, splits: dict[str, list[str]]) -> list[Path]:
    """Write ``<root>/Tasks/Benchmark/scannetv2_{train,val,test}.txt``, one id per line."""
    out_dir = Path(root) / "Tasks" / "Benchmark"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, ids in splits.items():
        if name not in SPLITS:
            raise UnknownNameError("split", name, SPLITS)
        path = out_dir / f"scannetv2_{name}.txt"
        path.write_text("".join(f"{i}\n" for i in ids))
        paths.append(path)
    return paths
