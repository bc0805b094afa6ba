"""The sharded HDF5 schema: the one declaration of every stored field (``docs/data_format.md``).

Every table is an HDF5 group of 1-D columns (one dataset per column, same length per table;
a column may have a fixed per-row shape, e.g. ``K`` is (N, 3, 3)). Four storage kinds:

* ``array``: a numeric dataset of shape (N, *row_shape).
* ``str``: variable-length UTF-8 strings (small vocabularies: categories, levels, ids).
* ``text``: long text (questions, JSON) as one ``uint8`` UTF-8 blob ``<name>`` plus
  ``<name>_offsets`` (int64, N + 1); row i is ``blob[off[i]:off[i+1]]``. HDF5 compresses the
  blob, and a random row read is a single slice.
* ``ragged``: variable-length lists of numbers, the same blob/offsets layout with numeric
  values of a fixed per-element shape (e.g. occluders are (M, 2) int64 rows).

Joins use row indices within the same shard: ``*_row`` columns point into another table.
Missing values: ``NaN`` for absent floats/boxes, ``-1`` for absent integer ids, ``""`` for an
absent string.

Each column below is declared once with its storage, where the writer takes its value and how
the reader rebuilds the record's field (column types in ``mosaic.io.columns``): the shard
writer and the reader loop over these tables, so storing a new field of a record is the
dataclass attribute plus one line here. The order of the columns is the order of the datasets
in a shard.
"""


from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..structures import Frame, ObjectVisibility, QAItem, ViewVisibility
from .columns import (
    Column,
    Table,
    array,
    blob,
    box,
    flag,
    ints,
    json_text,
    link,
    number,
    optional_float,
    optional_id,
    text,
    vocab,
)

SCHEMA_VERSION = "1.1"  # 1.1: SpatialMosaic's level values (docs/data_format.md)
COMPRESSION = "gzip"
COMPRESSION_OPTS = 4


@dataclass(frozen=True)
class ViewRow:
    """What one ``views/`` row is written from.

    Attributes:
        frame: the scene's frame (intrinsics, pose, image size).
        labels: the view's visibility (frame id, labelling scale, per-object records).
        pose_error: median depth error (m) of the pose check, NaN when not checked.
        image_path: image path relative to the dataset root.
        image: encoded colour bytes to embed (empty unless embedding).
    """

    frame: Frame
    labels: ViewVisibility
    pose_error: float
    image_path: str
    image: bytes


@dataclass(frozen=True)
class ViewRecord:
    """One frame of a question, as stored in ``views/``.

    Attributes:
        frame_id: source frame number.
        K: (3, 3) float64 colour intrinsics for ``width`` x ``height``.
        cam_to_world: (4, 4) float64 OpenCV camera to world (z-up, metres).
        width, height: colour image size (pixels).
        image_path: image path relative to the dataset root.
        pose_error: median |rendered - sensor depth| (m), NaN when not checked.
    """

    frame_id: int
    K: np.ndarray
    cam_to_world: np.ndarray
    width: int
    height: int
    image_path: str
    pose_error: float


def scene_info(rec: Any) -> dict[str, Any]:
    """``scenes/info`` of a ``SceneRecord``: frames left out (and why), warnings, metadata."""
    scene = rec.scene
    return {
        "skipped_frames": [
            {"frame_id": int(s.frame_id), "reason": s.reason} for s in scene.skipped_frames
        ],
        "rejected_frames": rec.rejected,
        "unchecked_frames": rec.unchecked,
        "warnings": list(scene.warnings),
        "meta": scene.meta,
    }


# Rows are written from a SceneRecord (mosaic.io.shard_writer), not read back as a record.
SCENES = Table("scenes", (
    vocab("scene_id", "scene id, e.g. scene0000_00", "scene.scene_id"),
    vocab("source", "source name (scannet, ...)", "scene.source"),
    vocab("split", "the source's official split (train, val, test) or empty",
          lambda r: r.scene.split or ""),
    number("n_frames", "int64", "usable frames (finite pose) in the source",
           lambda r: len(r.scene.frames)),
    number("n_skipped", "int64", "frames dropped while reading (e.g. non-finite pose)",
           lambda r: len(r.scene.skipped_frames)),
    number("n_sampled", "int64", "frames kept by frame_step subsampling"),
    number("n_rejected", "int64", "sampled frames rejected by the pose check",
           lambda r: len(r.rejected)),
    number("n_views", "int64", "views stored in views/ (frames used by at least one question)",
           lambda r: len(r.views)),
    number("n_objects", "int64", "rows in objects/", lambda r: len(r.scene.objects)),
    number("n_qa", "int64", "rows in qa/", lambda r: len(r.qa)),
    array("axis_alignment", "float64", (4, 4), "transform applied to raw mesh and poses",
          "scene.axis_alignment"),
    json_text("info", "JSON: skipped, rejected and unchecked (no pose check) frames with "
              "reasons, warnings, source meta", scene_info),
))

# Rows are written from a ViewRow and read back as a ViewRecord.
VIEWS = Table("views", (
    link("scene_row", "int32", "row in scenes/"),
    number("frame_id", "int64", "source frame number", "labels.frame_id"),
    array("K", "float64", (3, 3), "colour intrinsics for width x height (pixels)", "frame.K"),
    array("cam_to_world", "float64", (4, 4), "OpenCV camera to world (z-up, metres)",
          "frame.cam_to_world"),
    number("width", "int32", "colour image width (pixels)", "frame.width"),
    number("height", "int32", "colour image height (pixels)", "frame.height"),
    number("scale", "float64", "labelling pixels per original pixel", "labels.scale",
           field=None),
    number("pose_error", "float64", "median |rendered - sensor depth| (m); NaN = not checked"),
    link("vis_start", "int64", "first row of this view in visibility/"),
    number("vis_count", "int64", "number of visibility/ rows of this view",
           lambda r: len(r.labels.objects), field=None),
    text("image_path", "image file relative to the dataset root (images/<scene>/<frame>.jpg)"),
    blob("image", "encoded colour bytes as stored by the source (with --embed-images)",
         field=None, optional=True),
), record=ViewRecord)

# Rows are written from a SceneObject (its oriented box flattened into three columns).
OBJECTS = Table("objects", (
    link("scene_row", "int32", "row in scenes/"),
    number("instance_id", "int64", "instance id (objectId + 1)"),
    vocab("label", "raw category string"),
    vocab("category", "category used in questions"),
    optional_id("nyu40_id", "int32", "NYU40 class id, -1 = none"),
    optional_id("scannet200_id", "int32", "ScanNet200 class id, -1 = none"),
    array("aabb_min", "float64", (3,), "axis-aligned box minimum (world, m)"),
    array("aabb_max", "float64", (3,), "axis-aligned box maximum (world, m)"),
    array("obb_center", "float64", (3,), "oriented box centre (world, m)", "obb.center"),
    array("obb_extent", "float64", (3,), "oriented box full side lengths (m)", "obb.extent"),
    array("obb_rotation", "float64", (3, 3), "column k = box axis k in world coordinates",
          "obb.rotation"),
    number("n_faces", "int64", "mesh faces carrying this instance id"),
    flag("structural", "1 for wall / floor / ceiling (never a target)"),
))

# Rows are written from and read back as ObjectVisibility.
VISIBILITY = Table("visibility", (
    link("view_row", "int64", "row in views/"),
    number("instance_id", "int64", "instance id"),
    number("visible_px", "int64", "V: first-hit pixels of the object (labelling resolution)"),
    number("amodal_px_in", "int64", "A_in: pixels the object alone covers inside the image"),
    number("amodal_px_total", "int64",
           "A_tot: pixels the object alone covers, unbounded plane"),
    number("truncation", "float64", "1 - A_in / A_tot"),
    number("occlusion", "float64", "1 - V / A_in"),
    number("visible_ratio", "float64", "V / A_tot"),
    box("bbox_visible", 4, "x0,y0,x1,y1 of visible pixels (original px); NaN"),
    box("bbox_amodal", 4, "x0,y0,x1,y1 of the clipped amodal projection; NaN"),
    box("center_visible", 2, "centre of bbox_visible (original px); NaN"),
    number("depth_median", "float64", "median camera depth of visible pixels (m); NaN"),
    ints("occluders", "(instance_id, pixel_count) rows, most pixels first", shape=(2,)),
    vocab("state", "invisible | full | occluded | truncated | occluded+truncated"),
    vocab("occ_level", "low | medium | high | very high (bin of 1 - visible_ratio)"),
    flag("visible", "1 when counted as visible"),
), record=ObjectVisibility)

# Rows are written from and read back as QAItem (scene_id through scene_row).
QA = Table("qa", (
    vocab("id", "unique deterministic id"),
    link("scene_row", "int32", "row in scenes/"),
    vocab("question_type", "one of the 17 question types"),
    vocab("family", "the type's family"),
    ints("frame_ids", "source frame numbers in the order shown (Frame 1 first)"),
    link("view_rows", "int64", "rows in views/ of frame_ids, same order", ragged=True),
    text("question", "question text"),
    json_text("options", "JSON list of option texts without letters ([] for open answers)",
              after=tuple),
    vocab("answer", "correct letter, or the value for open-answer types"),
    vocab("ground_truth", "answer value as a string"),
    number("overlap_avg", "float64", "mean pairwise view overlap (percent)"),
    vocab("overlap_level", "low | medium | high (bin of overlap_avg)"),
    number("occlusion_avg", "float64", "mean 1 - visible_ratio of the targets"),
    vocab("occ_level", "low | medium | high | very high (bin of occlusion_avg)"),
    vocab("vis_level", "Fully Visible | Partially Visible"),
    vocab("coverage", "Full Coverage | Partial Coverage (SpatialMosaic's GT Scenario)"),
    box("bbox_2d", 4, "x0,y0,x1,y1 for localization (original px); NaN"),
    optional_float("bbox_2d_diag", "diagonal of bbox_2d (px); NaN"),
    ints("targets", "instance ids the answer is about"),
    vocab("template_id", "paraphrase template id"),
    number("seed", "int64", "scene-level seed the item was drawn with"),
    json_text("evidence", "JSON: visibility figures the answer was derived from"),
), record=QAItem, joined=("scene_id",))

SCHEMA: dict[str, Table] = {t.name: t for t in (SCENES, VIEWS, OBJECTS, VISIBILITY, QA)}


def column(table: str, name: str) -> Column:
    """The column spec of ``table/name`` (KeyError when absent)."""
    return SCHEMA[table].column(name)
