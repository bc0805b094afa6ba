"""Procedural indoor rooms: furniture layout, triangle mesh with instance labels, camera path.

Used as built-in test and demo scenes (``mosaic.synthetic.world`` renders and writes them). A
room is built in the **aligned** world frame: metres, +z up, the floor at z = 0, the room centred
on the origin with its walls along x and y (ScanNet after ``axisAlignment``). Cameras are OpenCV
(x right, y down, z forward); poses are camera-to-world.

Geometry is made of subdivided boxes and cylinders so that a mesh segmentation has small pieces
to group. Every instance owns its vertices (no vertex is shared between two instances), so the
per-face instance is the instance of any of its vertices.

Everything is deterministic for a seed: one ``numpy.random.Generator`` drives the whole room.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import UnknownNameError
from .scannet_writer import QUIRKS as WRITER_QUIRKS

CATEGORY_FILE = Path(__file__).with_name("data") / "categories.tsv"
SYNTH_QUIRKS = frozenset({"inf_pose", "zero_depth"})  # frame-level quirks made here
TALL_LIMIT = 1.1  # m: nothing (with what stands on it) may be taller under the camera path
CAMERA_HEIGHT = (1.25, 1.7)  # m, camera height range along the walk-through
CORRIDOR_RADIUS = 0.3  # m: half width of the strip around the camera path
HANDHELD_REACH = 1.5  # the hand-held loop's axes relative to the smooth walk's
GRID = 0.05  # m: floor occupancy cell
# Footprints are grown by more than half a cell diagonal so overlapping rectangles always
# share a marked cell centre (the grid test then never misses a real intersection).
FOOT_MARGIN = 0.04


@dataclass(frozen=True)
class Category:
    """One row of the bundled ScanNet label table subset (values of the real tsv)."""

    id: int
    raw_category: str
    category: str
    count: int
    nyu40id: int
    nyu40class: str


@functools.lru_cache(maxsize=1)
def scannet_categories() -> dict[str, Category]:
    """Raw category -> ``Category`` for every category the generator can place."""
    with open(CATEGORY_FILE, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return {
        r["raw_category"]: Category(
            id=int(r["id"]),
            raw_category=r["raw_category"],
            category=r["category"],
            count=int(r["count"]),
            nyu40id=int(r["nyu40id"]),
            nyu40class=r["nyu40class"],
        )
        for r in rows
    }


@dataclass(frozen=True)
class SynthSpec:
    """Size and content of one synthetic scene.

    Attributes:
        n_frames: camera frames along the walk-through.
        color_size: (width, height) of the colour images.
        depth_size: (width, height) of the depth images (own intrinsics, same pose).
        n_objects: annotated non-structural objects; None draws 15-40 from the seed. Best
            effort: a room too small for the request gets as many as fit.
        target_faces: approximate total triangle count (subdivision is chosen to match it).
        quirks: frame-level defects ``inf_pose`` (one all -inf pose) and ``zero_depth`` (one
            all-zero depth image), plus names of ``scannet_writer.QUIRKS`` passed to the writer.
        jpeg_quality: Pillow JPEG quality of the colour frames.
        room_size: fixed (width, depth, height) in metres; None draws them from the seed
            (4-8 x 3.5-7 x 2.6-3.0 m).
        furniture_rounds: passes over the optional furniture groups (bed, living, media,
            shelves, cabinets, ...) before small fillers make up the object count; more than
            one fills a large room with furniture rather than with boxes and pictures.
        walk: ``"loop"``, one smooth lap around the room centre over all frames, or
            ``"handheld"``, a hand-held scan at 30 fps (``CameraPath.handheld_poses``).
    """

    n_frames: int = 300
    color_size: tuple[int, int] = (640, 480)
    depth_size: tuple[int, int] = (320, 240)
    n_objects: int | None = None
    target_faces: int = 40000
    quirks: frozenset[str] = frozenset()
    jpeg_quality: int = 90
    room_size: tuple[float, float, float] | None = None
    furniture_rounds: int = 1
    walk: str = "loop"


DEFAULT_SPEC = SynthSpec()
WALKS = ("loop", "handheld")

# A scan the size of a real ScanNet one (scene0000_00: 153k faces, 5.5k frames at 30 fps, 55
# annotated objects of which ~45 have a footprint in each labelled view): the real-size scene of
# benchmarks/visibility.py and benchmarks/end_to_end.py. ~160k faces, 100 objects (about 34 with
# a footprint per view, up to ~50), a 5,500-frame hand-held walk. Colour stays 640x480 (labels
# are computed at 320 px).
SCANNET_SIZE_SPEC = SynthSpec(n_frames=5500, n_objects=100, target_faces=160_000,
                              room_size=(9.0, 7.5, 2.8), furniture_rounds=2, walk="handheld")


# ---- shapes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """A primitive in an object's local frame (x width, y depth with the front at +y, z up).

    Attributes:
        kind: ``"box"`` or ``"cyl"`` (cylinder about z).
        center: box centre, or the centre of the cylinder's bottom disc.
        size: box side lengths, or (diameter, diameter, height) of the cylinder.
        tone: brightness factor on the object's colour; ignored when ``color`` is set.
        color: RGB 0-255 of this part instead of the object's colour.
    """

    kind: str
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    tone: float = 1.0
    color: tuple[int, int, int] | None = None

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        c, s = np.asarray(self.center, float), np.asarray(self.size, float)
        if self.kind == "box":
            return c - s / 2, c + s / 2
        return c - [s[0] / 2, s[1] / 2, 0.0], c + [s[0] / 2, s[1] / 2, s[2]]


@dataclass(frozen=True)
class Surface:
    """A support rectangle on top of an object (table top, shelf board), local frame.

    Attributes:
        center: (x, y) of the rectangle centre.
        z: height of the supporting plane above the object's base.
        size: (width, depth) usable for things standing on it.
        clearance: tallest thing that may stand on it (shelf spacing, or a free limit).
    """

    center: tuple[float, float]
    z: float
    size: tuple[float, float]
    clearance: float


@dataclass(frozen=True)
class Shape:
    parts: tuple[Part, ...]
    surfaces: tuple[Surface, ...] = ()

    @functools.cached_property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Local (3,) min and max over all parts."""
        lo = np.min([p.bounds()[0] for p in self.parts], axis=0)
        hi = np.max([p.bounds()[1] for p in self.parts], axis=0)
        return lo, hi

    @property
    def height(self) -> float:
        return float(self.bounds[1][2])

    @property
    def max_top(self) -> float:
        """Height of the object including the tallest thing allowed on its surfaces."""
        tops = [s.z + s.clearance for s in self.surfaces]
        return max([self.height, *tops])


def _box(cx, cy, cz, sx, sy, sz, tone=1.0, color=None) -> Part:
    return Part("box", (cx, cy, cz), (sx, sy, sz), tone, color)


def _cyl(cx, cy, z0, diameter, h, tone=1.0, color=None) -> Part:
    return Part("cyl", (cx, cy, z0), (diameter, diameter, h), tone, color)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _legs(w, d, h, t, inset) -> list[Part]:
    xs, ys = w / 2 - inset - t / 2, d / 2 - inset - t / 2
    return [_box(sx * xs, sy * ys, h / 2, t, t, h, 0.8) for sx in (-1, 1) for sy in (-1, 1)]


def shape_table(rng, kind: str = "table") -> Shape:
    dims = {
        "table": ((1.1, 1.8), (0.75, 1.0), (0.72, 0.78)),
        "coffee table": ((0.8, 1.2), (0.5, 0.7), (0.38, 0.46)),
        "end table": ((0.45, 0.6), (0.45, 0.6), (0.5, 0.6)),
    }[kind]
    w, d, h = (_u(rng, *r) for r in dims)
    top = 0.04
    parts = [_box(0, 0, h - top / 2, w, d, top), *_legs(w, d, h - top, 0.05, 0.04)]
    return Shape(tuple(parts), (Surface((0, 0), h, (w - 0.06, d - 0.06), 0.3),))


def shape_desk(rng) -> Shape:
    w, d, h = _u(rng, 1.0, 1.6), _u(rng, 0.6, 0.8), _u(rng, 0.72, 0.76)
    top, t = 0.03, 0.03
    parts = [
        _box(0, 0, h - top / 2, w, d, top),
        _box(-w / 2 + t / 2, 0, (h - top) / 2, t, d, h - top, 0.85),
        _box(w / 2 - t / 2, 0, (h - top) / 2, t, d, h - top, 0.85),
        _box(0, -d / 2 + 0.05, (h - top) / 2 + 0.2, w - 2 * t, 0.02, h - top - 0.4, 0.8),
    ]
    return Shape(tuple(parts), (Surface((0, 0), h, (w - 0.04, d - 0.04), 0.6),))


def shape_chair(rng) -> Shape:
    w, d = _u(rng, 0.42, 0.5), _u(rng, 0.42, 0.5)
    seat_h, back_h = _u(rng, 0.43, 0.48), _u(rng, 0.85, 0.98)
    parts = [
        _box(0, 0, seat_h - 0.025, w, d, 0.05),
        _box(0, -d / 2 + 0.025, (seat_h + back_h) / 2, w, 0.04, back_h - seat_h, 0.95),
        *_legs(w, d, seat_h - 0.05, 0.04, 0.01),
    ]
    return Shape(tuple(parts))


def shape_office_chair(rng) -> Shape:
    seat_h, back_h = _u(rng, 0.45, 0.52), _u(rng, 0.9, 1.0)
    w = _u(rng, 0.48, 0.56)
    parts = [
        _cyl(0, 0, 0, 0.6, 0.06, 0.7),
        _cyl(0, 0, 0.06, 0.06, seat_h - 0.12, 0.6),
        _box(0, 0, seat_h - 0.04, w, w, 0.08),
        _box(0, -w / 2 + 0.04, (seat_h + back_h) / 2 + 0.03, w * 0.9, 0.06, back_h - seat_h, 0.9),
    ]
    return Shape(tuple(parts))


def shape_armchair(rng) -> Shape:
    w, d, h = _u(rng, 0.75, 0.9), _u(rng, 0.75, 0.9), _u(rng, 0.8, 0.95)
    parts = [
        _box(0, 0.05, 0.21, w - 0.3, d - 0.1, 0.42),
        _box(0, -d / 2 + 0.1, h / 2, w, 0.2, h, 0.9),
        _box(-w / 2 + 0.075, 0.05, 0.3, 0.15, d - 0.1, 0.6, 0.95),
        _box(w / 2 - 0.075, 0.05, 0.3, 0.15, d - 0.1, 0.6, 0.95),
    ]
    return Shape(tuple(parts))


def shape_couch(rng) -> Shape:
    w, d, h = _u(rng, 1.8, 2.4), _u(rng, 0.85, 0.95), _u(rng, 0.8, 0.9)
    seat = 0.42
    parts = [
        _box(0, 0.1, seat / 2, w - 0.36, d - 0.2, seat),
        _box(0, -d / 2 + 0.1, h / 2, w, 0.2, h, 0.9),
        _box(-w / 2 + 0.09, 0.1, 0.31, 0.18, d - 0.2, 0.62, 0.95),
        _box(w / 2 - 0.09, 0.1, 0.31, 0.18, d - 0.2, 0.62, 0.95),
    ]
    return Shape(tuple(parts), (Surface((0, 0.05), seat, (w - 0.4, d - 0.35), 0.4),))


def shape_bed(rng) -> Shape:
    w = _u(rng, 1.4, 1.8) if rng.random() < 0.6 else _u(rng, 0.9, 1.05)
    length, top = _u(rng, 1.95, 2.1), _u(rng, 0.5, 0.58)
    parts = [
        _box(0, 0.03, 0.15, w, length - 0.06, 0.3, 0.7),
        _box(0, 0.03, (0.3 + top) / 2, w - 0.04, length - 0.1, top - 0.3),
        _box(0, -length / 2 + 0.03, 0.5, w + 0.04, 0.06, 1.0, 0.6),
    ]
    return Shape(tuple(parts), (Surface((0, 0.03), top, (w - 0.1, length - 0.2), 0.3),))


def shape_body(rng, kind: str) -> Shape:
    """Box furniture with door or drawer plates on the front (cabinets, dressers, fridge)."""
    dims = {
        "cabinet": ((0.8, 1.2), (0.45, 0.6), (0.8, 1.9)),
        "kitchen cabinet": ((1.2, 2.0), (0.55, 0.65), (0.88, 0.92)),
        "dresser": ((1.0, 1.4), (0.45, 0.55), (0.8, 1.0)),
        "nightstand": ((0.4, 0.5), (0.35, 0.45), (0.5, 0.6)),
        "refrigerator": ((0.6, 0.75), (0.65, 0.75), (1.7, 1.9)),
        "tv stand": ((1.2, 1.8), (0.38, 0.45), (0.45, 0.55)),
    }[kind]
    w, d, h = (_u(rng, *r) for r in dims)
    plates: list[Part] = []
    if kind in ("dresser", "nightstand"):
        n = 3 if kind == "dresser" else 2
        for i in range(n):
            zc = 0.08 + (i + 0.5) * (h - 0.12) / n
            plates.append(_box(0, d / 2 + 0.01, zc, w - 0.08, 0.02, (h - 0.12) / n - 0.03, 0.8))
    elif kind == "refrigerator":
        plates.append(_box(0, d / 2 + 0.015, h * 0.8, w - 0.04, 0.03, h * 0.38, 0.92))
        plates.append(_box(0, d / 2 + 0.015, h * 0.3, w - 0.04, 0.03, h * 0.58, 0.92))
    else:
        n = 2 if w > 0.7 else 1
        for i in range(n):
            xc = -w / 2 + (i + 0.5) * w / n
            plates.append(_box(xc, d / 2 + 0.01, h / 2, w / n - 0.03, 0.02, h - 0.1, 0.85))
    body = _box(0, -0.01, h / 2, w, d - 0.02, h)
    clearance = 1.05 if kind == "tv stand" else 0.4
    surfaces = (Surface((0, -0.01), h, (w - 0.04, d - 0.06), clearance),) if h < 1.2 else ()
    return Shape((body, *plates), surfaces)


def shape_bookshelf(rng) -> Shape:
    w, d, h = _u(rng, 0.8, 1.2), _u(rng, 0.3, 0.38), _u(rng, 1.6, 2.0)
    t = 0.025
    n_shelves = int(rng.integers(3, 6))
    parts = [
        _box(-w / 2 + t / 2, 0, h / 2, t, d, h),
        _box(w / 2 - t / 2, 0, h / 2, t, d, h),
        _box(0, -d / 2 + 0.005, h / 2, w - 2 * t, 0.01, h, 0.8),
        _box(0, 0, h - t / 2, w - 2 * t, d, t),
    ]
    spacing = (h - t) / n_shelves
    surfaces = []
    for i in range(n_shelves):
        z = 0.05 + i * spacing
        parts.append(_box(0, 0, z - t / 2, w - 2 * t, d - 0.01, t))
        surfaces.append(Surface((0, 0.005), z, (w - 2 * t - 0.01, d - 0.03), spacing - t - 0.02))
    return Shape(tuple(parts), tuple(surfaces))


def shape_lamp(rng, floor: bool) -> Shape:
    if floor:
        pole, shade_d, shade_h = _u(rng, 1.3, 1.5), _u(rng, 0.35, 0.45), _u(rng, 0.25, 0.32)
        base_d = 0.3
    else:
        pole, shade_d, shade_h = _u(rng, 0.22, 0.3), _u(rng, 0.22, 0.28), _u(rng, 0.16, 0.2)
        base_d = 0.14
    parts = [
        _cyl(0, 0, 0, base_d, 0.03, 0.6),
        _cyl(0, 0, 0.03, 0.03, pole, 0.5),
        _cyl(0, 0, 0.03 + pole - shade_h * 0.3, shade_d, shade_h),
    ]
    return Shape(tuple(parts))


def shape_plant(rng) -> Shape:
    pot_d, pot_h = _u(rng, 0.25, 0.35), _u(rng, 0.25, 0.35)
    leaf_d, leaf_h = pot_d * _u(rng, 1.4, 2.0), _u(rng, 0.4, 0.8)
    parts = [
        _cyl(0, 0, 0, pot_d, pot_h, color=(150, 85, 55)),
        _cyl(0, 0, pot_h, leaf_d, leaf_h * 0.6),
        _cyl(0, 0, pot_h + leaf_h * 0.6, leaf_d * 0.6, leaf_h * 0.4, 1.1),
    ]
    return Shape(tuple(parts))


def shape_simple(rng, kind: str) -> Shape:
    """Single-piece props: boxes, pillows, trash cans, keyboards, backpacks, stools, books."""
    if kind == "box":
        w, d, h = _u(rng, 0.25, 0.5), _u(rng, 0.2, 0.4), _u(rng, 0.15, 0.28)
        return Shape((_box(0, 0, h / 2, w, d, h),))
    if kind == "pillow":
        w, d, h = _u(rng, 0.45, 0.6), _u(rng, 0.3, 0.4), _u(rng, 0.1, 0.15)
        return Shape((_box(0, 0, h / 2, w, d, h),))
    if kind == "trash can":
        dia, h = _u(rng, 0.25, 0.35), _u(rng, 0.32, 0.45)
        return Shape((_cyl(0, 0, 0, dia, h), _cyl(0, 0, h, dia + 0.02, 0.02, 0.8)))
    if kind == "keyboard":
        return Shape((_box(0, 0, 0.015, _u(rng, 0.42, 0.46), _u(rng, 0.13, 0.16), 0.03),))
    if kind == "backpack":
        w, d, h = _u(rng, 0.28, 0.34), _u(rng, 0.16, 0.22), _u(rng, 0.4, 0.48)
        return Shape((_box(0, 0, h / 2, w, d, h), _box(0, d / 2 + 0.04, h * 0.3, w * 0.8, 0.08,
                                                            h * 0.4, 0.85)))
    if kind == "stool":
        h = _u(rng, 0.45, 0.65)
        parts = [_cyl(0, 0, h - 0.04, 0.36, 0.04), *_legs(0.3, 0.3, h - 0.04, 0.035, 0.0)]
        return Shape(tuple(parts))
    if kind == "book":
        t, d, h = _u(rng, 0.02, 0.05), _u(rng, 0.14, 0.22), _u(rng, 0.18, 0.28)
        return Shape((_box(0, 0, h / 2, t, d, h),))
    raise KeyError(kind)


def shape_screen(rng, kind: str) -> Shape:
    """Monitor or TV: a panel on a neck and foot, screen facing +y."""
    if kind == "monitor":
        w, h, lift = _u(rng, 0.48, 0.6), _u(rng, 0.3, 0.38), _u(rng, 0.08, 0.12)
    else:
        w, h, lift = _u(rng, 0.9, 1.3), _u(rng, 0.55, 0.75), 0.06
    parts = [
        _box(0, 0, 0.01, min(0.3, w * 0.5), 0.2, 0.02, 0.8),
        _box(0, -0.03, (lift + 0.02) / 2, 0.05, 0.03, lift, 0.8),
        _box(0, 0, lift + h / 2, w, 0.05, h),
        _box(0, 0.026, lift + h / 2, w - 0.03, 0.004, h - 0.03, color=(18, 20, 26)),
    ]
    return Shape(tuple(parts))


# Wall-mounted shapes: local y = 0 is the wall surface, geometry stands off it towards +y.
def shape_door(rng) -> Shape:
    w, h = _u(rng, 0.8, 0.95), _u(rng, 2.0, 2.1)
    parts = [
        _box(0, 0.025, h / 2, w, 0.04, h),
        _box(w / 2 - 0.1, 0.06, 1.0, 0.1, 0.04, 0.03, color=(200, 195, 180)),
    ]
    return Shape(tuple(parts))


def shape_window(rng) -> Shape:
    w, h = _u(rng, 0.8, 1.6), _u(rng, 1.0, 1.4)
    f = 0.06
    frame = (245, 245, 240)
    parts = [
        _box(0, 0.035, h / 2, w - 2 * f, 0.02, h - 2 * f, color=(150, 185, 215)),
        _box(0, 0.035, f / 2, w, 0.06, f, color=frame),
        _box(0, 0.035, h - f / 2, w, 0.06, f, color=frame),
        _box(-w / 2 + f / 2, 0.035, h / 2, f, 0.06, h - 2 * f, color=frame),
        _box(w / 2 - f / 2, 0.035, h / 2, f, 0.06, h - 2 * f, color=frame),
    ]
    return Shape(tuple(parts))


def shape_panel(rng, kind: str) -> Shape:
    """Picture, whiteboard or curtain hanging on a wall."""
    if kind == "picture":
        w, h = _u(rng, 0.4, 0.9), _u(rng, 0.3, 0.7)
        return Shape((_box(0, 0.02, h / 2, w, 0.03, h, 0.5),
                      _box(0, 0.036, h / 2, w - 0.06, 0.004, h - 0.06)))
    if kind == "whiteboard":
        w, h = _u(rng, 1.2, 1.8), _u(rng, 0.9, 1.2)
        return Shape((_box(0, 0.015, h / 2, w, 0.02, h, 0.8),
                      _box(0, 0.026, h / 2, w - 0.04, 0.003, h - 0.04)))
    if kind == "curtain":
        w, h = _u(rng, 0.4, 0.6), _u(rng, 2.0, 2.3)
        n = 4
        parts = [
            _box(-w / 2 + (i + 0.5) * w / n, 0.06 + 0.02 * (i % 2), h / 2, w / n + 0.01, 0.03, h,
                 1.0 - 0.08 * (i % 2))
            for i in range(n)
        ]
        return Shape(tuple(parts))
    raise KeyError(kind)


PALETTE: dict[str, tuple[int, int, int]] = {
    "wall": (226, 222, 210), "floor": (150, 112, 78), "ceiling": (238, 238, 232),
    "chair": (125, 82, 50), "office chair": (45, 45, 52), "table": (165, 122, 80),
    "coffee table": (110, 75, 45), "end table": (140, 100, 62), "desk": (192, 172, 140),
    "couch": (88, 100, 132), "armchair": (132, 62, 60), "bed": (205, 205, 214),
    "pillow": (236, 230, 218), "nightstand": (122, 86, 56), "cabinet": (200, 190, 168),
    "kitchen cabinet": (232, 232, 226), "dresser": (150, 106, 70), "refrigerator": (222, 222, 226),
    "bookshelf": (172, 130, 90), "book": (160, 50, 50), "tv": (28, 28, 32),
    "tv stand": (72, 56, 46), "monitor": (32, 32, 38), "keyboard": (52, 52, 58),
    "lamp": (232, 212, 160), "trash can": (82, 94, 94), "box": (186, 146, 100),
    "plant": (62, 132, 62), "backpack": (42, 72, 142), "stool": (160, 122, 82),
    "door": (172, 132, 92), "window": (200, 210, 220), "picture": (60, 60, 60),
    "whiteboard": (246, 246, 246), "curtain": (182, 160, 200), "": (100, 104, 96),
}
VIVID = ((170, 40, 40), (40, 90, 170), (40, 140, 70), (200, 160, 40), (120, 60, 140),
         (30, 30, 30), (220, 110, 40))


# ---- layout ------------------------------------------------------------------------------
@dataclass
class Placed:
    """An object placed in the room (aligned world frame).

    Attributes:
        label: raw ScanNet category; "" for the unannotated clutter.
        shape: geometry in the local frame.
        pose: (x, y, z, yaw) of the local origin; yaw about +z in radians.
        color: (3,) float RGB 0-255.
        kind: ``"floor"``, ``"wall"`` or ``"on"`` (standing on ``parent``).
        parent: index of the supporting object for ``kind == "on"``.
    """

    label: str
    shape: Shape
    pose: tuple[float, float, float, float]
    color: np.ndarray
    kind: str
    parent: int | None = None

    def to_world(self, pts: np.ndarray) -> np.ndarray:
        x, y, z, yaw = self.pose
        c, s = math.cos(yaw), math.sin(yaw)
        R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        return pts @ R.T + np.array([x, y, z])

    def aabb(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.shape.bounds
        corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1])
                            for c in (lo[2], hi[2])])
        w = self.to_world(corners)
        return w.min(axis=0), w.max(axis=0)


def _aabb_overlap(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                  tol: float = 0.005) -> bool:
    return bool(np.all(a[0] < b[1] - tol) and np.all(b[0] < a[1] - tol))


def _yaw_facing(dx: float, dy: float) -> float:
    """Yaw that turns the local front (+y) towards the direction (dx, dy)."""
    return math.atan2(-dx, dy)


@dataclass
class Walls:
    """The four walls: inward normal angle and length of each (index 0 south, 1 north,
    2 west, 3 east)."""

    W: float
    D: float

    def normal_angle(self, k: int) -> float:
        return (math.pi / 2, -math.pi / 2, 0.0, math.pi)[k]

    def length(self, k: int) -> float:
        return self.W if k < 2 else self.D

    def frame(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(wall centre on the floor, tangent, inward normal, yaw of wall-facing objects)."""
        a = self.normal_angle(k)
        n = np.array([math.cos(a), math.sin(a)])
        half = self.D / 2 if k < 2 else self.W / 2
        centre = -n * half
        yaw = a - math.pi / 2
        t = np.array([math.cos(yaw), math.sin(yaw)])
        return centre, t, n, yaw


class Layout:
    """Places objects without intersections: a floor occupancy grid for footprints, 3D boxes
    against wall-mounted objects, and per-surface rectangles for stacked objects."""

    def __init__(self, rng: np.random.Generator, W: float, D: float, H: float,
                 path: np.ndarray):
        """``path``: (N, 2) dense xy samples of the camera path; the cells within
        ``CORRIDOR_RADIUS`` of it only take objects lower than ``TALL_LIMIT``."""
        self.rng, self.W, self.D, self.H = rng, W, D, H
        self.walls = Walls(W, D)
        self.nx, self.ny = int(math.ceil(W / GRID)), int(math.ceil(D / GRID))
        xs = -W / 2 + (np.arange(self.nx) + 0.5) * GRID
        ys = -D / 2 + (np.arange(self.ny) + 0.5) * GRID
        self.cx, self.cy = np.meshgrid(xs, ys, indexing="ij")
        self.occ = np.zeros((self.nx, self.ny), bool)
        d2 = (self.cx[..., None] - path[:, 0]) ** 2 + (self.cy[..., None] - path[:, 1]) ** 2
        self.corridor = d2.min(axis=-1) < CORRIDOR_RADIUS ** 2  # (nx, ny) bool
        self.placed: list[Placed] = []
        self.surface_rects: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}

    # -- transactions (a group is placed whole or not at all)
    def snapshot(self) -> tuple:
        return (self.occ.copy(), len(self.placed),
                {k: list(v) for k, v in self.surface_rects.items()})

    def restore(self, snap: tuple) -> None:
        self.occ, n, self.surface_rects = snap[0], snap[1], snap[2]
        del self.placed[n:]

    def count(self) -> int:
        return sum(1 for p in self.placed if p.label)

    # -- floor
    def _cells(self, shape: Shape, x: float, y: float, yaw: float, margin: float) -> np.ndarray:
        lo, hi = shape.bounds
        c, s = math.cos(yaw), math.sin(yaw)
        dx, dy = self.cx - x, self.cy - y
        lx, ly = c * dx + s * dy, -s * dx + c * dy  # cell centres in the local frame
        return ((lx >= lo[0] - margin) & (lx <= hi[0] + margin)
                & (ly >= lo[1] - margin) & (ly <= hi[1] + margin))

    def _inside_room(self, obj: Placed, gap: float = 0.005) -> bool:
        lo, hi = obj.aabb()
        return bool(lo[0] >= -self.W / 2 + gap - 1e-9 and hi[0] <= self.W / 2 - gap + 1e-9
                    and lo[1] >= -self.D / 2 + gap - 1e-9 and hi[1] <= self.D / 2 - gap + 1e-9
                    and hi[2] <= self.H - 0.05)

    def _clear_of_wall_items(self, obj: Placed) -> bool:
        box = obj.aabb()
        return not any(_aabb_overlap(box, p.aabb()) for p in self.placed if p.kind == "wall")

    def place_floor(self, label: str, shape: Shape, x: float, y: float, yaw: float,
                    color: np.ndarray | None = None) -> int | None:
        obj = Placed(label, shape, (x, y, 0.0, yaw), self._color(label, color), "floor")
        if not self._inside_room(obj):
            return None
        cells = self._cells(shape, x, y, yaw, FOOT_MARGIN)
        if (self.occ & cells).any():
            return None
        if shape.max_top > TALL_LIMIT and (self.corridor & cells).any():
            return None
        if not self._clear_of_wall_items(obj):
            return None
        self.occ |= cells
        self.placed.append(obj)
        return len(self.placed) - 1

    def place_floor_random(self, label: str, shape: Shape, tries: int = 60,
                           yaw: float | None = None) -> int | None:
        for _ in range(tries):
            x = _u(self.rng, -self.W / 2 + 0.3, self.W / 2 - 0.3)
            y = _u(self.rng, -self.D / 2 + 0.3, self.D / 2 - 0.3)
            a = yaw if yaw is not None else (float(self.rng.integers(0, 4)) * math.pi / 2
                                             + float(self.rng.normal(0, 0.15)))
            idx = self.place_floor(label, shape, x, y, a)
            if idx is not None:
                return idx
        return None

    def against_wall(self, k: int, s: float, shape: Shape, gap: float = 0.01
                     ) -> tuple[float, float, float]:
        """(x, y, yaw) that puts the shape's back against wall k at position s along it."""
        centre, t, n, yaw = self.walls.frame(k)
        lo, hi = shape.bounds
        back = -lo[1]  # distance from the local origin to the back face
        p = centre + s * t + (gap + back) * n
        return float(p[0]), float(p[1]), yaw

    def place_wall_floor(self, label: str, shape: Shape, tries: int = 40,
                         wall: int | None = None) -> int | None:
        """A floor object with its back against a random wall."""
        for _ in range(tries):
            k = int(self.rng.integers(0, 4)) if wall is None else wall
            half = self.walls.length(k) / 2
            s = _u(self.rng, -half, half)
            x, y, yaw = self.against_wall(k, s, shape)
            idx = self.place_floor(label, shape, x, y, yaw)
            if idx is not None:
                return idx
        return None

    # -- wall-mounted
    def place_on_wall(self, label: str, shape: Shape, z_range: tuple[float, float],
                      tries: int = 40, wall: int | None = None, s: float | None = None,
                      ) -> int | None:
        lo, hi = shape.bounds
        for _ in range(tries):
            k = int(self.rng.integers(0, 4)) if wall is None else wall
            half = self.walls.length(k) / 2 - 0.05
            if hi[0] - lo[0] > 2 * half:
                continue
            pos = _u(self.rng, -half - lo[0], half - hi[0]) if s is None else s
            z = _u(self.rng, *z_range)
            centre, t, n, yaw = self.walls.frame(k)
            p = centre + pos * t
            obj = Placed(label, shape, (float(p[0]), float(p[1]), z, yaw),
                         self._color(label), "wall")
            if abs(pos) > half or not self._inside_room(obj, gap=-0.001):
                continue
            box = obj.aabb()
            if any(_aabb_overlap(box, q.aabb()) for q in self.placed):
                continue
            self.placed.append(obj)
            return len(self.placed) - 1
        return None

    def reserve(self, x: float, y: float, yaw: float, size: tuple[float, float]) -> None:
        """Keep a floor rectangle free (e.g. the swing of a door)."""
        shape = Shape((_box(0, size[1] / 2, 0.01, size[0], size[1], 0.02),))
        self.occ |= self._cells(shape, x, y, yaw, 0.0)

    # -- stacked
    def place_on(self, label: str, shape: Shape, support: int, surface: int = 0,
                 x: float | None = None, y: float | None = None, tries: int = 20
                 ) -> int | None:
        """Stand ``shape`` on a surface of ``placed[support]`` (axis-aligned with it)."""
        sup = self.placed[support]
        surf = sup.shape.surfaces[surface]
        lo, hi = shape.bounds
        if hi[2] > surf.clearance:
            return None
        sx0 = surf.center[0] - surf.size[0] / 2 - lo[0]
        sx1 = surf.center[0] + surf.size[0] / 2 - hi[0]
        sy0 = surf.center[1] - surf.size[1] / 2 - lo[1]
        sy1 = surf.center[1] + surf.size[1] / 2 - hi[1]
        if sx0 > sx1 or sy0 > sy1:
            return None
        rects = self.surface_rects.setdefault((support, surface), [])
        for _ in range(tries):
            px = _u(self.rng, sx0, sx1) if x is None else float(np.clip(x, sx0, sx1))
            py = _u(self.rng, sy0, sy1) if y is None else float(np.clip(y, sy0, sy1))
            r = (px + lo[0], py + lo[1], px + hi[0], py + hi[1])
            if any(r[0] < q[2] + 0.01 and q[0] < r[2] + 0.01 and r[1] < q[3] + 0.01
                   and q[1] < r[3] + 0.01 for q in rects):
                if x is not None and y is not None:
                    return None
                continue
            wx, wy, wz = sup.to_world(np.array([[px, py, surf.z]]))[0]
            obj = Placed(label, shape, (float(wx), float(wy), float(wz), sup.pose[3]),
                         self._color(label), "on", support)
            if not self._clear_of_wall_items(obj) or not self._inside_room(obj):
                continue
            rects.append(r)
            self.placed.append(obj)
            return len(self.placed) - 1
        return None

    def _color(self, label: str, color: np.ndarray | None = None) -> np.ndarray:
        if color is not None:
            return np.asarray(color, float)
        if label in ("book", "picture", "box", "pillow"):
            base = np.asarray(VIVID[int(self.rng.integers(0, len(VIVID)))], float)
            if label in ("box", "pillow"):
                base = 0.5 * base + 0.5 * np.asarray(PALETTE[label], float)
        else:
            base = np.asarray(PALETTE[label], float)
        jitter = self.rng.uniform(-14, 14, 3) + self.rng.uniform(-12, 12)
        return np.clip(base + jitter, 0, 255)


# ---- furniture groups --------------------------------------------------------------------
def _group_dining(L: Layout, budget: int) -> int:
    rng = L.rng
    for _ in range(30):
        snap = L.snapshot()
        table = shape_table(rng)
        yaw = float(rng.integers(0, 2)) * math.pi / 2 + float(rng.normal(0, 0.05))
        ti = L.place_floor_random("table", table, tries=10, yaw=yaw)
        if ti is None:
            continue
        lo, hi = table.bounds
        x, y = L.placed[ti].pose[:2]
        c, s = math.cos(yaw), math.sin(yaw)
        slots = []  # chair positions around the table, in the table frame
        for side in (-1, 1):
            for f in ((-0.25, 0.25) if hi[0] - lo[0] > 1.3 else (0.0,)):
                slots.append((f * (hi[0] - lo[0]), side * (hi[1] + 0.36)))
            slots.append((side * (hi[0] + 0.36), 0.0))
        rng.shuffle(slots)
        want = int(min(budget - 1, rng.integers(2, 5)))
        n = 0
        for sx, sy in slots:
            if n >= want:
                break
            wx, wy = x + c * sx - s * sy, y + s * sx + c * sy
            a = _yaw_facing(x - wx, y - wy) + float(rng.normal(0, 0.1))
            if L.place_floor("chair", shape_chair(rng), wx, wy, a) is not None:
                n += 1
        if n >= min(2, budget - 1):
            return 1 + n
        L.restore(snap)
    return 0


def _group_office(L: Layout, budget: int) -> int:
    rng = L.rng
    for _ in range(20):
        snap = L.snapshot()
        desk = shape_desk(rng)
        di = L.place_wall_floor("desk", desk, tries=10)
        if di is None:
            continue
        n = 1
        lo, hi = desk.bounds
        if n < budget and L.place_on("monitor", shape_screen(rng, "monitor"), di,
                                     y=lo[1] + 0.15) is not None:
            n += 1
        if n < budget and L.place_on("keyboard", shape_simple(rng, "keyboard"), di,
                                     y=hi[1] - 0.15) is not None:
            n += 1
        if n < budget:
            dx, dy, dyaw = L.placed[di].pose[0], L.placed[di].pose[1], L.placed[di].pose[3]
            off = hi[1] + 0.4
            wx, wy = dx - math.sin(dyaw) * off, dy + math.cos(dyaw) * off
            if L.place_floor("office chair", shape_office_chair(rng), wx, wy,
                             dyaw + math.pi + float(rng.normal(0, 0.2))) is not None:
                n += 1
        if n >= min(3, budget):
            return n
        L.restore(snap)
    return 0


def _group_bed(L: Layout, budget: int) -> int:
    rng = L.rng
    for _ in range(20):
        bed = shape_bed(rng)
        k = int(rng.integers(0, 4))
        half = L.walls.length(k) / 2
        s = _u(rng, -half, half)
        x, y, yaw = L.against_wall(k, s, bed)
        bi = L.place_floor("bed", bed, x, y, yaw)
        if bi is None:
            continue
        n = 1
        lo, hi = bed.bounds
        w = hi[0] - lo[0]
        n_pillows = 2 if w > 1.2 else 1
        for i in range(n_pillows):
            if n >= budget:
                break
            px = 0.0 if n_pillows == 1 else (i - 0.5) * w / 2
            if L.place_on("pillow", shape_simple(rng, "pillow"), bi, x=px, y=lo[1] + 0.3,
                          ) is not None:
                n += 1
        for side in (-1, 1):
            if n >= budget or (side == 1 and rng.random() < 0.4):
                break
            ns = shape_body(rng, "nightstand")
            nlo, nhi = ns.bounds
            sx = s + side * (w / 2 + 0.06 + (nhi[0] - nlo[0]) / 2)
            nx, ny, nyaw = L.against_wall(k, sx, ns)
            ni = L.place_floor("nightstand", ns, nx, ny, nyaw)
            if ni is None:
                continue
            n += 1
            if n < budget and rng.random() < 0.7:
                if L.place_on("lamp", shape_lamp(rng, floor=False), ni) is not None:
                    n += 1
        return n
    return 0


def _group_living(L: Layout, budget: int) -> int:
    rng = L.rng
    for _ in range(20):
        snap = L.snapshot()
        couch = shape_couch(rng)
        ci = L.place_wall_floor("couch", couch, tries=8)
        if ci is None:
            continue
        n = 1
        for _p in range(int(rng.integers(0, 3))):
            if n < budget and L.place_on("pillow", shape_simple(rng, "pillow"), ci,
                                         y=-0.1) is not None:
                n += 1
        if n < budget:
            ct = shape_table(rng, "coffee table")
            x, y, _, yaw = L.placed[ci].pose
            off = couch.bounds[1][1] + 0.4 - ct.bounds[0][1]
            wx, wy = x - math.sin(yaw) * off, y + math.cos(yaw) * off
            ti = L.place_floor("coffee table", ct, wx, wy, yaw)
            if ti is not None:
                n += 1
        if n >= min(2, budget):
            return n
        L.restore(snap)
    return 0


def _group_media(L: Layout, budget: int) -> int:
    rng = L.rng
    if budget < 2:
        return 0
    for _ in range(10):
        snap = L.snapshot()
        si = L.place_wall_floor("tv stand", shape_body(rng, "tv stand"), tries=8)
        if si is None:
            continue
        if L.place_on("tv", shape_screen(rng, "tv"), si, x=0.0, y=-0.05) is not None:
            return 2
        L.restore(snap)
    return 0


def _group_books(L: Layout, budget: int) -> int:
    rng = L.rng
    for _ in range(10):
        shelf = shape_bookshelf(rng)
        bi = L.place_wall_floor("bookshelf", shelf, tries=8)
        if bi is None:
            continue
        n = 1
        want = int(min(budget - 1, rng.integers(2, 7)))
        for _b in range(want * 3):
            if n - 1 >= want:
                break
            k = int(rng.integers(0, len(shelf.surfaces)))
            surf = shelf.surfaces[k]
            if L.place_on("book", shape_simple(rng, "book"), bi, k,
                          y=surf.center[1]) is not None:
                n += 1
        return n
    return 0


def _single(label: str, where: str, make: Callable[[np.random.Generator], Shape]
            ) -> Callable[[Layout, int], int]:
    def group(L: Layout, budget: int) -> int:
        if budget < 1:
            return 0
        shape = make(L.rng)
        if where == "wall":
            idx = L.place_wall_floor(label, shape)
        elif where == "floor":
            idx = L.place_floor_random(label, shape)
        else:  # "any": against a wall or free
            idx = (L.place_wall_floor(label, shape) if L.rng.random() < 0.5
                   else L.place_floor_random(label, shape))
        return 0 if idx is None else 1

    return group


def _wall_item(label: str, z_range: tuple[float, float], make) -> Callable[[Layout, int], int]:
    def group(L: Layout, budget: int) -> int:
        if budget < 1:
            return 0
        return 0 if L.place_on_wall(label, make(L.rng), z_range) is None else 1

    return group


def _group_window(L: Layout, budget: int) -> int:
    if budget < 1:
        return 0
    rng = L.rng
    wi = L.place_on_wall("window", shape_window(rng), (0.8, 1.0))
    if wi is None:
        return 0
    n = 1
    if budget > 1 and rng.random() < 0.5:
        # A curtain beside the window, hanging from above it.
        win = L.placed[wi]
        lo, hi = win.shape.bounds
        k = _wall_of(L, win)
        centre, t, _, _ = L.walls.frame(k)
        s0 = float(np.dot(np.array(win.pose[:2]) - centre, t))
        curtain = shape_panel(rng, "curtain")
        clo, chi = curtain.bounds
        side = 1 if rng.random() < 0.5 else -1
        s = s0 + side * (hi[0] + 0.02 + (chi[0] - clo[0]) / 2)
        top = min(L.H - 0.08, win.pose[2] + hi[2] + 0.2)
        z = max(0.02, top - chi[2])
        if L.place_on_wall("curtain", curtain, (z, z), tries=1, wall=k, s=s) is not None:
            n += 1
    return n


def _wall_of(L: Layout, obj: Placed) -> int:
    yaw = obj.pose[3]
    return min(range(4), key=lambda k: abs(math.remainder(L.walls.frame(k)[3] - yaw, 2 * math.pi)))


def _group_door(L: Layout, budget: int) -> int:
    if budget < 1:
        return 0
    door = shape_door(L.rng)
    di = L.place_on_wall("door", door, (0.0, 0.0), tries=60)
    if di is None:
        return 0
    x, y, _, yaw = L.placed[di].pose
    lo, hi = door.bounds
    L.reserve(x, y, yaw, (hi[0] - lo[0] + 0.2, 0.9))
    return 1


def _group_boxes(L: Layout, budget: int) -> int:
    """2-3 boxes: one on a table-like surface when there is one, the rest on the floor."""
    rng = L.rng
    n = 0
    want = int(min(budget, rng.integers(2, 4)))
    supports = [i for i, p in enumerate(L.placed)
                if p.label in ("table", "coffee table", "dresser", "cabinet") and p.shape.surfaces]
    if supports and want:
        i = supports[int(rng.integers(0, len(supports)))]
        if L.place_on("box", shape_simple(rng, "box"), i) is not None:
            n += 1
    for _ in range(want * 3):
        if n >= want:
            break
        shape = shape_simple(rng, "box")
        idx = (L.place_wall_floor("box", shape, tries=10) if rng.random() < 0.5
               else L.place_floor_random("box", shape, tries=10))
        if idx is not None:
            n += 1
    return n


GROUPS: dict[str, Callable[[Layout, int], int]] = {
    "bed": _group_bed,
    "living": _group_living,
    "media": _group_media,
    "books": _group_books,
    "cabinet": _single("cabinet", "wall", lambda r: shape_body(r, "cabinet")),
    "kitchen cabinet": _single(
        "kitchen cabinet", "wall", lambda r: shape_body(r, "kitchen cabinet")
    ),
    "dresser": _single("dresser", "wall", lambda r: shape_body(r, "dresser")),
    "refrigerator": _single("refrigerator", "wall", lambda r: shape_body(r, "refrigerator")),
    "trash can": _single("trash can", "any", lambda r: shape_simple(r, "trash can")),
    "plant": _single("plant", "any", shape_plant),
    "lamp": _single("lamp", "wall", lambda r: shape_lamp(r, floor=True)),
    "backpack": _single("backpack", "any", lambda r: shape_simple(r, "backpack")),
    "stool": _single("stool", "floor", lambda r: shape_simple(r, "stool")),
    "box": _single("box", "any", lambda r: shape_simple(r, "box")),
    "armchair": _single("armchair", "any", shape_armchair),
    "end table": _single("end table", "any", lambda r: shape_table(r, "end table")),
    "picture": _wall_item("picture", (1.2, 1.7), lambda r: shape_panel(r, "picture")),
    "whiteboard": _wall_item("whiteboard", (0.8, 1.1), lambda r: shape_panel(r, "whiteboard")),
    "window": _group_window,
}
FILLERS = ("picture", "box", "trash can", "backpack", "plant", "picture", "stool")


# ---- camera path -------------------------------------------------------------------------
def look_pose(position: np.ndarray, yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(4, 4) OpenCV camera-to-world looking along ``yaw`` (about +z, 0 = +x), ``pitch``
    (radians, negative = down) with ``roll`` about the viewing axis; world +z up."""
    f = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw),
                  math.sin(pitch)])
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= np.linalg.norm(r)
    d = np.cross(f, r)  # image down
    cr, sr = math.cos(roll), math.sin(roll)
    r, d = cr * r + sr * d, -sr * r + cr * d
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = r, d, f, position
    return T


@dataclass(frozen=True)
class CameraPath:
    """A closed smooth loop around the room centre (perturbed ellipse) with look parameters."""

    centre: tuple[float, float]
    axes: tuple[float, float]
    wobble: tuple[float, float, float, float]  # radial amplitude, frequency, phase; height phase
    sweeps: tuple[float, float, float]  # yaw sweep amplitude (rad), cycles, phase
    pitch: tuple[float, float]  # cycles, phase

    def position(self, s: np.ndarray) -> np.ndarray:
        """(N, 2) xy positions at loop parameters s in [0, 1)."""
        th = 2 * math.pi * np.asarray(s, float)
        amp, freq, phase, _ = self.wobble
        rad = 1.0 + amp * np.sin(freq * th + phase)
        return np.stack([self.centre[0] + self.axes[0] * rad * np.cos(th),
                         self.centre[1] + self.axes[1] * rad * np.sin(th)], axis=1)

    def poses(self, n: int, rng: np.random.Generator) -> np.ndarray:
        s = np.arange(n) / max(n, 1)
        xy = self.position(s)
        ahead = self.position(s + 1e-3)
        heading = np.arctan2(ahead[:, 1] - xy[:, 1], ahead[:, 0] - xy[:, 0])
        amp, cycles, phase = self.sweeps
        yaw = heading + amp * np.sin(2 * math.pi * cycles * s + phase)
        pc, pp = self.pitch
        pitch = -np.radians(20.0 + 10.0 * np.sin(2 * math.pi * pc * s + pp))
        lo, hi = CAMERA_HEIGHT
        z = (lo + hi) / 2 + (hi - lo) / 2 * np.sin(2 * math.pi * 2 * s + self.wobble[3])
        roll = np.radians(3.0) * np.sin(2 * math.pi * 5 * s + phase) + rng.normal(0, 0.005, n)
        return np.stack([look_pose(np.array([xy[i, 0], xy[i, 1], z[i]]), yaw[i], pitch[i], roll[i])
                         for i in range(n)])

    def handheld_poses(self, n: int, rng: np.random.Generator, fps: float = 30.0) -> np.ndarray:
        """(n, 4, 4) poses of a hand-held scan filmed at ``fps``.

        The operator walks the loop at a varying pace (about 90 s a lap, never backwards),
        drifts up to 0.1 m off it and films the room from its edge: the view faces the room
        centre, swept 47-60 degrees either side every 25-35 s (plus up to 10 degrees of slower
        wander), looking 7-23 degrees down; the hand shakes (a few millimetres and a fraction
        of a degree at 1-4 Hz) and the walk bobs 1 cm at 1.8 Hz. Heights stay in
        ``CAMERA_HEIGHT`` and the drift within ``CORRIDOR_RADIUS`` of the loop, so the room's
        tall-furniture rule still keeps the camera clear of furniture.
        """
        t = np.arange(n) / fps
        span = max(float(t[-1]), 1.0) if n else 1.0
        laps = max(1.0, round(span / 90.0))
        # pace: the wobble's slope (0.5 x the mean) keeps s increasing
        wobble_period = _u(rng, 15.0, 25.0)
        s = laps * t / span + 0.5 * laps / span * wobble_period / (2 * math.pi) * np.sin(
            2 * math.pi * t / wobble_period + _u(rng, 0, 2 * math.pi))
        xy = self.position(s)
        for axis in range(2):
            xy[:, axis] += (_smooth_noise(rng, t, 0.1, (8.0, 30.0))
                            + _smooth_noise(rng, t, 0.004, (0.25, 1.0)))
        inward = np.arctan2(self.centre[1] - xy[:, 1], self.centre[0] - xy[:, 0])
        amp = 0.5 * self.sweeps[0]
        yaw = (inward + amp * np.sin(2 * math.pi * t / _u(rng, 25.0, 35.0)
                                      + self.sweeps[2])
               + _smooth_noise(rng, t, math.radians(10.0), (3.0, 10.0))
               + _smooth_noise(rng, t, math.radians(0.3), (0.25, 1.0)))
        pitch = -np.radians(15.0 + 8.0 * np.sin(2 * math.pi * t / _u(rng, 15.0, 25.0)
                                                + self.pitch[1])
                            + _smooth_noise(rng, t, 0.5, (0.25, 1.0)))
        lo, hi = CAMERA_HEIGHT
        z = ((lo + hi) / 2 + 0.4 * (hi - lo) * np.sin(2 * math.pi * t / _u(rng, 40.0, 60.0)
                                                      + self.wobble[3])
             + 0.01 * np.sin(2 * math.pi * 1.8 * t))
        roll = (np.radians(3.0) * np.sin(2 * math.pi * t / 11.0 + self.wobble[2])
                + _smooth_noise(rng, t, math.radians(0.3), (0.25, 1.0)))
        return np.stack([look_pose(np.array([xy[i, 0], xy[i, 1], z[i]]), yaw[i], pitch[i], roll[i])
                         for i in range(n)])


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, amplitude: float,
                  periods: tuple[float, float], k: int = 3) -> np.ndarray:
    """A smooth random signal at times ``t`` (s): ``k`` sinusoids with periods drawn in
    ``periods`` (s) and random phases, weighted so that |signal| <= ``amplitude``."""
    period = rng.uniform(periods[0], periods[1], k)
    phase = rng.uniform(0.0, 2 * math.pi, k)
    weight = rng.uniform(0.5, 1.0, k)
    waves = np.sin(2 * math.pi * t[None, :] / period[:, None] + phase[:, None])
    return amplitude * (weight[:, None] * waves).sum(axis=0) / weight.sum()


def _make_path(rng: np.random.Generator, W: float, D: float) -> CameraPath:
    return CameraPath(
        centre=(_u(rng, -0.1, 0.1) * W, _u(rng, -0.1, 0.1) * D),
        axes=(W * _u(rng, 0.22, 0.27), D * _u(rng, 0.22, 0.27)),
        wobble=(_u(rng, 0.0, 0.1), float(rng.integers(2, 4)), _u(rng, 0, 2 * math.pi),
                _u(rng, 0, 2 * math.pi)),
        sweeps=(math.radians(_u(rng, 95, 120)), float(rng.integers(2, 4)) + 0.5,
                _u(rng, 0, 2 * math.pi)),
        pitch=(float(rng.integers(3, 6)), _u(rng, 0, 2 * math.pi)),
    )


def _widened(path: CameraPath, W: float, D: float, margin: float = 0.7) -> CameraPath:
    """The loop scaled about its centre by up to ``HANDHELD_REACH``, nearer the walls (to look
    across the room) but at least ``margin`` metres from them."""
    xy = path.position(np.linspace(0.0, 1.0, 600, endpoint=False))
    k = HANDHELD_REACH
    for axis, half in ((0, W / 2), (1, D / 2)):
        d = xy[:, axis] - path.centre[axis]
        c = path.centre[axis]
        room = np.where(d > 0, half - margin - c, half - margin + c)
        k = min(k, float(np.min(room[d != 0] / np.abs(d[d != 0]))))
    return replace(path, axes=(k * path.axes[0], k * path.axes[1]))


# ---- tessellation ------------------------------------------------------------------------
def _grid(origin: np.ndarray, U: np.ndarray, V: np.ndarray, nu: int, nv: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """A (nu x nv)-quad grid spanning origin + [0,1]U + [0,1]V; normals along U x V."""
    a = np.linspace(0.0, 1.0, nu + 1)
    b = np.linspace(0.0, 1.0, nv + 1)
    A, B = np.meshgrid(a, b, indexing="ij")
    verts = origin + A.reshape(-1, 1) * U + B.reshape(-1, 1) * V
    i, j = np.meshgrid(np.arange(nu), np.arange(nv), indexing="ij")
    p = (i * (nv + 1) + j).ravel()
    q, r, t = p + (nv + 1), p + (nv + 1) + 1, p + 1
    faces = np.concatenate([np.stack([p, q, r], 1), np.stack([p, r, t], 1)])
    return verts, faces


def _n(length: float, h: float) -> int:
    return max(1, int(math.ceil(length / h - 1e-9)))


def _box_mesh(part: Part, h: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.asarray(part.center, float), np.asarray(part.size, float)
    lo = c - s / 2
    ex, ey, ez = np.diag(s)
    nx, ny, nz = _n(s[0], h), _n(s[1], h), _n(s[2], h)
    grids = [
        (lo + ex, ey, ez, ny, nz), (lo, ez, ey, nz, ny),  # +x, -x
        (lo + ey, ez, ex, nz, nx), (lo, ex, ez, nx, nz),  # +y, -y
        (lo + ez, ex, ey, nx, ny), (lo, ey, ex, ny, nx),  # +z, -z
    ]
    return _merge([_grid(*g) for g in grids])


def _cyl_counts(part: Part, h: float) -> tuple[int, int, int]:
    r, height = part.size[0] / 2, part.size[2]
    na = int(np.clip(math.ceil(2 * math.pi * r / h), 8, 32))
    return na, _n(height, h), _n(r, h)


def _cyl_mesh(part: Part, h: float) -> tuple[np.ndarray, np.ndarray]:
    r, height = part.size[0] / 2, part.size[2]
    c = np.asarray(part.center, float)
    na, nh, nr = _cyl_counts(part, h)
    th = 2 * math.pi * np.arange(na) / na
    ring = np.stack([np.cos(th), np.sin(th), np.zeros(na)], 1)
    # Side: (nh + 1) rings of na vertices, quads wrapping around.
    zs = np.linspace(0.0, height, nh + 1)
    side = (c + r * ring[None, :, :] + zs[:, None, None] * np.array([0, 0, 1.0])).reshape(-1, 3)
    k, j = np.meshgrid(np.arange(nh), np.arange(na), indexing="ij")
    a = (k * na + j).ravel()
    b = (k * na + (j + 1) % na).ravel()
    side_f = np.concatenate([np.stack([a, b, b + na], 1), np.stack([a, b + na, a + na], 1)])
    meshes = [(side, side_f)]
    for top in (False, True):
        z = height if top else 0.0
        radii = r * np.arange(1, nr + 1) / nr
        verts = [c + [0, 0, z]] + [c + [0, 0, z] + rad * ring for rad in radii]
        verts = np.vstack([np.atleast_2d(v) for v in verts])
        jj = np.arange(na)
        fan = np.stack([np.zeros(na, int), 1 + jj, 1 + (jj + 1) % na], 1)
        quads = []
        for q in range(nr - 1):
            p0, p1 = 1 + q * na, 1 + (q + 1) * na
            quads.append(np.stack([p0 + jj, p1 + jj, p1 + (jj + 1) % na], 1))
            quads.append(np.stack([p0 + jj, p1 + (jj + 1) % na, p0 + (jj + 1) % na], 1))
        f = np.concatenate([fan, *quads]) if quads else fan
        if not top:
            f = f[:, ::-1]
        meshes.append((verts, f))
    return _merge(meshes)


def _merge(meshes: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    verts, faces, off = [], [], 0
    for v, f in meshes:
        verts.append(v)
        faces.append(f + off)
        off += len(v)
    return np.vstack(verts), np.vstack(faces)


def _part_faces(part: Part, h: float) -> int:
    if part.kind == "box":
        nx, ny, nz = (_n(v, h) for v in part.size)
        return 4 * (nx * ny + ny * nz + nx * nz)
    na, nh, nr = _cyl_counts(part, h)
    return 2 * na * nh + 2 * na * (2 * nr - 1)


def _room_parts(W: float, D: float, H: float) -> list[tuple[str, np.ndarray, np.ndarray,
                                                            np.ndarray]]:
    """(label, origin, U, V) of the floor, ceiling and four walls (normals into the room)."""
    x0, y0 = -W / 2, -D / 2
    ex, ey, ez = np.array([W, 0, 0.0]), np.array([0, D, 0.0]), np.array([0, 0, H])
    return [
        ("floor", np.array([x0, y0, 0.0]), ex, ey),
        ("ceiling", np.array([x0, y0, H]), ey, ex),
        ("wall", np.array([x0, y0, 0.0]), ez, ex),  # south, normal +y
        ("wall", np.array([x0, -y0, 0.0]), ex, ez),  # north, normal -y
        ("wall", np.array([x0, y0, 0.0]), ey, ez),  # west, normal +x
        ("wall", np.array([-x0, y0, 0.0]), ez, ey),  # east, normal -x
    ]


def _room_faces(W: float, D: float, H: float, h: float) -> int:
    return sum(2 * _n(np.linalg.norm(U), h) * _n(np.linalg.norm(V), h)
               for _, _, U, V in _room_parts(W, D, H))


def _edge_for_target(parts: list[Part], room: tuple[float, float, float], target: int) -> float:
    """Largest edge length whose tessellation stays at or under ``target`` faces (bisection;
    small parts have a fixed minimum cost, so the target may be unreachable: then 2 m)."""
    def count(h: float) -> int:
        return _room_faces(*room, h) + sum(_part_faces(p, h) for p in parts)

    lo, hi = 0.01, 2.0
    if count(hi) >= target:
        return hi
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        if count(mid) > target:
            lo = mid
        else:
            hi = mid
    return hi


# ---- the room ----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SyntheticRoom:
    """A generated room in the aligned world frame (metres, +z up, floor at z = 0).

    Attributes:
        seed: the generator seed.
        spec: the spec it was made with.
        size: (3,) float64 room width (x), depth (y) and height (z).
        vertices: (V, 3) float32 world coordinates.
        faces: (F, 3) int32 vertex indices (counter-clockwise seen from outside / the room).
        vertex_colors: (V, 3) uint8 RGB.
        vertex_instance: (V,) int32 instance id (0 = unannotated clutter).
        instance_labels: instance id -> raw ScanNet category.
        support: instance id -> id of the instance it stands on (stacked objects only).
        poses: (N, 4, 4) float64 OpenCV camera-to-world of every frame (all finite; the
            ``inf_pose`` quirk is applied when writing or building a ``Scene``).
        color_K, depth_K: (3, 3) float64 intrinsics at ``spec.color_size`` / ``spec.depth_size``.
        invalid_pose_frames: frames whose pose is reported as all -inf (``inf_pose`` quirk).
        zero_depth_frames: frames whose depth is reported as all zero (``zero_depth`` quirk).
        edge_length: subdivision edge length used (metres).
    """

    seed: int
    spec: SynthSpec
    size: np.ndarray
    vertices: np.ndarray
    faces: np.ndarray
    vertex_colors: np.ndarray
    vertex_instance: np.ndarray
    instance_labels: dict[int, str]
    support: dict[int, int]
    poses: np.ndarray
    color_K: np.ndarray
    depth_K: np.ndarray
    invalid_pose_frames: tuple[int, ...] = ()
    zero_depth_frames: tuple[int, ...] = ()
    edge_length: float = 0.0
    meta: dict = field(default_factory=dict)

    @functools.cached_property
    def face_instance(self) -> np.ndarray:
        """(F,) int32 instance id per face (instances own their vertices)."""
        return self.vertex_instance[self.faces[:, 0]].astype(np.int32)

    @property
    def colors(self) -> np.ndarray:
        """(V, 3) uint8 RGB per vertex (same array as ``vertex_colors``)."""
        return self.vertex_colors

    def object_ids(self) -> list[int]:
        """Instance ids of the annotated non-structural objects."""
        return [i for i, lab in self.instance_labels.items()
                if lab not in ("wall", "floor", "ceiling")]


def default_intrinsics(size: tuple[int, int], depth: bool) -> np.ndarray:
    """ScanNet-like pinhole intrinsics for (width, height): colour fx ~ 0.903 w with a
    slightly off-centre principal point (calibrated-looking); depth fx ~ 0.893 w, centred."""
    w, h = size
    if depth:
        fx, fy, cx, cy = 0.8932 * w, 0.8932 * w, (w - 1) / 2, (h - 1) / 2
    else:
        fx, fy, cx, cy = 0.9025 * w, 0.9006 * w, 0.4987 * w, 0.5061 * h
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def generate_room(seed: int, spec: SynthSpec = DEFAULT_SPEC) -> SyntheticRoom:
    """Generate one room (geometry, labels, camera walk-through) deterministically from seed."""
    unknown = set(spec.quirks) - SYNTH_QUIRKS - WRITER_QUIRKS
    if unknown:
        raise UnknownNameError("synthetic quirk", sorted(unknown)[0],
                               sorted(SYNTH_QUIRKS | WRITER_QUIRKS))
    if spec.walk not in WALKS:
        raise UnknownNameError("synthetic walk", spec.walk, list(WALKS))
    rng = np.random.default_rng(seed)
    W, D, H = _u(rng, 4.0, 8.0), _u(rng, 3.5, 7.0), _u(rng, 2.6, 3.0)
    if spec.room_size is not None:  # drawn above all the same: the seed's stream is unchanged
        W, D, H = (float(v) for v in spec.room_size)
    path = _make_path(rng, W, D)
    if spec.walk == "handheld":
        path = _widened(path, W, D)

    layout = Layout(rng, W, D, H, path.position(np.linspace(0, 1, 600, endpoint=False)))

    target = spec.n_objects if spec.n_objects is not None else int(rng.integers(15, 41))
    _fill_room(layout, target, spec.furniture_rounds)
    _place_clutter(layout)

    parts_all = [p for obj in layout.placed for p in obj.shape.parts]
    h = _edge_for_target(parts_all, (W, D, H), spec.target_faces)
    verts, faces, cols, inst, labels, support = _build_mesh(layout, (W, D, H), h, rng)

    poses = (path.poses(spec.n_frames, rng) if spec.walk == "loop"
             else path.handheld_poses(spec.n_frames, rng))
    n = spec.n_frames
    bad_pose = (n // 3,) if "inf_pose" in spec.quirks and n >= 3 else ()
    zero_depth = (n // 2,) if "zero_depth" in spec.quirks and n >= 2 else ()
    return SyntheticRoom(
        seed=seed, spec=spec, size=np.array([W, D, H]), vertices=verts, faces=faces,
        vertex_colors=cols, vertex_instance=inst, instance_labels=labels, support=support,
        poses=poses, color_K=default_intrinsics(spec.color_size, depth=False),
        depth_K=default_intrinsics(spec.depth_size, depth=True),
        invalid_pose_frames=bad_pose, zero_depth_frames=zero_depth, edge_length=h,
        meta={"target_objects": target},
    )


def _fill_room(L: Layout, target: int, rounds: int = 1) -> None:
    rng = L.rng

    def run(group: Callable[[Layout, int], int]) -> None:
        group(L, target - L.count())

    # Always: a door, a window, a dining table with chairs, a desk set, and 2-3 boxes, so every
    # room has repeated categories and stacked objects.
    for g in (_group_door, _group_window, _group_dining, _group_office, _group_boxes):
        run(g)
    for _ in range(rounds):
        optional = [g for g in GROUPS if g != "box"]
        rng.shuffle(optional)
        for name in optional:
            if L.count() >= target:
                break
            run(GROUPS[name])
    for attempt in range(60):
        if L.count() >= target:
            break
        run(GROUPS[FILLERS[attempt % len(FILLERS)]])


def _place_clutter(L: Layout) -> None:
    """One unannotated prop (instance 0): a pair of shoes on the floor."""
    shape = Shape((_box(-0.07, 0, 0.05, 0.1, 0.27, 0.1), _box(0.07, 0.02, 0.05, 0.1, 0.27, 0.1)))
    L.place_floor_random("", shape, tries=200)


def _build_mesh(L: Layout, room: tuple[float, float, float], h: float,
                rng: np.random.Generator):
    W, D, H = room
    cats = scannet_categories()
    verts, faces, cols, inst = [], [], [], []
    labels: dict[int, str] = {}
    support: dict[int, int] = {}
    off = 0

    def add(v: np.ndarray, f: np.ndarray, rgb: np.ndarray, iid: int) -> None:
        nonlocal off
        verts.append(v)
        faces.append(f + off)
        noise = rng.uniform(-7, 7, (len(v), 1))  # subtle texture so frames are not flat
        cols.append(np.clip(rgb + noise, 0, 255))
        inst.append(np.full(len(v), iid, np.int32))
        off += len(v)

    next_id = 1
    for label, origin, U, V in _room_parts(W, D, H):
        v, f = _grid(origin, U, V, _n(np.linalg.norm(U), h), _n(np.linalg.norm(V), h))
        base = np.asarray(PALETTE[label], float) + rng.uniform(-10, 10, 3)
        add(v, f, base, next_id)
        labels[next_id] = label
        next_id += 1
    index_to_id: dict[int, int] = {}
    for i, obj in enumerate(L.placed):
        iid = 0
        if obj.label:
            if obj.label not in cats:
                raise KeyError(f"category {obj.label!r} missing from {CATEGORY_FILE}")
            iid = next_id
            next_id += 1
            labels[iid] = obj.label
            index_to_id[i] = iid
            if obj.parent is not None and obj.parent in index_to_id:
                support[iid] = index_to_id[obj.parent]
        for part in obj.shape.parts:
            v, f = _box_mesh(part, h) if part.kind == "box" else _cyl_mesh(part, h)
            rgb = (np.asarray(part.color, float) if part.color is not None
                   else obj.color * part.tone)
            add(obj.to_world(v), f, rgb, iid)
    return (np.vstack(verts).astype(np.float32), np.vstack(faces).astype(np.int32),
            np.vstack(cols).round().astype(np.uint8), np.concatenate(inst), labels, support)
