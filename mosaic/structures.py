"""Plain data structures of the annotation API.

Conventions (stated once, used everywhere; see ``docs/conventions.md``):

* World frame: metric (metres), +z up, the source's axis-aligned frame (for ScanNet the mesh and
  poses after ``axisAlignment``).
* Camera frame: OpenCV (x right, y down, z forward). ``cam_to_world`` maps camera coordinates
  to world coordinates; a pixel (u, v) of a world point X is ``K @ (R.T @ (X - t))`` after the
  perspective divide, with (R, t) the rotation and translation of ``cam_to_world``.
* Pixel coordinates: (x, y) = (column, row); the centre of the top-left pixel is (0.5, 0.5)
  in continuous coordinates, i.e. ray for pixel (i, j) goes through (j + 0.5, i + 0.5).
* Instance ids: ScanNet benchmark convention ``objectId + 1``; 0 = unannotated geometry;
  -1 in per-pixel buffers = the ray hit nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from .families import FAMILY_SPECS

# Question families and the 17 question types (docs/tasks.md), from their registrations in
# mosaic/families.py: six SpatialMosaic families plus the numeric extras.
FAMILIES: dict[str, tuple[str, ...]] = {s.name: s.types for s in FAMILY_SPECS.specs()}
QA_TYPES: tuple[str, ...] = tuple(t for types in FAMILIES.values() for t in types)
FAMILY_OF: dict[str, str] = {t: fam for fam, types in FAMILIES.items() for t in types}
# Open-answer types, as SpatialMosaic's evaluation groups them: numbers (scored by relative
# accuracy) and points (scored by distance); every other type is multiple choice.
NUMERIC_TYPES = frozenset(
    {"obj_count_occ_na", "obj_distance_occ_na", "obj_obj_distance_occ_na", "obj_size_occ_na"}
)
POINT_TYPES = frozenset({"obj_localization_occ_na"})

# Visibility states and occlusion levels (docs/concepts.md).
STATES = ("invisible", "full", "occluded", "truncated", "occluded+truncated")
# Per-item diagnostics with SpatialMosaic's values (docs/data_format.md, "Diagnostic values"):
# 4 occlusion levels where no occlusion is "low", 2 visibility levels, 2 coverage levels.
OCC_LEVELS = ("low", "medium", "high", "very high")
VIS_LEVELS = ("Fully Visible", "Partially Visible")
COVERAGE_LEVELS = ("Full Coverage", "Partial Coverage")


def occlusion_bin(occlusion: float, bins: Sequence[float]) -> str:
    """The ``OCC_LEVELS`` bin of an occlusion in [0, 1] with increasing edges ``bins``:
    [0, b0) low, [b0, b1) medium, ... (0 is low)."""
    return OCC_LEVELS[bisect.bisect_right(bins, occlusion)]


# letters of multiple-choice options, in order (QAItem.answer is one of them)
OPTION_LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True)
class OrientedBox:
    """An oriented 3D box in world coordinates (metres).

    Attributes:
        center: (3,) float64 box centre.
        extent: (3,) float64 full side lengths along the box axes.
        rotation: (3, 3) float64; column k is box axis k expressed in world coordinates.
    """

    center: np.ndarray
    extent: np.ndarray
    rotation: np.ndarray

    def corners(self) -> np.ndarray:
        """(8, 3) float64 corners in world coordinates."""
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
        return self.center + (signs * (self.extent / 2.0)) @ self.rotation.T


@dataclass(frozen=True)
class SceneObject:
    """One annotated instance.

    Attributes:
        instance_id: ScanNet benchmark convention ``objectId + 1`` (>= 1).
        label: raw category string as annotated (e.g. ``"office chair"``).
        category: the name used in questions (the label table's ``category`` column when a
            table is available, else the raw label).
        nyu40_id: NYU40 class id from the label table, or None without a table.
        scannet200_id: the label table ``id`` when it is one of the ScanNet200 classes, or None.
        aabb_min, aabb_max: (3,) float64 axis-aligned box of the instance's faces (world).
        obb: oriented box (world); minimum-area box about z for ScanNet.
        n_faces: number of mesh faces carrying this instance id.
        structural: wall / floor / ceiling; occludes but is never a question target.
    """

    instance_id: int
    label: str
    category: str
    nyu40_id: int | None
    scannet200_id: int | None
    aabb_min: np.ndarray
    aabb_max: np.ndarray
    obb: OrientedBox
    n_faces: int
    structural: bool = False

    @property
    def center(self) -> np.ndarray:
        """(3,) float64 centre of the axis-aligned box (world, metres)."""
        return (self.aabb_min + self.aabb_max) / 2.0

    @property
    def size(self) -> np.ndarray:
        """(3,) float64 side lengths of the oriented box (metres)."""
        return self.obb.extent


@dataclass(frozen=True)
class Frame:
    """One camera frame with a finite pose.

    Attributes:
        frame_id: the source's own frame number (ScanNet: index in the ``.sens``).
        K: (3, 3) float64 colour intrinsics for a ``width`` x ``height`` image.
        cam_to_world: (4, 4) float64 OpenCV camera to world (aligned world frame).
        width, height: colour image size in pixels.
    """

    frame_id: int
    K: np.ndarray
    cam_to_world: np.ndarray
    width: int
    height: int


def scaled_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """(3, 3) intrinsics of the same camera after resizing its image by (sx, sy)."""
    return np.diag([sx, sy, 1.0]) @ K


@dataclass(frozen=True)
class DepthImage:
    """A sensor depth image.

    Attributes:
        depth: (h, w) float32 metres along the camera z axis, 0 = invalid.
        K: (3, 3) float64 depth intrinsics for this (w, h).
    """

    depth: np.ndarray
    K: np.ndarray


@dataclass(frozen=True)
class SkippedFrame:
    """A frame that exists in the source but is not usable, with the reason."""

    frame_id: int
    reason: str


class FrameStore(Protocol):
    """Random access to a scene's per-frame sensor data (no whole-sequence decode).

    A store whose frames may lack depth (colour-only exports, cameras without a depth sensor)
    also has ``has_depth(frame_id) -> bool``; the pose check then reports those frames as
    not checked instead of reading depth. Stores without it have depth for every frame.
    """

    def read_color(self, frame_id: int) -> bytes:
        """The colour image's encoded bytes as stored (JPEG for ScanNet)."""
        ...

    def read_depth(self, frame_id: int) -> DepthImage:
        """The depth image in metres with its own intrinsics."""
        ...


@dataclass(frozen=True, eq=False)
class Scene:
    """A scene: mesh with instance labels, objects, and posed frames.

    Attributes:
        scene_id: e.g. ``"scene0000_00"``.
        source: source name (``"scannet"``, ...).
        vertices: (V, 3) float32 world coordinates (z up, metres, axis-aligned frame).
        faces: (F, 3) int32 vertex indices.
        vertex_colors: (V, 3) uint8 RGB.
        face_instance: (F,) int32 instance id per face (0 = unannotated).
        objects: one entry per instance id present in ``face_instance`` (sorted by id).
        frames: frames with a finite pose, sorted by ``frame_id``.
        skipped_frames: frames dropped while reading (e.g. non-finite pose), with reasons.
        split: the source's official split (``"train"``, ``"val"``, ``"test"``) or None.
        axis_alignment: (4, 4) float64 transform applied to the raw mesh and poses.
        warnings: non-fatal oddities met while reading (each names the file).
        store: random access to colour and depth; None for scenes built in memory.
        meta: free-form source metadata (e.g. ``sceneType``).
    """

    scene_id: str
    source: str
    vertices: np.ndarray
    faces: np.ndarray
    vertex_colors: np.ndarray
    face_instance: np.ndarray
    objects: tuple[SceneObject, ...]
    frames: tuple[Frame, ...]
    skipped_frames: tuple[SkippedFrame, ...] = ()
    split: str | None = None
    axis_alignment: np.ndarray = field(default_factory=lambda: np.eye(4))
    warnings: tuple[str, ...] = ()
    store: FrameStore | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def frame(self, frame_id: int) -> Frame:
        """The frame with this source frame number (KeyError if absent or skipped)."""
        idx = self._frame_index.get(int(frame_id))
        if idx is None:
            raise KeyError(f"scene {self.scene_id} has no usable frame {frame_id}")
        return self.frames[idx]

    def object(self, instance_id: int) -> SceneObject:
        """The object with this instance id (KeyError if absent)."""
        for obj in self.objects:
            if obj.instance_id == instance_id:
                return obj
        raise KeyError(f"scene {self.scene_id} has no instance {instance_id}")

    def read_color(self, frame_id: int) -> bytes:
        """Encoded colour bytes of one frame (JPEG for ScanNet), read on demand."""
        if self.store is None:
            raise KeyError(f"scene {self.scene_id} has no frame store")
        return self.store.read_color(int(frame_id))

    def read_depth(self, frame_id: int) -> DepthImage:
        """Sensor depth of one frame (metres, 0 = invalid), read on demand."""
        if self.store is None:
            raise KeyError(f"scene {self.scene_id} has no frame store")
        return self.store.read_depth(int(frame_id))

    @cached_property
    def _frame_index(self) -> dict[int, int]:
        return {f.frame_id: i for i, f in enumerate(self.frames)}

    @cached_property
    def face_areas(self) -> np.ndarray:
        """(F,) float64 triangle areas in square metres."""
        tri = self.vertices[self.faces].astype(np.float64)
        return 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)


@dataclass(frozen=True)
class ObjectVisibility:
    """Visibility labels of one object in one view (definitions: docs/concepts.md).

    Pixel counts are at the labelling resolution; boxes and centres are in original-frame
    pixel coordinates (x right, y down).

    Attributes:
        instance_id: the object's instance id.
        visible_px: V, first-hit pixels belonging to the object.
        amodal_px_in: A_in, pixels the object alone would cover inside the image.
        amodal_px_total: A_tot, pixels the object alone would cover on an unbounded image plane
            (geometry in front of the camera's near plane only).
        truncation: 1 - A_in / A_tot.
        occlusion: 1 - V / A_in.
        visible_ratio: V / A_tot.
        bbox_visible: (x0, y0, x1, y1) of visible pixels, or None when V = 0.
        bbox_amodal: (x0, y0, x1, y1) of the amodal projection clipped to the image, or None.
        center_visible: centre of ``bbox_visible`` or None.
        depth_median: median camera depth (m) of visible pixels, NaN when V = 0.
        occluders: ((instance_id, pixel_count), ...) seen where the object is amodally present
            but not visible, most pixels first (-1 never appears; 0 = unannotated geometry).
        state: one of ``STATES``.
        occ_level: one of ``OCC_LEVELS`` (bins of 1 - visible_ratio).
        visible: V >= min_visible_px, and visible_ratio >= min_visible_ratio or V covers
            at least ``large_visible_frac`` of the labelling image.
    """

    instance_id: int
    visible_px: int
    amodal_px_in: int
    amodal_px_total: int
    truncation: float
    occlusion: float
    visible_ratio: float
    bbox_visible: tuple[float, float, float, float] | None
    bbox_amodal: tuple[float, float, float, float] | None
    center_visible: tuple[float, float] | None
    depth_median: float
    occluders: tuple[tuple[int, int], ...]
    state: str
    occ_level: str
    visible: bool


@dataclass(frozen=True, eq=False)
class ViewVisibility:
    """Ray-cast visibility of one view.

    Attributes:
        frame_id: source frame number.
        instance_buffer: (h, w) int32 first-hit instance id (0 unannotated, -1 miss).
        depth: (h, w) float32 first-hit camera depth in metres (0 = miss).
        face_buffer: (h, w) int32 first-hit face index (-1 = miss).
        scale: labelling pixels per original pixel (w / frame.width).
        objects: one record per non-structural instance with an amodal footprint inside the
            image (amodal_px_in > 0), sorted by instance id. An object projecting entirely
            outside the image, or lying behind the camera, has no record.
        visible_faces: sorted int64 ids of faces of non-structural annotated objects
            (instance >= 1) hit by at least one ray (used for view overlap).
    """

    frame_id: int
    instance_buffer: np.ndarray
    depth: np.ndarray
    face_buffer: np.ndarray
    scale: float
    objects: tuple[ObjectVisibility, ...]
    visible_faces: np.ndarray

    def get(self, instance_id: int) -> ObjectVisibility | None:
        """The record of one instance, or None when it has no footprint in this view."""
        return self.by_id.get(int(instance_id))

    @cached_property
    def by_id(self) -> dict[int, ObjectVisibility]:
        """instance id -> record, for every object with a footprint in this view."""
        return {o.instance_id: o for o in self.objects}

    def visible_ids(self) -> list[int]:
        """Instance ids counted as visible in this view."""
        return [o.instance_id for o in self.objects if o.visible]


@dataclass(frozen=True)
class QAItem:
    """One generated question with its answer, diagnostics and provenance.

    Attributes:
        id: unique, deterministic id (``<scene>-<type>-<hash>``).
        scene_id: scene the frames come from.
        question_type: one of ``QA_TYPES``.
        family: the type's family (``FAMILY_OF``).
        frame_ids: source frame numbers, in the order shown ("Frame 1" first).
        question: the question text.
        options: option texts without letters (empty for open-answer ``*_na`` types).
        answer: the correct letter (``"A"``..) or, for open-answer types, the value string.
        ground_truth: the answer value as a string (a number, ``"(x,y)"``, ``"Yes"``...).
        overlap_avg: mean pairwise view overlap of the set, percent.
        overlap_level: bin of ``overlap_avg``.
        occlusion_avg: mean 1 - visible_ratio of the targets over frames where they appear.
        occ_level: one of ``OCC_LEVELS``, bin of ``occlusion_avg``.
        vis_level: one of ``VIS_LEVELS`` (``"Fully Visible"`` when every target is fully
            visible in some frame, else ``"Partially Visible"``).
        coverage: one of ``COVERAGE_LEVELS`` (``"Full Coverage"`` when every instance of the
            asked categories is visible in the set); exported as SpatialMosaic's
            ``GT Scenario``.
        bbox_2d: (x0, y0, x1, y1) original-frame pixels for localization, else None.
        bbox_2d_diag: diagonal of ``bbox_2d`` in pixels, else None.
        targets: instance ids the answer is about.
        template_id: id of the paraphrase template used.
        seed: the scene-level seed the item was drawn with.
        evidence: JSON-serialisable visibility figures the answer was derived from.
    """

    id: str
    scene_id: str
    question_type: str
    family: str
    frame_ids: tuple[int, ...]
    question: str
    options: tuple[str, ...]
    answer: str
    ground_truth: str
    overlap_avg: float
    overlap_level: str
    occlusion_avg: float
    occ_level: str
    vis_level: str
    coverage: str
    bbox_2d: tuple[float, float, float, float] | None
    bbox_2d_diag: float | None
    targets: tuple[int, ...]
    template_id: str
    seed: int
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def is_multiple_choice(self) -> bool:
        return len(self.options) > 0
