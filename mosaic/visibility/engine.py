"""Per-view visibility labels from first-hit ray casting (defined in docs/concepts.md).

For a view, one ray per pixel of the labelling image (long side ``max_side``, intrinsics scaled)
gives the first-hit face, hence the instance buffer and depth. Amodal footprints are exact ray
casts of each object alone:

* ``pruned`` (default): inside the image only the *undecided* pixels of the object's possible
  footprint are cast against the object alone: pixels whose first hit is another surface lying
  in front of the object's farthest vertex. Every other pixel is decided by the first-hit buffer
  (the object's own pixels are amodal; a miss or a first hit behind the object's far bound means
  the ray passed the object's depth range without meeting it). The result equals the exact
  render.
* ``exact``: every pixel of the projected box is cast against the object alone (the reference).

Outside the image both methods cast the object alone over its projected box on an enlarged
image plane (``enlarge`` image sizes beyond each border), split into strips that lie wholly
outside the image. ``exact`` casts every pixel there. ``pruned`` casts a regular sub-grid when the
strips hold more than ``batch_pixels.OUTSIDE_RAYS`` (1024) pixels, weighting each hit by its
cell's area; the benchmark reports the resulting error against ``exact`` (it must stay within
the accuracy bar: mean <= 0.01, p99 <= 0.05 on occlusion and truncation; docs/performance.md).

``pruned`` runs vectorised over the (object, view) pairs of a batch of views
(``ViewLabeller.label``): one pass over the instance buffers gives every object's visible
pixels, box and median depth; the objects' convex
hulls bound the pixels and out-of-image cells each could cover (``hulls.TargetHulls``: rays
outside that bound cannot meet the object, so skipping them changes no hit), and each object
casts its remaining rays of all the views of a batch in two calls (image window, outside).
``ViewLabeller.label_reference`` is the slow per-object version of the same method (a 2D hull
per object and view); the two give identical labels (tests/test_visibility.py).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..config import VisibilityConfig
from ..errors import ConfigError
from ..structures import (
    Frame,
    ObjectVisibility,
    Scene,
    ViewVisibility,
    occlusion_bin,
    scaled_intrinsics,
)
from .base import (
    Caster,
    camera_to_world_dirs,
    get_backend,
    labelling_size,
    pixel_directions,
    world_ray_directions,
)
from .batch_pixels import (
    OUTSIDE_RAYS,
    VisibleStats,
    occluder_counts,
    outside_cells,
    outside_rects,
    pixel_spans,
    window_pixels,
)
from .hulls import TargetHulls, hull_points


def structural_ids(scene: Scene, config: VisibilityConfig) -> set[int]:
    """Instance ids of wall / floor / ceiling (occluders, never targets)."""
    names = set(config.structural_labels)
    return {
        o.instance_id
        for o in scene.objects
        if o.structural or o.category in names or o.label in names
    }


def countable_faces(scene: Scene, config: VisibilityConfig) -> np.ndarray:
    """(F,) bool: faces of annotated non-structural objects (what ``visible_faces`` lists)."""
    fi = scene.face_instance
    return (fi >= 1) & ~np.isin(fi, list(structural_ids(scene, config)))


def _visible_faces(face: np.ndarray, countable: np.ndarray) -> np.ndarray:
    """Sorted ids of countable faces among one view's first hits (face (h*w,), -1 = miss)."""
    seen = np.zeros(len(countable) + 1, bool)  # a mask beats np.unique's sort here
    seen[face] = True  # a miss marks the extra last entry
    return np.flatnonzero(seen[:-1] & countable)


class SceneCasters:
    """The scene's full caster plus lazily built per-object casters (one BVH each)."""

    def __init__(self, scene: Scene, backend: str = "embree", device: str = "cpu"):
        options = {"device": device} if backend == "warp" else {}
        self.backend = get_backend(backend, **options)
        self.scene = scene
        self.full: Caster = self.backend.build(scene.vertices, scene.faces)
        order = np.argsort(scene.face_instance, kind="stable")
        ids, starts = np.unique(scene.face_instance[order], return_index=True)
        ends = np.append(starts[1:], len(order))
        self._faces_of = {int(i): order[s:e] for i, s, e in zip(ids, starts, ends, strict=True)}
        self._objects: dict[int, Caster] = {}
        self._hulls: dict[int, np.ndarray] = {}

    def hull(self, instance_id: int) -> np.ndarray:
        """Convex-hull vertices (M, 3) float64 of the object (M = 0 without faces).

        The hull bounds everything the engine needs per view (projected box, depth range,
        whether the object reaches behind the near plane) at a fraction of the cost of
        transforming every vertex.
        """
        hull = self._hulls.get(instance_id)
        if hull is None:
            hull = hull_points(self._object_mesh(instance_id)[0])
            self._hulls[instance_id] = hull
        return hull

    def object(self, instance_id: int) -> Caster:
        """Caster over the object's faces alone, built on first use (many never need one)."""
        caster = self._objects.get(instance_id)
        if caster is None:
            verts, faces = self._object_mesh(instance_id)
            caster = self.backend.build(verts, faces)
            self._objects[instance_id] = caster
        return caster

    def _object_mesh(self, instance_id: int) -> tuple[np.ndarray, np.ndarray]:
        face_idx = self._faces_of.get(instance_id, np.zeros(0, np.int64))
        tri = self.scene.faces[face_idx]
        used, local = np.unique(tri, return_inverse=True)
        return (
            self.scene.vertices[used].astype(np.float64),
            local.reshape(-1, 3).astype(np.int32),
        )


@dataclass(frozen=True)
class _ViewGeometry:
    frame: Frame
    w: int
    h: int
    sx: float
    sy: float
    K: np.ndarray  # labelling intrinsics
    dirs: np.ndarray  # (h*w, 3) float32 world directions, camera z = 1


def _view_geometry(frame: Frame, max_side: int, out: np.ndarray | None = None
                   ) -> _ViewGeometry:
    """The view's labelling size, intrinsics and ray directions (into ``out`` if given)."""
    w, h, _ = labelling_size(frame.width, frame.height, max_side)
    sx, sy = w / frame.width, h / frame.height
    K = scaled_intrinsics(frame.K, sx, sy)
    dirs = world_ray_directions(K, frame.cam_to_world, w, h,
                                None if out is None else out[: w * h])
    return _ViewGeometry(frame, w, h, sx, sy, K, dirs)


def _fill_rows(out: np.ndarray, row: np.ndarray) -> None:
    """out[:] = row for an (N, 3) array, one column at a time (a broadcast over a 3-wide last
    axis is ~3x slower)."""
    for c in range(3):
        out[:, c] = row[c]


def batch_rays(frames: Sequence[Frame], max_side: int
               ) -> tuple[list[_ViewGeometry], np.ndarray, np.ndarray]:
    """Every pixel ray of a batch of views, written once into two arrays (no concatenation).

    Returns the views' geometry (each ``dirs`` a slice of the batch) and the batch's origins
    and directions, (N, 3) float32 C-contiguous, view after view.
    """
    sizes = [labelling_size(f.width, f.height, max_side) for f in frames]
    n = sum(w * h for w, h, _ in sizes)
    origins = np.empty((n, 3), np.float32)
    dirs = np.empty((n, 3), np.float32)
    geos, start = [], 0
    for f, (w, h, _) in zip(frames, sizes, strict=True):
        geos.append(_view_geometry(f, max_side, dirs[start:]))
        _fill_rows(origins[start : start + w * h], f.cam_to_world[:3, 3])
        start += w * h
    return geos, origins, dirs


def visibility_state(visible: bool, occlusion: float, truncation: float, full: float) -> str:
    if not visible:
        return "invisible"
    occ, trunc = occlusion > full, truncation > full
    if occ and trunc:
        return "occluded+truncated"
    if occ:
        return "occluded"
    if trunc:
        return "truncated"
    return "full"


def _span_box(span: tuple[int, int, int, int], sx: float, sy: float) -> tuple[float, ...]:
    """Pixel index span (r_min, r_max, c_min, c_max) -> (x0, y0, x1, y1) in original-frame
    continuous coordinates."""
    r0, r1, c0, c1 = span
    return (float(c0 / sx), float(r0 / sy), float((c1 + 1) / sx), float((r1 + 1) / sy))


def is_visible(visible_px: int, visible_ratio: float, min_px: int, image_px: int,
               config: VisibilityConfig) -> bool:
    """The ``visible`` rule (docs/concepts.md): enough visible pixels, and a large enough share
    of the footprint or a large share of the image (a couch close by shows a small share of its
    huge footprint yet fills much of the frame)."""
    return visible_px >= min_px and (
        visible_ratio >= config.min_visible_ratio
        or visible_px >= math.ceil(config.large_visible_frac * image_px)
    )


def _record(
    iid: int,
    V: int,
    A_in: int,
    A_tot: float,
    vis_span: tuple[int, int, int, int] | None,
    hid_span: tuple[int, int, int, int] | None,
    depth_med: float,
    occluders: tuple[tuple[int, int], ...],
    g: _ViewGeometry,
    min_px: int,
    cfg: VisibilityConfig,
) -> ObjectVisibility:
    """One object's labels from its pixel counts (V, A_in as ints, A_tot as float) and spans
    (r_min, r_max, c_min, c_max) of its visible and hidden pixels at the labelling size."""
    truncation = 1.0 - A_in / A_tot
    occlusion = 1.0 - V / A_in if A_in > 0 else 0.0
    visible_ratio = V / A_tot
    visible = is_visible(V, visible_ratio, min_px, g.w * g.h, cfg)
    bbox_vis = _span_box(vis_span, g.sx, g.sy) if vis_span else None
    center = (
        ((bbox_vis[0] + bbox_vis[2]) / 2.0, (bbox_vis[1] + bbox_vis[3]) / 2.0)
        if bbox_vis else None
    )
    if vis_span is None or hid_span is None:
        am_span = vis_span or hid_span
    else:
        am_span = (min(vis_span[0], hid_span[0]), max(vis_span[1], hid_span[1]),
                   min(vis_span[2], hid_span[2]), max(vis_span[3], hid_span[3]))
    return ObjectVisibility(
        instance_id=iid,
        visible_px=V,
        amodal_px_in=A_in,
        amodal_px_total=int(round(A_tot)),
        truncation=float(truncation),
        occlusion=float(occlusion),
        visible_ratio=float(visible_ratio),
        bbox_visible=bbox_vis,
        bbox_amodal=_span_box(am_span, g.sx, g.sy),
        center_visible=center,
        depth_median=depth_med,
        occluders=occluders,
        state=visibility_state(visible, occlusion, truncation, cfg.full_threshold),
        occ_level=occlusion_bin(1.0 - visible_ratio, cfg.occ_bins),
        visible=bool(visible),
    )


class ViewLabeller:
    """Labels views of one scene; holds the casters so they are built once per scene."""

    def __init__(
        self,
        scene: Scene,
        config: VisibilityConfig | None = None,
        casters: SceneCasters | None = None,
    ):
        self.scene = scene
        self.config = config or VisibilityConfig()
        cfg = self.config
        if cfg.amodal_method not in ("pruned", "exact"):
            raise ConfigError(
                f"visibility.amodal_method must be 'pruned' or 'exact', not {cfg.amodal_method!r}"
            )
        self.casters = casters or SceneCasters(scene, cfg.backend, cfg.device)
        structural = structural_ids(scene, cfg)
        self.targets = [
            o.instance_id
            for o in scene.objects
            if o.instance_id >= 1 and o.instance_id not in structural
        ]
        self._countable_face = countable_faces(scene, cfg)
        self._inst_of_face = np.append(scene.face_instance, -1).astype(np.int32)

    def label(self, frames: Sequence[Frame]) -> list[ViewVisibility]:
        """Cast a batch of views in one backend call, then label them (``pruned``: all the
        views of one labelling size at once, vectorised over (object, view) pairs)."""
        if self.config.amodal_method != "pruned":
            return self.label_reference(frames)
        if not frames:
            return []
        geos, origins, dirs = batch_rays(frames, self.config.max_side)
        face, t = self.casters.full.cast(origins, dirs)
        out: list[ViewVisibility] = []
        start = first = 0
        for i in range(1, len(geos) + 1):  # runs of views with the same labelling size
            if i == len(geos) or (geos[i].w, geos[i].h) != (geos[first].w, geos[first].h):
                n = (i - first) * geos[first].w * geos[first].h
                out += self._label_fast(geos[first:i], dirs[start : start + n],
                                        face[start : start + n], t[start : start + n])
                start, first = start + n, i
        return out

    def label_reference(self, frames: Sequence[Frame]) -> list[ViewVisibility]:
        """``label`` computed view by view and object by object (slow): the reference of the
        vectorised ``pruned`` path, identical labels; with ``exact`` it is ``label`` itself."""
        if not frames:
            return []
        geos, origins, dirs = batch_rays(frames, self.config.max_side)
        face, t = self.casters.full.cast(origins, dirs)
        out, start = [], 0
        for g in geos:
            n = g.w * g.h
            out.append(self._label_one(g, face[start : start + n], t[start : start + n]))
            start += n
        return out

    def _label_one(self, g: _ViewGeometry, face: np.ndarray, t: np.ndarray) -> ViewVisibility:
        cfg = self.config
        inst = self._inst_of_face[face]  # face -1 (a miss) reads the appended -1
        depth = np.where(face >= 0, t, np.float32(0.0))
        vis_faces = _visible_faces(face, self._countable_face)
        min_px = max(1, math.ceil(cfg.min_visible_frac * g.w * g.h))
        return ViewVisibility(
            frame_id=g.frame.frame_id,
            instance_buffer=inst.reshape(g.h, g.w),
            depth=depth.reshape(g.h, g.w),
            face_buffer=face.reshape(g.h, g.w).astype(np.int32, copy=False),
            scale=g.sx,
            objects=tuple(self._objects_reference(g, inst, depth, min_px)),
            visible_faces=vis_faces,
        )

    # ---- vectorised over objects (the ``pruned`` method) --------------------------------------
    @cached_property
    def _target_hulls(self) -> tuple[TargetHulls, np.ndarray]:
        """The targets' hulls, and each face's object slot among them ((F + 1,) int32, -1
        for other faces; the last entry is a miss)."""
        hulls = TargetHulls.build(self.targets, [self.casters.hull(i) for i in self.targets])
        top = max(int(self.scene.face_instance.max(initial=0)), int(hulls.ids.max(initial=0)))
        slot_of = np.full(top + 2, -1, np.int32)  # instance id + 1 -> object slot
        slot_of[hulls.ids + 1] = np.arange(len(hulls.ids))
        return hulls, slot_of[self._inst_of_face + 1]  # face -1 reads -1

    def _label_fast(self, geos: Sequence[_ViewGeometry], dirs: np.ndarray, face: np.ndarray,
                    t: np.ndarray) -> list[ViewVisibility]:
        """Label views of one size together. dirs (V*h*w, 3), face, t (V*h*w,): their pixel
        rays and first hits, view after view (a view's face buffer is a slice of ``face``;
        its instance and depth buffers are its own)."""
        cfg = self.config
        w, h = geos[0].w, geos[0].h
        hw = w * h
        min_px = max(1, math.ceil(cfg.min_visible_frac * hw))
        records = self._records_fast(geos, dirs, face, t, min_px)
        views = []
        for v, g in enumerate(geos):
            # instance and depth buffers are the view's own arrays, as the reference makes
            # them; the face buffer is a slice of the batch's (see the docstring)
            f = face[v * hw : (v + 1) * hw]
            views.append(ViewVisibility(
                frame_id=g.frame.frame_id,
                instance_buffer=self._inst_of_face[f].reshape(h, w),
                depth=np.where(f >= 0, t[v * hw : (v + 1) * hw], np.float32(0.0)).reshape(h, w),
                face_buffer=f.reshape(h, w),
                scale=g.sx,
                objects=tuple(records[v]),
                visible_faces=_visible_faces(f, self._countable_face),
            ))
        return views

    def _records_fast(self, geos: Sequence[_ViewGeometry], dirs: np.ndarray, face: np.ndarray,
                      t: np.ndarray, min_px: int) -> list[list[ObjectVisibility]]:
        """Every target's record in views of one size, vectorised over (object, view) pairs
        q = k * V + v (object-major, so each object's rays in all the views go to its caster
        together).

        dirs: (V*h*w, 3) the views' pixel rays; face, t: (V*h*w,) their first hits: face
        int32 (-1 miss), t float32 the camera depth of a hit (directions have camera z = 1),
        inf on a miss."""
        cfg = self.config
        hulls, slot_of_face = self._target_hulls
        nv, n_obj = len(geos), len(hulls)
        out: list[list[ObjectVisibility]] = [[] for _ in geos]
        if n_obj == 0:
            return out
        w, h = geos[0].w, geos[0].h
        hw, nq = w * h, n_obj * nv
        view_of = np.tile(np.arange(nv), n_obj)  # pair -> view
        obj_of = np.repeat(np.arange(n_obj), nv)  # pair -> object slot
        P = np.stack([g.frame.cam_to_world for g in geos])
        K = np.stack([g.K for g in geos])
        pc = hulls.camera_points(P)  # (V, points, 3)
        z = pc[..., 2]
        zmax = np.maximum.reduceat(z, hulls.starts, axis=1).T.ravel()
        allfront = (np.minimum.reduceat(z, hulls.starts, axis=1) > cfg.near).T.ravel()
        c0, r0, c1, r1 = self._pixel_boxes(K, pc, hulls.starts, allfront, w, h)
        active = (zmax > cfg.near) & (c0 < c1) & (r0 < r1)
        ic0, ir0 = np.maximum(c0, 0), np.maximum(r0, 0)
        ic1, ir1 = np.minimum(c1, w), np.minimum(r1, h)
        inwin = active & (ic0 < ic1) & (ir0 < ir1)  # only these can have A_in > 0

        slot = slot_of_face[face]  # object slot of each first hit, -1: not a target
        px = np.flatnonzero(slot >= 0)
        pv = px // hw
        px_q = slot[px] * nv + pv
        counts = np.bincount(px_q, minlength=nq)
        V = counts * inwin
        vis = VisibleStats(px - pv * hw, px_q, t[px], counts, w, h)

        # rays that might meet each object alone: undecided pixels of its window (first hit
        # another surface in front of the object's far bound), sub-grid cells outside
        sil = hulls.silhouettes(P, K, inwin)
        qs = np.flatnonzero(inwin)
        win_q, win_pix = window_pixels(qs, (ic0, ir0, ic1, ir1), view_of[qs] * hw, sil, nq, w)
        thr = (zmax * (1 + 1e-5) + 1e-5).astype(np.float32)  # as the reference compares
        undecided = (slot[win_pix] != obj_of[win_q]) & (t[win_pix] <= thr[win_q])  # inf: miss
        win_q, win_pix = win_q[undecided], win_pix[undecided]
        out_box = inwin & ((c0 < 0) | (r0 < 0) | (c1 > w) | (r1 > h))
        rects = outside_rects(np.flatnonzero(out_box), (c0, r0, c1, r1), w, h)
        out_q, out_x, out_y, out_w = outside_cells(rects, sil, nq)

        hit_in, hit_out = self._cast_rays(geos, dirs, hulls.ids, win_q, win_pix, out_q, out_x,
                                          out_y)
        h_q, h_pix = win_q[hit_in], win_pix[hit_in]
        n_hidden = np.bincount(h_q, minlength=nq)
        A_in = V + n_hidden
        A_out = np.bincount(out_q[hit_out], weights=out_w[hit_out], minlength=nq)
        hid_span = pixel_spans(h_pix % hw, n_hidden, w)
        occluders = occluder_counts(h_q, self._inst_of_face[face[h_pix]])
        ids = hulls.ids.tolist()
        for q in np.flatnonzero(A_in > 0).tolist():
            v = q % nv
            out[v].append(_record(
                ids[q // nv], int(V[q]), int(A_in[q]), int(A_in[q]) + float(A_out[q]),
                vis.span(q), hid_span.get(q), vis.median(q), occluders.get(q, ()), geos[v],
                min_px, cfg,
            ))
        return out

    def _pixel_boxes(self, K: np.ndarray, pc: np.ndarray, starts: np.ndarray,
                     allfront: np.ndarray, w: int, h: int) -> tuple[np.ndarray, ...]:
        """``_pixel_box`` of every (object, view) pair at once: (c0, r0, c1, r1) (K*V,) int64
        each, object-major. K: (V, 3, 3); pc: (V, points, 3) hull points in camera frames."""
        e = self.config.enlarge
        lim = (-int(e * w), -int(e * h), int((1 + e) * w), int((1 + e) * h))
        with np.errstate(divide="ignore", invalid="ignore"):
            u = K[:, 0, 0, None] * pc[..., 0] / pc[..., 2] + K[:, 0, 2, None]
            v = K[:, 1, 1, None] * pc[..., 1] / pc[..., 2] + K[:, 1, 2, None]
            umin = np.minimum.reduceat(u, starts, axis=1).T.ravel()
            umax = np.maximum.reduceat(u, starts, axis=1).T.ravel()
            vmin = np.minimum.reduceat(v, starts, axis=1).T.ravel()
            vmax = np.maximum.reduceat(v, starts, axis=1).T.ravel()
            box = (
                np.maximum(lim[0], np.floor(umin - 0.5) - 1),
                np.maximum(lim[1], np.floor(vmin - 0.5) - 1),
                np.minimum(lim[2], np.ceil(umax - 0.5) + 2),
                np.minimum(lim[3], np.ceil(vmax - 0.5) + 2),
            )
        return tuple(np.where(allfront, b, lm).astype(np.int64)
                     for b, lm in zip(box, lim, strict=True))

    def _cast_rays(self, geos: Sequence[_ViewGeometry], dirs: np.ndarray, ids: np.ndarray,
                   win_q: np.ndarray, win_pix: np.ndarray, out_q: np.ndarray,
                   out_x: np.ndarray, out_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cast window pixels (indices into the views' pixel rays ``dirs``, (V*h*w, 3)) and
        out-of-image sample points of (object, view) pairs against their object alone:
        (hit_in, hit_out) bool. Pairs are object-major, so each object's rays in all the views
        are two runs (window, outside): two backend calls per object."""
        nv = len(geos)
        cams = np.stack([g.frame.cam_to_world[:3, 3] for g in geos]).astype(np.float32)
        # np.take on rows is several times faster than fancy indexing of an (N, 3) array
        in_dirs = np.take(dirs, win_pix, axis=0)
        in_origins = np.take(cams, win_pix // (geos[0].w * geos[0].h), axis=0)
        out_view = out_q % nv
        out_dirs = np.empty((len(out_q), 3), np.float32)
        for v in np.unique(out_view).tolist():  # the reference's ray arithmetic, view by view
            sel = np.flatnonzero(out_view == v)
            d_cam = pixel_directions(geos[v].K, out_x[sel], out_y[sel])
            out_dirs[sel] = camera_to_world_dirs(d_cam, geos[v].frame.cam_to_world)
        out_origins = np.take(cams, out_view, axis=0)
        hits = []
        for q, origins, rays in ((win_q, in_origins, in_dirs), (out_q, out_origins, out_dirs)):
            hit = np.zeros(len(q), bool)
            n = np.bincount(q // nv, minlength=len(ids))
            ends = np.cumsum(n)
            for k in np.flatnonzero(n).tolist():
                s, e = int(ends[k] - n[k]), int(ends[k])
                hit[s:e] = self.casters.object(int(ids[k])).hits(origins[s:e], rays[s:e])
            hits.append(hit)
        return hits[0], hits[1]

    # ---- object by object (``exact``, and the reference of ``pruned``) ------------------------
    def _objects_reference(self, g: _ViewGeometry, inst: np.ndarray, depth: np.ndarray,
                           min_px: int) -> list[ObjectVisibility]:
        """Every target's record in one view; inst, depth: (h*w,) its first-hit instance id
        (-1 miss) and camera depth (0 on a miss)."""
        P = g.frame.cam_to_world
        R, tc = P[:3, :3], P[:3, 3]
        inst_img, depth_img = inst.reshape(g.h, g.w), depth.reshape(g.h, g.w)
        records = []
        for iid in self.targets:
            rec = self._label_object(g, iid, inst_img, depth_img, R, tc, min_px)
            if rec is not None:
                records.append(rec)
        return records

    def _pixel_box(self, g: _ViewGeometry, verts_cam: np.ndarray) -> tuple[int, int, int, int]:
        """Pixel index box (c0, r0, c1, r1), end-exclusive, on the enlarged plane."""
        e = self.config.enlarge
        lim = (-int(e * g.w), -int(e * g.h), int((1 + e) * g.w), int((1 + e) * g.h))
        z = verts_cam[:, 2]
        if (z <= self.config.near).any():  # projection unbounded: reaches behind the camera
            return lim
        u = g.K[0, 0] * verts_cam[:, 0] / z + g.K[0, 2]
        v = g.K[1, 1] * verts_cam[:, 1] / z + g.K[1, 2]
        # pixel j's centre is j + 0.5; one pixel of slack guards rounding at the border
        c0 = max(lim[0], int(np.floor(u.min() - 0.5)) - 1)
        r0 = max(lim[1], int(np.floor(v.min() - 0.5)) - 1)
        c1 = min(lim[2], int(np.ceil(u.max() - 0.5)) + 2)
        r1 = min(lim[3], int(np.ceil(v.max() - 0.5)) + 2)
        return c0, r0, c1, r1

    def _label_object(
        self,
        g: _ViewGeometry,
        iid: int,
        inst_img: np.ndarray,
        depth_img: np.ndarray,
        R: np.ndarray,
        tc: np.ndarray,
        min_px: int,
    ) -> ObjectVisibility | None:
        cfg = self.config
        verts = self.casters.hull(iid)
        if len(verts) == 0:
            return None
        verts_cam = np.einsum("nj,jk->nk", verts - tc, R)  # world -> camera (R^T (X - t))
        if verts_cam[:, 2].max() <= cfg.near:
            return None  # entirely behind the camera
        c0, r0, c1, r1 = self._pixel_box(g, verts_cam)
        if c0 >= c1 or r0 >= r1:
            return None
        origin = tc.astype(np.float32)

        # inside the image
        ic0, ir0, ic1, ir1 = max(c0, 0), max(r0, 0), min(c1, g.w), min(r1, g.h)
        V = A_in = 0
        vis_span = hid_span = None  # (r_min, r_max, c_min, c_max), image pixel indices
        hidden_ids = np.zeros(0, np.int32)
        depth_med = float("nan")
        if ic0 < ic1 and ir0 < ir1:
            win_inst = inst_img[ir0:ir1, ic0:ic1]
            win_depth = depth_img[ir0:ir1, ic0:ic1]
            vis = win_inst == iid
            if cfg.amodal_method == "pruned":
                zmax = float(verts_cam[:, 2].max())
                cand = ~vis & (win_inst != -1) & (win_depth <= zmax * (1 + 1e-5) + 1e-5)
            else:
                cand = np.ones_like(vis)
            rr, cc = np.nonzero(cand)
            if cfg.amodal_method == "pruned" and len(rr) and (verts_cam[:, 2] > cfg.near).all():
                # the projection lies inside the convex hull of the projected hull points
                keep = _inside_projected_hull(g.K, verts_cam, cc + ic0 + 0.5, rr + ir0 + 0.5)
                rr, cc = rr[keep], cc[keep]
            if len(rr):
                flat = (rr + ir0) * g.w + (cc + ic0)
                dirs = g.dirs[flat]
                caster = self.casters.object(iid)
                f, _ = caster.cast(np.broadcast_to(origin, dirs.shape), dirs)
                hid = (f >= 0) & ~vis[rr, cc]  # amodal but not the first hit: hidden
                hr, hc = rr[hid], cc[hid]
                if len(hr):
                    hidden_ids = win_inst[hr, hc]
                    hid_span = (hr.min() + ir0, hr.max() + ir0, hc.min() + ic0, hc.max() + ic0)
            V = int(np.count_nonzero(vis))
            A_in = V + len(hidden_ids)
            if V:
                # bounds from row/column projections: cheaper than listing every pixel
                rows, cols = np.flatnonzero(vis.any(1)), np.flatnonzero(vis.any(0))
                vis_span = (rows[0] + ir0, rows[-1] + ir0, cols[0] + ic0, cols[-1] + ic0)
                depth_med = float(np.median(win_depth[vis]))

        if A_in == 0:
            return None  # no footprint in the image: nothing a question could use
        A_tot = A_in + self._outside_hits(g, iid, origin, R, (c0, r0, c1, r1))
        if len(hidden_ids):
            ids, counts = np.unique(hidden_ids, return_counts=True)
            order = np.lexsort((ids, -counts))
            occluders = tuple((int(ids[k]), int(counts[k])) for k in order)
        else:
            occluders = ()
        return _record(iid, V, A_in, A_tot, vis_span, hid_span, depth_med, occluders, g,
                       min_px, cfg)

    def _outside_hits(
        self,
        g: _ViewGeometry,
        iid: int,
        origin: np.ndarray,
        R: np.ndarray,
        box: tuple[int, int, int, int],
    ) -> float:
        """Pixels the object alone covers on the enlarged plane outside the image."""
        strips = _outside_strips(box, g.w, g.h)
        if not strips:
            return 0.0
        area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in strips)
        step = 1
        if self.config.amodal_method == "pruned" and area > OUTSIDE_RAYS:
            step = int(math.ceil(math.sqrt(area / OUTSIDE_RAYS)))
        xs, ys, weights = [], [], []
        for x0, y0, x1, y1 in strips:
            cx0 = np.arange(x0, x1, step)
            cy0 = np.arange(y0, y1, step)
            cw = np.minimum(step, x1 - cx0)  # last cell of a strip may be narrower
            ch = np.minimum(step, y1 - cy0)
            gx, gy = np.meshgrid(cx0 + cw / 2.0, cy0 + ch / 2.0)
            gw = np.outer(ch, cw)
            xs.append(gx.ravel())
            ys.append(gy.ravel())
            weights.append(gw.ravel())
        d_cam = pixel_directions(g.K, np.concatenate(xs), np.concatenate(ys))
        dirs = camera_to_world_dirs(d_cam, np.vstack([np.column_stack([R, origin]),
                                                      [0, 0, 0, 1]]))
        f, _ = self.casters.object(iid).cast(np.broadcast_to(origin, dirs.shape), dirs)
        return float(np.concatenate(weights)[f >= 0].sum())


def _inside_projected_hull(
    K: np.ndarray, verts_cam: np.ndarray, xs: np.ndarray, ys: np.ndarray
) -> np.ndarray:
    """Which pixel centres (xs, ys) lie in the 2D convex hull of the projected points.

    Every point of the object projects inside that hull (all points are in front of the
    camera), so pixels outside it cannot be amodal and need no ray. A one-pixel slack keeps
    pixels whose centre grazes the hull edge.
    """
    from scipy.spatial import ConvexHull, QhullError

    uv = np.stack([K[0, 0] * verts_cam[:, 0] / verts_cam[:, 2] + K[0, 2],
                   K[1, 1] * verts_cam[:, 1] / verts_cam[:, 2] + K[1, 2]], axis=1)
    try:
        eq = ConvexHull(uv).equations  # rows (nx, ny, c): inside when nx*x + ny*y + c <= 0
    except (QhullError, ValueError):
        return np.ones(len(xs), bool)
    dist = np.einsum("kj,nj->nk", eq[:, :2], np.stack([xs, ys], axis=1)) + eq[:, 2]
    return (dist <= 1.0).all(axis=1)


def _outside_strips(
    box: tuple[int, int, int, int], w: int, h: int
) -> list[tuple[int, int, int, int]]:
    """Split pixel box (c0, r0, c1, r1) minus the image [0, w) x [0, h) into disjoint rectangles."""
    c0, r0, c1, r1 = box
    out = []
    if r0 < 0:
        out.append((c0, r0, c1, min(r1, 0)))
    if r1 > h:
        out.append((c0, max(r0, h), c1, r1))
    mr0, mr1 = max(r0, 0), min(r1, h)
    if mr0 < mr1:
        if c0 < 0:
            out.append((c0, mr0, min(c1, 0), mr1))
        if c1 > w:
            out.append((max(c0, w), mr0, c1, mr1))
    return [b for b in out if b[0] < b[2] and b[1] < b[3]]


def compute_visibility(
    scene: Scene,
    frame_ids: Iterable[int] | None = None,
    backend: str | None = None,
    max_side: int | None = None,
    *,
    config: VisibilityConfig | None = None,
    device: str | None = None,
    amodal_method: str | None = None,
    progress: Callable[[int], None] | None = None,
    casters: SceneCasters | None = None,
    workers: int = 1,
) -> list[ViewVisibility]:
    """Visibility labels for frames of a scene.

    Args:
        scene: the scene (mesh, instances, posed frames).
        frame_ids: source frame numbers to label (default: every usable frame).
        backend, max_side, device, amodal_method: override the matching ``config`` fields.
        config: thresholds and casting settings (defaults: ``VisibilityConfig()``).
        progress: called with the number of views finished after each batch.
        casters: BVHs already built for this scene with the same backend (e.g. shared with
            ``check_poses``), so they are not built twice (with ``workers`` > 1 the spawned
            workers build their own).
        workers: processes labelling batches of ``batch_views`` views side by side, this one
            included (``mosaic.scene_pool``); the labels do not depend on it.

    Returns:
        One ``ViewVisibility`` per requested frame, in the order requested.
    """
    cfg = config or VisibilityConfig()
    overrides = {
        k: v
        for k, v in (
            ("backend", backend),
            ("max_side", max_side),
            ("device", device),
            ("amodal_method", amodal_method),
        )
        if v is not None
    }
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    frames = (
        list(scene.frames)
        if frame_ids is None
        else [scene.frame(int(f)) for f in frame_ids]
    )
    from ..scene_pool import ScenePool
    from .parallel import LabelFrames, view_batches

    batches = view_batches(frames, cfg)
    job = LabelFrames(scene, cfg, casters)

    def done(batch: list[ViewVisibility]) -> None:
        if progress is not None:
            progress(len(batch))

    with ScenePool(workers if len(batches) > 1 else 1) as pool:
        return [v for batch in pool.run(job, batches, done) for v in batch]
