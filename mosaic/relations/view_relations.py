"""View-dependent pairwise relations (docs/tasks.md).

Three axes, each judged in one view from the visibility labels:

* ``lr``: horizontal image position of ``center_visible`` (original pixels, x right);
  a relation holds only when the centres differ by more than ``lr_margin x width``.
* ``ab``: vertical image position of ``center_visible`` (y down, so "above" = smaller y);
  margin ``ab_margin x height``.
* ``fb``: ``depth_median`` (camera z, metres); "in front of" = closer to the camera;
  margin ``fb_margin`` metres.

An object whose visible box spans more than ``qa.relation_max_span`` of the image width is
not related on ``lr`` (of the height: on ``ab``): the centre of a couch that fills most of the
frame is not where a person looks to say what is left of it.

Signs: +1 means "a is left of / above / in front of b", -1 the opposite, 0 that the pair is
inside the margin or not related (never used, neither as a positive nor as a negative).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..config import QAConfig
from ..structures import ObjectVisibility

AXES: tuple[str, ...] = ("lr", "ab", "fb")
# Direction words per axis: index 0 is the +1 direction, index 1 the -1 direction.
DIRECTIONS: dict[str, tuple[str, str]] = {
    "lr": ("left", "right"),
    "ab": ("above", "below"),
    "fb": ("front", "behind"),
}


def axis_margin(axis: str, width: int, height: int, qa: QAConfig) -> float:
    """The separation a relation on ``axis`` must exceed (original pixels, or metres for fb)."""
    if axis == "lr":
        return qa.lr_margin * width
    if axis == "ab":
        return qa.ab_margin * height
    if axis == "fb":
        return qa.fb_margin
    raise ValueError(f"unknown relation axis {axis!r}; valid: {', '.join(AXES)}")


def axis_coordinate(rec: ObjectVisibility, axis: str) -> float:
    """The coordinate a relation on ``axis`` compares: centre x or y (px) or depth (m)."""
    if axis == "fb":
        return float(rec.depth_median)
    if rec.center_visible is None:
        return float("nan")
    return float(rec.center_visible[0] if axis == "lr" else rec.center_visible[1])


def too_wide(rec: ObjectVisibility, axis: str, width: int, height: int, qa: QAConfig) -> bool:
    """The visible box spans more than ``qa.relation_max_span`` of the image along ``axis``
    (lr: width, ab: height; never for fb), so the object is not related on that axis."""
    if axis == "fb" or rec.bbox_visible is None:
        return False
    x0, y0, x1, y1 = rec.bbox_visible
    extent, side = (x1 - x0, width) if axis == "lr" else (y1 - y0, height)
    return extent > qa.relation_max_span * side


def relation_sign(
    a: ObjectVisibility,
    b: ObjectVisibility,
    axis: str,
    width: int,
    height: int,
    qa: QAConfig,
    slack: float = 0.0,
) -> int:
    """+1 when a is left of / above / in front of b by more than the margin, -1 for the
    opposite, 0 inside the margin (or when either object is not visible, or spans most of the
    image along the axis: ``too_wide``).

    ``slack`` widens the margin (same unit as the axis) to keep labels away from the edge.
    """
    if not (a.visible and b.visible):
        return 0
    if too_wide(a, axis, width, height, qa) or too_wide(b, axis, width, height, qa):
        return 0
    ca, cb = axis_coordinate(a, axis), axis_coordinate(b, axis)
    if not (np.isfinite(ca) and np.isfinite(cb)):
        return 0
    m = axis_margin(axis, width, height, qa) + slack
    # smaller coordinate = left / above / closer: all three map to +1
    if cb - ca > m:
        return 1
    if ca - cb > m:
        return -1
    return 0


def sign_matrix(coords: np.ndarray, margin: float) -> np.ndarray:
    """(n, n) int8: [i, j] = +1 when coords[i] < coords[j] - margin, -1 when coords[i] >
    coords[j] + margin, else 0 (also 0 where a coordinate is not finite)."""
    c = np.asarray(coords, dtype=np.float64)
    diff = c[None, :] - c[:, None]  # [i, j] = c_j - c_i
    out = np.zeros(diff.shape, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        out[diff > margin] = 1
        out[diff < -margin] = -1
    return out


@dataclass(frozen=True)
class ViewRelations:
    """Relations among the visible, non-structural objects of one view.

    Attributes:
        frame_id: source frame number.
        width, height: original image size in pixels.
        ids: (n,) int64 instance ids of the visible non-structural objects, sorted.
        centers: (n, 2) float64 ``center_visible`` (original pixels, x right, y down).
        depths: (n,) float64 ``depth_median`` (m).
        signs: axis -> (n, n) int8 sign matrix (see module docstring), margins and the
            span rule applied.
    """

    frame_id: int
    width: int
    height: int
    ids: np.ndarray
    centers: np.ndarray
    depths: np.ndarray
    signs: dict[str, np.ndarray]

    def index(self, instance_id: int) -> int | None:
        """Row of an instance in ``ids`` / the sign matrices, or None when not visible."""
        return self._rows.get(int(instance_id))

    @cached_property
    def _rows(self) -> dict[int, int]:
        return {int(i): k for k, i in enumerate(self.ids)}

    def relation(self, a: int, b: int, axis: str) -> int:
        """Sign of the relation of instance a to instance b (0 when either is not visible)."""
        rows = self._rows
        ia, ib = rows.get(a), rows.get(b)
        if ia is None or ib is None:
            return 0
        return self._sign_lists[axis][ia][ib]

    @cached_property
    def _sign_lists(self) -> dict[str, list[list[int]]]:
        # question generation asks for signs one pair at a time, hundreds of thousands of
        # times per scene: Python lists answer that several times faster than array indexing
        return {axis: m.tolist() for axis, m in self.signs.items()}

    def __getstate__(self) -> dict[str, object]:
        # the fields only: the lookups above are rebuilt where they are used
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    def pairs(self, axis: str) -> list[tuple[int, int, int]]:
        """(a, b, sign) for every ordered pair with a decided relation on ``axis``, in row-major
        order of the sign matrix."""
        s = self.signs[axis]
        ii, jj = np.nonzero(s)
        return list(zip(self.ids[ii].tolist(), self.ids[jj].tolist(), s[ii, jj].tolist(),
                        strict=True))


def view_relations(
    records: list[ObjectVisibility],
    frame_id: int,
    width: int,
    height: int,
    qa: QAConfig,
    slack: dict[str, float] | None = None,
) -> ViewRelations:
    """Sign matrices on every axis for the given (visible) object records of one view.

    Args:
        records: visibility records of the objects to relate (invisible ones are dropped).
        width, height: original image size (pixels); margins scale with these.
        slack: optional extra margin per axis (pixels for lr/ab, metres for fb).
    """
    recs = sorted((r for r in records if r.visible), key=lambda r: r.instance_id)
    ids = np.array([r.instance_id for r in recs], dtype=np.int64)
    centers = np.array(
        [r.center_visible if r.center_visible is not None else (np.nan, np.nan) for r in recs],
        dtype=np.float64,
    ).reshape(-1, 2)
    depths = np.array([r.depth_median for r in recs], dtype=np.float64)
    slack = slack or {}
    coords = {"lr": centers[:, 0], "ab": centers[:, 1], "fb": depths}
    for axis in ("lr", "ab"):  # objects spanning most of the image are not related
        wide = np.array([too_wide(r, axis, width, height, qa) for r in recs], dtype=bool)
        coords[axis] = np.where(wide, np.nan, coords[axis])
    signs = {
        axis: sign_matrix(coords[axis], axis_margin(axis, width, height, qa) + slack.get(axis, 0.0))
        for axis in AXES
    }
    return ViewRelations(frame_id, width, height, ids, centers, depths, signs)
