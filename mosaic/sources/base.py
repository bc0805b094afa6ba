"""Source-independent scene building blocks: box fitting and object records from a labelled mesh.

Every source reader turns its annotation into a per-face instance id and a label per instance,
then calls ``build_objects``; boxes are therefore computed the same way for every source.
World frame: metres, +z up (the source's aligned frame).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from ..structures import OrientedBox, SceneObject

STRUCTURAL_NAMES = frozenset({"wall", "floor", "ceiling"})
STRUCTURAL_NYU40 = frozenset({1, 2, 22})  # NYU40 wall, floor, ceiling


@dataclass(frozen=True)
class SceneEntry:
    """One scene of a dataset root as listed by ``mosaic.sources.list_scenes``.

    Attributes:
        scene_id: the source's scene id.
        split: official split (``"train"``, ``"val"``, ``"test"``) or None when unknown.
        folder: where the scene's files are (or would be).
        complete: every required file is present.
        missing: names of the required files (or the folder, ending in ``/``) that are absent.
    """

    scene_id: str
    split: str | None
    folder: Path
    complete: bool
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObjectLabel:
    """Naming of one instance.

    Attributes:
        label: raw category string as annotated.
        category: name used in questions (label table ``category``, else the raw label).
        nyu40_id: NYU40 class id or None.
        scannet200_id: ScanNet200 class id (label table ``id``) or None.
    """

    label: str
    category: str
    nyu40_id: int | None = None
    scannet200_id: int | None = None


def is_structural(label: ObjectLabel) -> bool:
    """Wall, floor or ceiling by category, raw label or NYU40 id (1, 2, 22)."""
    names = {label.category.strip().lower(), label.label.strip().lower()}
    return bool(names & STRUCTURAL_NAMES) or label.nyu40_id in STRUCTURAL_NYU40


def _canonical(angles: np.ndarray) -> np.ndarray:
    return np.mod(angles + np.pi / 4, np.pi / 2) - np.pi / 4


def min_area_rect(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Minimum-area enclosing rectangle of 2D points (rotating calipers over hull edges).

    Args:
        xy: (N, 2) float points, N >= 1.

    Returns:
        centre (2,), side lengths (2,) along (u, v), and the angle of u in radians, in
        [-pi/4, pi/4) (a rectangle is the same after a quarter turn; this range keeps boxes of
        an axis-aligned room at angle ~0 with extents in x, y order).
        Degenerate inputs (fewer than 3 points, collinear) fall back to the axis-aligned box
        of their principal direction.
    """
    xy = np.asarray(xy, dtype=np.float64)
    try:
        hull = xy[ConvexHull(xy).vertices]
        edges = np.roll(hull, -1, axis=0) - hull
        angles = _canonical(np.arctan2(edges[:, 1], edges[:, 0]))
    except (QhullError, ValueError, IndexError):
        hull = xy
        if len(xy) >= 2 and np.ptp(xy, axis=0).max() > 0:
            _, _, vt = np.linalg.svd(xy - xy.mean(axis=0), full_matrices=False)
            angles = _canonical(np.array([np.arctan2(vt[0, 1], vt[0, 0])]))
        else:
            angles = np.array([0.0])
    angles = np.unique(np.round(angles, 12))
    c, s = np.cos(angles), np.sin(angles)
    # Coordinates of every hull point along u = (c, s) and v = (-s, c), for every angle.
    pu = hull[:, 0:1] * c + hull[:, 1:2] * s
    pv = -hull[:, 0:1] * s + hull[:, 1:2] * c
    wu = pu.max(axis=0) - pu.min(axis=0)
    wv = pv.max(axis=0) - pv.min(axis=0)
    best = int(np.argmin(wu * wv))  # first minimum: deterministic on ties
    a = float(angles[best])
    mu = (pu[:, best].max() + pu[:, best].min()) / 2
    mv = (pv[:, best].max() + pv[:, best].min()) / 2
    u = np.array([np.cos(a), np.sin(a)])
    v = np.array([-np.sin(a), np.cos(a)])
    return mu * u + mv * v, np.array([wu[best], wv[best]]), a


def fit_z_box(points: np.ndarray) -> OrientedBox:
    """Oriented box about the world z axis: minimum-area rectangle in xy times the z extent.

    Args:
        points: (N, 3) float world points (metres, z up).

    Returns:
        ``OrientedBox`` whose rotation is a rotation about z (columns u, v, z).
    """
    pts = np.asarray(points, dtype=np.float64)
    centre_xy, ext_xy, a = min_area_rect(pts[:, :2])
    zmin, zmax = pts[:, 2].min(), pts[:, 2].max()
    rot = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    return OrientedBox(
        center=np.array([centre_xy[0], centre_xy[1], (zmin + zmax) / 2]),
        extent=np.array([ext_xy[0], ext_xy[1], zmax - zmin]),
        rotation=rot,
    )


def face_instances_from_vertices(faces: np.ndarray, vertex_instance: np.ndarray) -> np.ndarray:
    """Per-face instance: the id shared by at least two of the face's three vertices, else 0.

    Args:
        faces: (F, 3) int vertex indices.
        vertex_instance: (V,) int instance id per vertex (0 = unannotated).

    Returns:
        (F,) int32 instance id per face.
    """
    vi = np.asarray(vertex_instance)[np.asarray(faces)]
    a, b, c = vi[:, 0], vi[:, 1], vi[:, 2]
    out = np.where((a == b) | (a == c), a, np.where(b == c, b, 0))
    return out.astype(np.int32)


def build_objects(
    vertices: np.ndarray,
    faces: np.ndarray,
    face_instance: np.ndarray,
    labels: Mapping[int, ObjectLabel | str],
) -> tuple[SceneObject, ...]:
    """One ``SceneObject`` per instance id >= 1 present in ``face_instance``, sorted by id.

    Args:
        vertices: (V, 3) float world coordinates (metres, z up, aligned frame).
        faces: (F, 3) int vertex indices.
        face_instance: (F,) int instance id per face (0 = unannotated).
        labels: instance id -> ``ObjectLabel`` (or a plain raw label, used as category).

    Boxes are fitted to the vertices of the instance's faces: ``aabb_min``/``aabb_max`` and a
    minimum-area box about z (``fit_z_box``). ``structural`` follows ``is_structural``.
    Raises ValueError when an instance present in ``face_instance`` has no label.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    face_instance = np.asarray(face_instance)
    ids = np.unique(face_instance)
    ids = ids[ids >= 1]
    order = np.argsort(face_instance, kind="stable")
    sorted_inst = face_instance[order]
    objects = []
    for inst in ids:
        lo, hi = np.searchsorted(sorted_inst, [inst, inst + 1])
        fidx = order[lo:hi]
        info = labels.get(int(inst))
        if info is None:
            raise ValueError(f"instance {int(inst)} is on the mesh but has no label")
        if isinstance(info, str):
            info = ObjectLabel(label=info, category=info)
        pts = vertices[np.unique(faces[fidx])]
        objects.append(
            SceneObject(
                instance_id=int(inst),
                label=info.label,
                category=info.category,
                nyu40_id=info.nyu40_id,
                scannet200_id=info.scannet200_id,
                aabb_min=pts.min(axis=0),
                aabb_max=pts.max(axis=0),
                obb=fit_z_box(pts),
                n_faces=int(len(fidx)),
                structural=is_structural(info),
            )
        )
    return tuple(objects)
