"""Object boxes on real-looking segmentations: a segment that bleeds into the surface an
object stands on does not inflate its box (sources.base.surface_continuations)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mosaic.sources.base import (
    ObjectLabel,
    build_objects,
    face_instances_from_vertices,
    fit_z_box,
    surface_continuations,
)
from mosaic.sources.scannet import load_scannet_scene
from mosaic.synthetic.room import generate_room
from mosaic.synthetic.scannet_writer import (
    LabelRow,
    ReleaseFrame,
    ReleaseScene,
    write_label_table,
    write_release_scene,
)

SID = "scene0100_00"
TABLE, OVEN = 1, 2
TABLE_Z = 0.75
STEP = 0.02  # grid spacing of the scanned surface (m)
OVEN_X, OVEN_Y, OVEN_H = (-0.20, 0.25), (-0.10, 0.20), 0.25  # 45 x 30 x 25 cm


def _grid(p0, u, v, nu: int, nv: int, normal) -> tuple[np.ndarray, np.ndarray]:
    """A planar grid p0 + (i/nu) u + (j/nv) v, split into triangles facing ``normal``."""
    i, j = np.meshgrid(np.arange(nu + 1), np.arange(nv + 1))
    pts = (np.asarray(p0, float) + i.ravel()[:, None] / nu * np.asarray(u, float)
           + j.ravel()[:, None] / nv * np.asarray(v, float))
    faces = []
    for r in range(nv):
        for q in range(nu):
            a, b = r * (nu + 1) + q, r * (nu + 1) + q + 1
            d, e = a + nu + 1, b + nu + 1
            faces += [(a, b, e), (a, e, d)]
    faces = np.array(faces, np.int64)
    if np.dot(np.cross(np.asarray(u, float), np.asarray(v, float)), normal) < 0:
        faces = faces[:, ::-1]
    return pts, faces


def scanned_table(bleed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A table top scanned with a toaster oven on it, welded into one surface as a
    reconstruction mesh is (no bottom under the oven; the oven's sides meet the table top).

    Returns vertices (V, 3), faces (F, 3) and per-vertex instance ids, as ScanNet labels
    vertices: the rim where the oven meets the table belongs to the table. With ``bleed`` a
    20 x 25 cm strip of the table top beside the oven carries the oven's id, as a segment
    that bleeds into the counter does.
    """
    (x0, x1), (y0, y1), top = OVEN_X, OVEN_Y, TABLE_Z + OVEN_H
    parts = []
    nx, ny = round(1.0 / STEP), round(0.8 / STEP)
    pts, faces = _grid((-0.5, -0.4, TABLE_Z), (1.0, 0, 0), (0, 0.8, 0), nx, ny, (0, 0, 1))
    cen = pts[faces].mean(axis=1)
    under = (cen[:, 0] > x0) & (cen[:, 0] < x1) & (cen[:, 1] > y0) & (cen[:, 1] < y1)
    parts.append((pts, faces[~under]))  # the table top with a hole where the oven stands
    wx, wy, nz = round((x1 - x0) / STEP), round((y1 - y0) / STEP), 10
    parts.append(_grid((x0, y0, top), (x1 - x0, 0, 0), (0, y1 - y0, 0), wx, wy, (0, 0, 1)))
    up = (0, 0, OVEN_H)
    parts.append(_grid((x0, y0, TABLE_Z), (x1 - x0, 0, 0), up, wx, nz, (0, -1, 0)))
    parts.append(_grid((x0, y1, TABLE_Z), (x1 - x0, 0, 0), up, wx, nz, (0, 1, 0)))
    parts.append(_grid((x0, y0, TABLE_Z), (0, y1 - y0, 0), up, wy, nz, (-1, 0, 0)))
    parts.append(_grid((x1, y0, TABLE_Z), (0, y1 - y0, 0), up, wy, nz, (1, 0, 0)))
    verts, faces, off = [], [], 0
    for pv, pf in parts:
        verts.append(pv)
        faces.append(pf + off)
        off += len(pv)
    verts = np.concatenate(verts)
    uniq, inverse = np.unique(np.round(verts, 6), axis=0, return_inverse=True)  # weld
    faces = inverse.reshape(-1)[np.concatenate(faces)]
    x, y, z = uniq.T
    eps = 1e-9
    inst = np.where((z > TABLE_Z + eps), OVEN, TABLE)  # the oven's top and sides, not the rim
    if bleed:
        strip = (x >= x1 - eps) & (x <= x1 + 0.25 + eps) & (np.abs(y) <= 0.1 + eps)
        inst[strip & (z < TABLE_Z + eps)] = OVEN
    return uniq, faces, inst


def _objects(verts, faces, vinst):
    finst = face_instances_from_vertices(faces, vinst)
    labels = {TABLE: ObjectLabel("table", "table"), OVEN: ObjectLabel("toaster oven", "oven")}
    return {o.instance_id: o for o in build_objects(verts, faces, finst, labels)}, finst


def _all_faces_box(verts, faces, finst, iid):
    return fit_z_box(verts[np.unique(faces[finst == iid])])


def test_bleeding_segment_does_not_inflate_the_box():
    clean, _ = _objects(*scanned_table(bleed=False))
    verts, faces, vinst = scanned_table(bleed=True)
    bled, finst = _objects(verts, faces, vinst)
    # the box over every labelled face is 25 cm longer: what the old rule reported
    naive = _all_faces_box(verts, faces, finst, OVEN)
    assert max(naive.extent) - max(clean[OVEN].size) > 0.2
    # the robust box: size and centre as without the bleeding segment
    assert abs(max(bled[OVEN].size) - max(clean[OVEN].size)) <= 0.05
    np.testing.assert_allclose(bled[OVEN].size, clean[OVEN].size, atol=0.05)
    np.testing.assert_allclose(bled[OVEN].center, clean[OVEN].center, atol=0.03)
    # and close to the true oven: 45 x 30 x 25 cm, plus at most a grid cell of scan slope
    true = np.array([OVEN_X[1] - OVEN_X[0], OVEN_Y[1] - OVEN_Y[0], OVEN_H])
    assert np.all(bled[OVEN].size >= true - STEP) and np.all(bled[OVEN].size <= true + 1e-6)
    assert bled[OVEN].n_faces > clean[OVEN].n_faces  # the faces stay labelled (visibility)
    # which faces were left out: the strip, flat on the table plane
    cont = surface_continuations(verts, faces, finst)
    left_out = cont & (finst == OVEN)
    centroids = verts[faces[left_out]].mean(axis=1)
    assert left_out.sum() >= 100
    assert np.allclose(centroids[:, 2], TABLE_Z, atol=STEP) and (centroids[:, 0] > OVEN_X[1]).all()
    # the table keeps its whole top; what it leaves out is the bottom row of the oven's sides
    # (labelled table because the rim is), a plane the oven holds most of
    sliver = verts[faces[cont & (finst == TABLE)]]
    assert (sliver[:, :, 2].max(axis=1) <= TABLE_Z + OVEN_H / 10 + 1e-6).all()
    assert (np.ptp(sliver[:, :, 2], axis=1) > 0).all()  # vertical faces, none of the top
    np.testing.assert_allclose(bled[TABLE].size, (1.0, 0.8, 0.0), atol=1e-9)  # its flat top


def test_bleeding_segment_read_from_a_scannet_release(tmp_path):
    """The same scan through the release files: the bleed is a segment in the aggregation."""
    sizes = {}
    for bleed in (False, True):
        verts, faces, vinst = scanned_table(bleed)
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (90, 90, 90)).save(buf, format="JPEG")
        pose = np.eye(4)
        pose[:3, 3] = (0.0, -1.5, 1.4)
        release = ReleaseScene(
            scene_id=SID, vertices=verts.astype(np.float32),
            vertex_colors=np.full((len(verts), 3), 128, np.uint8), faces=faces.astype(np.int32),
            vertex_instance=vinst.astype(np.int32),
            instance_labels={TABLE: "table", OVEN: "toaster oven"}, axis_alignment=np.eye(4),
            color_K=np.array([[50.0, 0, 32], [0, 50, 24], [0, 0, 1]]), color_size=(64, 48),
            depth_K=np.array([[25.0, 0, 16], [0, 25, 12], [0, 0, 1]]), depth_size=(32, 24),
            frames=[ReleaseFrame(pose, buf.getvalue(), np.zeros((24, 32), np.uint16))],
        )
        root = tmp_path / str(bleed)
        write_release_scene(root, release)
        write_label_table(root, [LabelRow(7, "table", "table", 7, "table"),
                                 LabelRow(1186, "toaster oven", "toaster oven", 40,
                                          "otherprop")])
        scene = load_scannet_scene(root, SID)
        sizes[bleed] = scene.object(OVEN)
    assert sizes[True].n_faces > sizes[False].n_faces  # the bleed reached the reader
    assert abs(max(sizes[True].size) - max(sizes[False].size)) <= 0.05
    np.testing.assert_allclose(sizes[True].center, sizes[False].center, atol=0.03)


def test_an_object_lying_in_a_surface_keeps_its_faces():
    """A mat flat on the table is all 'continuation' of the table plane: more than half of
    its area, so it keeps every face and its box is the mat."""
    verts, faces = _grid((-0.5, -0.4, TABLE_Z), (1.0, 0, 0), (0, 0.8, 0), 50, 40, (0, 0, 1))
    vinst = np.where((np.abs(verts[:, 0]) <= 0.2 + 1e-9) & (np.abs(verts[:, 1]) <= 0.1 + 1e-9),
                     OVEN, TABLE)
    objs, finst = _objects(verts, faces, vinst)
    assert surface_continuations(verts, faces, finst)[finst == OVEN].all()
    naive = _all_faces_box(verts, faces, finst, OVEN)
    np.testing.assert_allclose(objs[OVEN].size, naive.extent, atol=1e-9)
    np.testing.assert_allclose(sorted(objs[OVEN].size)[1:], [0.2, 0.4], atol=2 * STEP + 1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_rooms_keep_every_face(seed):
    """The built-in rooms are assembled from separate closed parts: no face continues another
    instance's surface, so their boxes (and the questions on them) are unchanged."""
    room = generate_room(seed)
    assert not surface_continuations(room.vertices, room.faces, room.face_instance).any()


def test_bleeding_strip_in_a_synthetic_room():
    """Relabel a 25 cm strip of the desk or table top beside a thing standing on it, on each
    side in turn (a bleeding segment on the procedural room): its box keeps its size within
    5 cm, where the box over every labelled face grows by up to 30 cm."""
    room = generate_room(0)
    tri = room.vertices[room.faces].astype(np.float64)
    cen = tri.mean(axis=1)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    up = n[:, 2] > 0.99 * np.linalg.norm(n, axis=1)
    labels = {i: ObjectLabel(lab, lab) for i, lab in room.instance_labels.items()}
    before = {o.instance_id: o for o in build_objects(room.vertices, room.faces,
                                                      room.face_instance, labels)}
    grown = []
    for inner, outer in sorted(room.support.items()):
        lo, hi = before[inner].aabb_min, before[inner].aabb_max
        for ax, sign in ((0, 1), (1, 1), (0, -1), (1, -1)):
            beyond = (cen[:, ax] - (hi[ax] if sign > 0 else lo[ax])) * sign
            across = 1 - ax
            strip = ((room.face_instance == outer) & up & (np.abs(cen[:, 2] - lo[2]) < 1e-3)
                     & (beyond > 0) & (beyond < 0.25)
                     & (cen[:, across] > lo[across]) & (cen[:, across] < hi[across]))
            fi = room.face_instance.copy()
            fi[strip] = inner
            after = {o.instance_id: o for o in build_objects(room.vertices, room.faces, fi,
                                                             labels)}
            naive = fit_z_box(room.vertices[np.unique(room.faces[fi == inner])].astype(float))
            grown.append(max(naive.extent) - max(before[inner].size))
            assert abs(max(after[inner].size) - max(before[inner].size)) <= 0.05
            np.testing.assert_allclose(after[inner].center, before[inner].center, atol=0.03)
    assert len(grown) >= 8 and max(grown) > 0.2
