"""Per-view visibility labels from first-hit ray casting (product.md section 2).

For a view, one ray per pixel of the labelling image (long side ``max_side``, intrinsics scaled)
gives the first-hit face, hence the instance buffer and depth. Amodal footprints are exact ray
casts of each object alone:

* ``pruned`` (default): inside the image only the *undecided* pixels of the object's projected
  box are cast against the object alone: pixels whose first hit is another surface lying in front
  of the object's farthest vertex. Every other pixel is decided by the first-hit buffer (the
  object's own pixels are amodal; a miss or a first hit behind the object's far bound means the ray
  passed the object's depth range without meeting it). The result equals the exact render.
* ``exact``: every pixel of the projected box is cast against the object alone (the reference).

Outside the image both methods cast the object alone over its projected box on an enlarged
image plane (``enlarge`` image sizes beyond each border), split into strips that lie wholly
outside the image. ``exact`` casts every pixel there. ``pruned`` casts a regular sub-grid when the
strips hold more than ``_OUTSIDE_RAYS`` (1024) pixels, weighting each hit by its cell's area; the
benchmark reports the resulting error against ``exact`` (it must stay within the accuracy bar of
product.md: mean <= 0.01, p99 <= 0.05 on occlusion and truncation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..config import VisibilityConfig
from ..errors import ConfigError
from ..structures import OCC_LEVELS, Frame, ObjectVisibility, Scene, ViewVisibility
from .base import (
    Caster,
    camera_to_world_dirs,
    get_backend,
    labelling_size,
    pixel_directions,
    scaled_intrinsics,
    world_ray_directions,
)

_OUTSIDE_RAYS = 1024  # out-of-image rays per object for the pruned method (sub-grid above it)


def structural_ids(scene: Scene, config: VisibilityConfig) -> set[int]:
    """Instance ids of wall / floor / ceiling (occluders, never targets)."""
    names = set(config.structural_labels)
    return {
        o.instance_id
        for o in scene.objects
        if o.structural or o.category in names or o.label in names
    }


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
            hull = _hull_points(self._object_mesh(instance_id)[0])
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


def _hull_points(verts: np.ndarray) -> np.ndarray:
    """Vertices of the 3D convex hull (all points when the hull is degenerate, e.g. flat)."""
    if len(verts) <= 8:
        return verts
    from scipy.spatial import ConvexHull, QhullError

    try:
        return verts[ConvexHull(verts).vertices]
    except (QhullError, ValueError):
        return verts


@dataclass(frozen=True)
class _ViewGeometry:
    frame: Frame
    w: int
    h: int
    sx: float
    sy: float
    K: np.ndarray  # labelling intrinsics
    dirs: np.ndarray  # (h*w, 3) float32 world directions, camera z = 1


def _view_geometry(frame: Frame, max_side: int) -> _ViewGeometry:
    w, h, _ = labelling_size(frame.width, frame.height, max_side)
    sx, sy = w / frame.width, h / frame.height
    K = scaled_intrinsics(frame.K, sx, sy)
    dirs = world_ray_directions(K, frame.cam_to_world, w, h)
    return _ViewGeometry(frame, w, h, sx, sy, K, dirs)


def occ_level(visible_ratio: float, bins: Sequence[float]) -> str:
    """Bin 1 - visible_ratio into none / low / medium / high."""
    hidden = 1.0 - visible_ratio
    return OCC_LEVELS[int(np.searchsorted(np.asarray(bins), hidden, side="right"))]


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
        fi = scene.face_instance
        self._countable_face = (fi >= 1) & ~np.isin(fi, list(structural))

    def label(self, frames: Sequence[Frame]) -> list[ViewVisibility]:
        """Cast a batch of views in one backend call, then label each."""
        geos = [_view_geometry(f, self.config.max_side) for f in frames]
        if not geos:
            return []
        origins = np.concatenate(
            [np.broadcast_to(g.frame.cam_to_world[:3, 3].astype(np.float32), g.dirs.shape)
             for g in geos]
        )
        face, t = self.casters.full.cast(origins, np.concatenate([g.dirs for g in geos]))
        out, start = [], 0
        for g in geos:
            n = g.w * g.h
            out.append(self._label_one(g, face[start : start + n], t[start : start + n]))
            start += n
        return out

    def _label_one(self, g: _ViewGeometry, face: np.ndarray, t: np.ndarray) -> ViewVisibility:
        cfg, scene = self.config, self.scene
        hit = face >= 0
        inst = np.full(face.shape, -1, np.int32)
        inst[hit] = scene.face_instance[face[hit]]
        depth = np.where(hit, t, 0.0).astype(np.float32)
        inst_img = inst.reshape(g.h, g.w)
        depth_img = depth.reshape(g.h, g.w)
        seen = np.zeros(len(self._countable_face), bool)  # a mask beats np.unique's sort here
        seen[face[hit]] = True
        vis_faces = np.flatnonzero(seen & self._countable_face)

        min_px = max(1, math.ceil(cfg.min_visible_frac * g.w * g.h))
        P = g.frame.cam_to_world
        R, tc = P[:3, :3], P[:3, 3]
        records = []
        for iid in self.targets:
            rec = self._label_object(g, iid, inst_img, depth_img, R, tc, min_px)
            if rec is not None:
                records.append(rec)
        return ViewVisibility(
            frame_id=g.frame.frame_id,
            instance_buffer=inst_img,
            depth=depth_img,
            face_buffer=face.reshape(g.h, g.w).astype(np.int32),
            scale=g.sx,
            objects=tuple(records),
            visible_faces=vis_faces,
        )

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

        truncation = 1.0 - A_in / A_tot
        occlusion = 1.0 - V / A_in if A_in > 0 else 0.0
        visible_ratio = V / A_tot
        # enough pixels, and enough of its footprint or a large share of the image (a couch
        # close by shows a small share of its huge footprint yet fills much of the frame)
        visible = V >= min_px and (visible_ratio >= cfg.min_visible_ratio
                                   or V >= math.ceil(cfg.large_visible_frac * g.w * g.h))
        bbox_vis = _span_box(vis_span, g.sx, g.sy) if vis_span else None
        center = (
            ((bbox_vis[0] + bbox_vis[2]) / 2.0, (bbox_vis[1] + bbox_vis[3]) / 2.0)
            if bbox_vis else None
        )
        spans = [sp for sp in (vis_span, hid_span) if sp is not None]
        am_span = (
            min(sp[0] for sp in spans), max(sp[1] for sp in spans),
            min(sp[2] for sp in spans), max(sp[3] for sp in spans),
        )
        bbox_am = _span_box(am_span, g.sx, g.sy)
        if len(hidden_ids):
            ids, counts = np.unique(hidden_ids, return_counts=True)
            order = np.lexsort((ids, -counts))
            occluders = tuple((int(ids[k]), int(counts[k])) for k in order)
        else:
            occluders = ()
        return ObjectVisibility(
            instance_id=iid,
            visible_px=V,
            amodal_px_in=A_in,
            amodal_px_total=int(round(A_tot)),
            truncation=float(truncation),
            occlusion=float(occlusion),
            visible_ratio=float(visible_ratio),
            bbox_visible=bbox_vis,
            bbox_amodal=bbox_am,
            center_visible=center,
            depth_median=depth_med,
            occluders=occluders,
            state=visibility_state(visible, occlusion, truncation, cfg.full_threshold),
            occ_level=occ_level(visible_ratio, cfg.occ_bins),
            visible=bool(visible),
        )

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
        if self.config.amodal_method == "pruned" and area > _OUTSIDE_RAYS:
            step = int(math.ceil(math.sqrt(area / _OUTSIDE_RAYS)))
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
) -> list[ViewVisibility]:
    """Visibility labels for frames of a scene.

    Args:
        scene: the scene (mesh, instances, posed frames).
        frame_ids: source frame numbers to label (default: every usable frame).
        backend, max_side, device, amodal_method: override the matching ``config`` fields.
        config: thresholds and casting settings (defaults: ``VisibilityConfig()``).
        progress: called with the number of views finished after each batch.
        casters: BVHs already built for this scene with the same backend (e.g. shared with
            ``check_poses``), so they are not built twice.

    Returns:
        One ``ViewVisibility`` per requested frame, in the order requested.
    """
    import dataclasses

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
    labeller = ViewLabeller(scene, cfg, casters)
    views: list[ViewVisibility] = []
    step = max(1, cfg.batch_views)
    for s in range(0, len(frames), step):
        batch = labeller.label(frames[s : s + step])
        views.extend(batch)
        if progress is not None:
            progress(len(batch))
    return views
