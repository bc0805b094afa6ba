"""The sharded HDF5 schema: tables, columns, dtypes (documented in ``docs/data_format.md``).

Every table is an HDF5 group of 1-D columns (one dataset per column, same length per table;
a column may have a fixed per-row shape, e.g. ``K`` is (N, 3, 3)). Three storage kinds:

* ``array``: a numeric dataset of shape (N, *row_shape).
* ``str``: variable-length UTF-8 strings (small vocabularies: categories, levels, ids).
* ``text``: long text (questions, JSON) as one ``uint8`` UTF-8 blob ``<name>`` plus
  ``<name>_offsets`` (int64, N + 1); row i is ``blob[off[i]:off[i+1]]``. HDF5 compresses the
  blob, and a random row read is a single slice (engineering.md section 5).
* ``ragged``: variable-length lists of numbers, the same blob/offsets layout with numeric
  values of a fixed per-element shape (e.g. occluders are (M, 2) int64 rows).

Joins use row indices within the same shard: ``*_row`` columns point into another table.
Missing values: ``NaN`` for absent floats/boxes, ``-1`` for absent integer ids, ``""`` for an
absent string.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = "1.1"  # 1.1: SpatialMosaic's level values (docs/data_format.md)
COMPRESSION = "gzip"
COMPRESSION_OPTS = 4
TABLES = ("scenes", "views", "objects", "visibility", "qa")


@dataclass(frozen=True)
class Column:
    """One column of a table.

    Attributes:
        name: dataset name inside the table group.
        kind: ``array`` | ``str`` | ``text`` | ``ragged``.
        dtype: numpy dtype of the values (``uint8`` for text blobs; unused for ``str``).
        shape: per-row (``array``) or per-element (``ragged``) trailing shape.
        optional: present only in some datasets (e.g. embedded images).
        doc: one-line meaning, units and frames.
    """

    name: str
    kind: str
    dtype: str = ""
    shape: tuple[int, ...] = ()
    optional: bool = False
    doc: str = ""


def _a(name: str, dtype: str, doc: str, shape: tuple[int, ...] = ()) -> Column:
    return Column(name, "array", dtype, shape, doc=doc)


def _s(name: str, doc: str) -> Column:
    return Column(name, "str", doc=doc)


def _t(name: str, doc: str, optional: bool = False) -> Column:
    return Column(name, "text", "uint8", optional=optional, doc=doc)


def _r(name: str, dtype: str, doc: str, shape: tuple[int, ...] = ()) -> Column:
    return Column(name, "ragged", dtype, shape, doc=doc)


SCHEMA: dict[str, tuple[Column, ...]] = {
    "scenes": (
        _s("scene_id", "scene id, e.g. scene0000_00"),
        _s("source", "source name (scannet, ...)"),
        _s("split", "the source's official split (train, val, test) or empty"),
        _a("n_frames", "int64", "usable frames (finite pose) in the source"),
        _a("n_skipped", "int64", "frames dropped while reading (e.g. non-finite pose)"),
        _a("n_sampled", "int64", "frames kept by frame_step subsampling"),
        _a("n_rejected", "int64", "sampled frames rejected by the pose check"),
        _a("n_views", "int64", "views stored in views/ (frames used by at least one question)"),
        _a("n_objects", "int64", "rows in objects/"),
        _a("n_qa", "int64", "rows in qa/"),
        _a("axis_alignment", "float64", "transform applied to raw mesh and poses", (4, 4)),
        _t("info", "JSON: skipped, rejected and unchecked (no pose check) frames with reasons, "
           "warnings, source meta"),
    ),
    "views": (
        _a("scene_row", "int32", "row in scenes/"),
        _a("frame_id", "int64", "source frame number"),
        _a("K", "float64", "colour intrinsics for width x height (pixels)", (3, 3)),
        _a("cam_to_world", "float64", "OpenCV camera to world (z-up, metres)", (4, 4)),
        _a("width", "int32", "colour image width (pixels)"),
        _a("height", "int32", "colour image height (pixels)"),
        _a("scale", "float64", "labelling pixels per original pixel"),
        _a("pose_error", "float64", "median |rendered - sensor depth| (m); NaN = not checked"),
        _a("vis_start", "int64", "first row of this view in visibility/"),
        _a("vis_count", "int64", "number of visibility/ rows of this view"),
        _t("image_path", "image file relative to the dataset root (images/<scene>/<frame>.jpg)"),
        _t("image", "encoded colour bytes as stored by the source (with --embed-images)", True),
    ),
    "objects": (
        _a("scene_row", "int32", "row in scenes/"),
        _a("instance_id", "int64", "instance id (objectId + 1)"),
        _s("label", "raw category string"),
        _s("category", "category used in questions"),
        _a("nyu40_id", "int32", "NYU40 class id, -1 = none"),
        _a("scannet200_id", "int32", "ScanNet200 class id, -1 = none"),
        _a("aabb_min", "float64", "axis-aligned box minimum (world, m)", (3,)),
        _a("aabb_max", "float64", "axis-aligned box maximum (world, m)", (3,)),
        _a("obb_center", "float64", "oriented box centre (world, m)", (3,)),
        _a("obb_extent", "float64", "oriented box full side lengths (m)", (3,)),
        _a("obb_rotation", "float64", "column k = box axis k in world coordinates", (3, 3)),
        _a("n_faces", "int64", "mesh faces carrying this instance id"),
        _a("structural", "uint8", "1 for wall / floor / ceiling (never a target)"),
    ),
    "visibility": (
        _a("view_row", "int64", "row in views/"),
        _a("instance_id", "int64", "instance id"),
        _a("visible_px", "int64", "V: first-hit pixels of the object (labelling resolution)"),
        _a("amodal_px_in", "int64", "A_in: pixels the object alone covers inside the image"),
        _a("amodal_px_total", "int64", "A_tot: pixels the object alone covers, unbounded plane"),
        _a("truncation", "float64", "1 - A_in / A_tot"),
        _a("occlusion", "float64", "1 - V / A_in"),
        _a("visible_ratio", "float64", "V / A_tot"),
        _a("bbox_visible", "float64", "x0,y0,x1,y1 of visible pixels (original px); NaN", (4,)),
        _a("bbox_amodal", "float64", "x0,y0,x1,y1 of the clipped amodal projection; NaN", (4,)),
        _a("center_visible", "float64", "centre of bbox_visible (original px); NaN", (2,)),
        _a("depth_median", "float64", "median camera depth of visible pixels (m); NaN"),
        _r("occluders", "int64", "(instance_id, pixel_count) rows, most pixels first", (2,)),
        _s("state", "invisible | full | occluded | truncated | occluded+truncated"),
        _s("occ_level", "low | medium | high | very high (bin of 1 - visible_ratio)"),
        _a("visible", "uint8", "1 when counted as visible"),
    ),
    "qa": (
        _s("id", "unique deterministic id"),
        _a("scene_row", "int32", "row in scenes/"),
        _s("question_type", "one of the 17 question types"),
        _s("family", "the type's family"),
        _r("frame_ids", "int64", "source frame numbers in the order shown (Frame 1 first)"),
        _r("view_rows", "int64", "rows in views/ of frame_ids, same order"),
        _t("question", "question text"),
        _t("options", "JSON list of option texts without letters ([] for open answers)"),
        _s("answer", "correct letter, or the value for open-answer types"),
        _s("ground_truth", "answer value as a string"),
        _a("overlap_avg", "float64", "mean pairwise view overlap (percent)"),
        _s("overlap_level", "low | medium | high (bin of overlap_avg)"),
        _a("occlusion_avg", "float64", "mean 1 - visible_ratio of the targets"),
        _s("occ_level", "low | medium | high | very high (bin of occlusion_avg)"),
        _s("vis_level", "Fully Visible | Partially Visible"),
        _s("coverage", "Full Coverage | Partial Coverage (SpatialMosaic's GT Scenario)"),
        _a("bbox_2d", "float64", "x0,y0,x1,y1 for localization (original px); NaN", (4,)),
        _a("bbox_2d_diag", "float64", "diagonal of bbox_2d (px); NaN"),
        _r("targets", "int64", "instance ids the answer is about"),
        _s("template_id", "paraphrase template id"),
        _a("seed", "int64", "scene-level seed the item was drawn with"),
        _t("evidence", "JSON: visibility figures the answer was derived from"),
    ),
}


def column(table: str, name: str) -> Column:
    """The column spec of ``table/name`` (KeyError when absent)."""
    for col in SCHEMA[table]:
        if col.name == name:
            return col
    raise KeyError(f"{table}/{name}")
