"""Source-independent scene building blocks: box fitting and object records from a labelled mesh.

Every source reader turns its annotation into a per-face instance id and a label per instance,
then calls ``build_objects``; boxes are therefore computed the same way for every source.
World frame: metres, +z up (the source's aligned frame).

Boxes ignore faces that continue a neighbouring surface (``surface_continuations``): real
segmentations bleed, e.g. a ScanNet segment that belongs to a toaster oven also covers a strip
of the counter top, and a box over every labelled face would be that much larger (see
docs/concepts.md, "Object boxes").
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..structures import OrientedBox, SceneObject

STRUCTURAL_NAMES = frozenset({"wall", "floor", "ceiling"})
STRUCTURAL_NYU40 = frozenset({1, 2, 22})  # NYU40 wall, floor, ceiling

# Faces continue a neighbour's surface when they lie in one plane (within CONTINUATION_DIST m,
# facing the same way within CONTINUATION_ANGLE_DEG) with an edge-adjacent face of another
# instance that holds more of that plane (surface_continuations). An object more than
# CONTINUATION_MAX_SHARE of whose area is such faces lies in the neighbour's surface itself (a
# picture, a door, a rug) and keeps all its faces.
CONTINUATION_DIST = 0.02
CONTINUATION_ANGLE_DEG = 20.0
CONTINUATION_MAX_SHARE = 0.5


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
    from scipy.spatial import ConvexHull, QhullError  # here: the CLI imports this module

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


def _edge_pairs(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f, g) face index pairs sharing an edge, both directions (an edge with more than two
    faces pairs each with the next one in sorted order)."""
    f = np.asarray(faces, dtype=np.int64)
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    owner = np.tile(np.arange(len(f)), 3)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    e, o = edges[order], owner[order]
    same = (e[1:] == e[:-1]).all(axis=1) & (o[1:] != o[:-1])
    a, b = o[:-1][same], o[1:][same]
    return np.concatenate([a, b]), np.concatenate([b, a])


def _face_planes(vertices: np.ndarray, faces: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per face: unit normal (F, 3) (zero for a degenerate face), area (F,) in square metres
    and centroid (F, 3), all float64."""
    v = np.asarray(vertices, dtype=np.float64)
    tri = v[np.asarray(faces, dtype=np.int64)]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = 0.5 * np.linalg.norm(n, axis=1)
    n = np.where(area[:, None] > 0, n / np.maximum(2 * area[:, None], 1e-300), 0.0)
    return n, area, tri.mean(axis=1)


def _seed_edges(n: np.ndarray, c: np.ndarray, inst: np.ndarray, src: np.ndarray,
                dst: np.ndarray, instances: Collection[int] | None) -> np.ndarray:
    """Mask over the directed edge pairs (src, dst): src is a face of a tested annotated
    instance, dst a face of another instance (or unannotated), and src lies in dst's plane
    (normals within ``CONTINUATION_ANGLE_DEG``, centroid within ``CONTINUATION_DIST`` m)."""
    cos_max = np.cos(np.deg2rad(CONTINUATION_ANGLE_DEG))
    seed = (inst[src] != inst[dst]) & (inst[src] >= 1)
    if instances is not None:
        seed &= np.isin(inst[src], np.fromiter(instances, dtype=np.int64))
    seed[seed] = ((n[src[seed]] * n[dst[seed]]).sum(axis=1) > cos_max) & (
        np.abs(((c[src[seed]] - c[dst[seed]]) * n[dst[seed]]).sum(axis=1)) < CONTINUATION_DIST)
    return seed


class _PlaneGrower:
    """Grows a plane from a face over edge-adjacent faces of the same instance (or of
    unannotated geometry) that keep to the plane: facing its way within
    ``CONTINUATION_ANGLE_DEG``, centroid within ``CONTINUATION_DIST`` m of it.

    Args:
        n, c: (F, 3) unit normals and centroids (metres); inst: (F,) instance ids;
        src, dst: directed edge pairs of edge-adjacent faces (``_edge_pairs``).
    """

    def __init__(self, n: np.ndarray, c: np.ndarray, inst: np.ndarray, src: np.ndarray,
                 dst: np.ndarray):
        self.n, self.c = n, c
        self.cos_max = np.cos(np.deg2rad(CONTINUATION_ANGLE_DEG))
        # adjacency inside each instance (and inside unannotated geometry), for growing planes;
        # faces more than twice the tolerance apart in direction never join one plane
        keep = (inst[src] == inst[dst]) & ((n[src] * n[dst]).sum(axis=1)
                                           > np.cos(np.deg2rad(2 * CONTINUATION_ANGLE_DEG)))
        a, b = src[keep], dst[keep]
        order = np.argsort(a, kind="stable")
        a, self.b = a[order], b[order]
        self.starts = np.searchsorted(a, np.arange(len(inst)))
        self.ends = np.searchsorted(a, np.arange(len(inst)), side="right")
        self.stamp = np.full(len(inst), -1, dtype=np.int64)  # last growth that reached a face
        self.grown = 0

    def _on_plane(self, f: np.ndarray, pn: np.ndarray, pc: np.ndarray) -> np.ndarray:
        return ((self.n[f] @ pn > self.cos_max)
                & (np.abs((self.c[f] - pc) @ pn) < CONTINUATION_DIST))

    def grow(self, start: int, pn: np.ndarray, pc: np.ndarray) -> np.ndarray:
        """Faces of start's instance reachable from it while keeping to the plane through
        ``pc`` with unit normal ``pn``; (k,) int face indices, ``start`` first."""
        self.grown += 1
        gid = self.grown
        starts, ends, stamp = self.starts, self.ends, self.stamp
        stamp[start] = gid
        frontier, found = np.array([start]), [np.array([start])]
        while len(frontier):
            counts = ends[frontier] - starts[frontier]
            total = int(counts.sum())
            if not total:
                break
            idx = np.repeat(starts[frontier] - (np.cumsum(counts) - counts), counts)
            nxt = np.unique(self.b[idx + np.arange(total)])
            nxt = nxt[stamp[nxt] != gid]
            nxt = nxt[self._on_plane(nxt, pn, pc)]
            stamp[nxt] = gid
            found.append(nxt)
            frontier = nxt
        return np.concatenate(found)


def surface_continuations(vertices: np.ndarray, faces: np.ndarray, face_instance: np.ndarray,
                          instances: Collection[int] | None = None) -> np.ndarray:
    """Faces of annotated instances that continue a larger surface of another instance.

    Where a face f of instance A shares an edge with a face g of another instance B (or of
    unannotated geometry) and both lie in one plane (facing the same way within
    ``CONTINUATION_ANGLE_DEG``, f within ``CONTINUATION_DIST`` of g's plane), the plane is
    grown from f over edge-adjacent faces of A and from g over faces of B, each face keeping to
    g's plane by the same two tolerances. If A's part of the plane has less area than B's, it
    is B's surface going on across the label boundary (the strip of counter top a bleeding
    segment brought into a toaster oven) and its faces are returned. An object's own faces
    meet the surface it stands on at a crease, so they stay out of that plane; and where the
    label boundary runs along the object's side (a row of side faces labelled as the table),
    the object holds the larger part of the side's plane and keeps it.

    Args:
        vertices: (V, 3) float world coordinates (metres).
        faces: (F, 3) int vertex indices.
        face_instance: (F,) int instance id per face (0 = unannotated).
        instances: the instances whose faces to test (default: every annotated one).

    Returns:
        (F,) bool.
    """
    n, area, c = _face_planes(vertices, faces)
    inst = np.asarray(face_instance)
    out = np.zeros(len(inst), dtype=bool)
    src, dst = _edge_pairs(faces)
    if not len(src):
        return out
    seed = _seed_edges(n, c, inst, src, dst, instances)
    if not seed.any():
        return out
    planes = _PlaneGrower(n, c, inst, src, dst)
    decided = np.zeros(len(inst), dtype=bool)  # faces of A already in a grown plane
    plane_area: dict[int, float] = {}  # face of B -> area of B's plane grown through it
    pairs = sorted(zip(src[seed].tolist(), dst[seed].tolist(), strict=True))
    for f, g in pairs:
        if decided[f]:
            continue
        pn, pc = n[g], c[g]
        mine = planes.grow(f, pn, pc)
        decided[mine] = True
        theirs = plane_area.get(g)
        if theirs is None:
            region = planes.grow(g, pn, pc)
            theirs = float(area[region].sum())
            plane_area.update(dict.fromkeys(region.tolist(), theirs))
        if area[mine].sum() < theirs:
            out[mine] = True
    return out


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

    Boxes are fitted to the vertices of the instance's faces, leaving out the faces that
    continue a neighbouring surface (``surface_continuations``) unless they hold more than
    ``CONTINUATION_MAX_SHARE`` of its area: ``aabb_min``/``aabb_max`` and a minimum-area box
    about z (``fit_z_box``). ``n_faces`` counts every face. ``structural`` follows
    ``is_structural``. Raises ValueError when an instance present in ``face_instance`` has no
    label.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    face_instance = np.asarray(face_instance)
    ids = np.unique(face_instance)
    ids = ids[ids >= 1]
    named = {int(i): labels.get(int(i)) for i in ids}
    # walls, floors and ceilings are never question targets: their boxes need no care
    targets = [i for i, info in named.items() if info is not None and not is_structural(
        info if isinstance(info, ObjectLabel) else ObjectLabel(label=info, category=info))]
    continued = surface_continuations(vertices, faces, face_instance, targets)
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
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
        box_faces = fidx[~continued[fidx]]
        if not len(box_faces) or (area[fidx].sum() - area[box_faces].sum()
                                  > CONTINUATION_MAX_SHARE * area[fidx].sum()):
            box_faces = fidx  # the object lies in the neighbour's surface: keep everything
        pts = vertices[np.unique(faces[box_faces])]
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
