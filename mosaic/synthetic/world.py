"""Built-in synthetic scenes: ray-cast rendering, in-memory ``Scene`` objects, ScanNet releases.

``generate_room`` (``mosaic.synthetic.room``) builds a procedural room in the aligned world frame
(metres, +z up, floor at z = 0). This module renders its camera walk-through with the Embree
caster (colour: per-vertex base colour times ambient + diffuse light, JPEG; depth: camera z in
millimetres, uint16, 0 = miss) and either

* ``make_scene``: returns a ``mosaic.structures.Scene`` in memory whose frame store renders a
  frame's colour and depth on demand (fast tests, demos), or
* ``write_synthetic_dataset``: writes a small ScanNet v2 release (``scans/``, ``scans_test/``,
  label table, split lists) through ``scannet_writer``, with a non-identity ``axisAlignment``
  (the raw world is the aligned one turned about z and shifted, as in the release) and the
  release's known defects on a few scenes, or
* ``write_scannet_size_scan``: writes one real-size scan (``SCANNET_SIZE_SPEC``) in the same
  layout, the benchmark scene.

Cameras are OpenCV (x right, y down, z forward); poses are camera-to-world.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from ..sources.base import build_objects
from ..sources.label_table import load_label_table
from ..structures import DepthImage, Frame, Scene, SkippedFrame
from ..visibility.base import get_backend, world_ray_directions
from .room import (
    CATEGORY_FILE,
    DEFAULT_SPEC,
    SCANNET_SIZE_SPEC,
    SYNTH_QUIRKS,
    SyntheticRoom,
    SynthSpec,
    generate_room,
    scannet_categories,
)
from .scannet_writer import (
    LabelRow,
    ReleaseFrame,
    ReleaseScene,
    write_label_table,
    write_release_scene,
    write_split_lists,
)

__all__ = [
    "SCANNET_SIZE_SPEC",
    "SynthSpec",
    "SyntheticRoom",
    "SynthSummary",
    "RoomRenderer",
    "generate_room",
    "make_scene",
    "release_scene",
    "write_scannet_size_scan",
    "write_synthetic_dataset",
    "DATASET_QUIRKS",
]

# Defects spread over the scenes of a synthetic release (docs/release_layouts.md section 1.12): each
# bundle goes to one train/val scene (bundles share scenes when there are fewer than four).
DATASET_QUIRKS: tuple[frozenset[str], ...] = (
    frozenset({"inf_pose", "export_python"}),
    frozenset({"zero_depth", "frames_off_by_one"}),
    frozenset({"v1_aggregation", "no_color_to_depth"}),
    frozenset({"duplicate_objects", "export_cxx"}),
)
TEST_SCENE_FIRST = 707  # the real scans_test ids start at scene0707_00


class RoomRenderer:
    """Colour and depth images of a triangle mesh by casting one ray per pixel.

    Shading is flat per face: base colour (mean of the face's vertex colours) times
    ``ambient + diffuse * |n . l| + head * |n . v|`` with l the direction from the face centroid
    to a point light under the ceiling centre and v the direction from the camera to the
    centroid, clipped to 1. No shadows.

    Picklable: the Embree scene is rebuilt lazily after unpickling.
    """

    AMBIENT, DIFFUSE, HEAD = 0.28, 0.5, 0.27

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, vertex_colors: np.ndarray,
                 backend: str = "embree"):
        """vertices (V, 3) float world metres, faces (F, 3) int, vertex_colors (V, 3) uint8."""
        self.vertices = np.asarray(vertices, np.float32)
        self.faces = np.asarray(faces, np.int32)
        self.backend = backend
        tri = self.vertices[self.faces].astype(np.float64)
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        self.face_normals = (n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
                             ).astype(np.float32)
        self.face_colors = (np.asarray(vertex_colors, np.float32)[self.faces].mean(axis=1)
                            / 255.0).astype(np.float32)
        lo, hi = self.vertices.min(axis=0), self.vertices.max(axis=0)
        self.light = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[2] - 0.3], np.float32)
        self.face_centroids = tri.mean(axis=1).astype(np.float32)
        to_light = self.light - self.face_centroids
        to_light /= np.maximum(np.linalg.norm(to_light, axis=1, keepdims=True), 1e-6)
        # Ambient plus diffuse from the light, per face (constant over the frames).
        self._lit = self.AMBIENT + self.DIFFUSE * np.abs((self.face_normals * to_light).sum(1))
        self._caster = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_caster"] = None
        return state

    @property
    def caster(self):
        if self._caster is None:
            self._caster = get_backend(self.backend).build(self.vertices, self.faces)
        return self._caster

    def cast(self, K: np.ndarray, cam_to_world: np.ndarray, size: tuple[int, int]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """First hits of all pixels in one call: face (h, w) int32 (-1 miss), camera depth
        (h, w) float32 metres (inf miss), ray origins and directions (N, 3) float32 world."""
        w, h = size
        dirs = world_ray_directions(np.asarray(K, np.float64), cam_to_world, w, h)
        origins = np.broadcast_to(np.asarray(cam_to_world[:3, 3], np.float32), dirs.shape)
        face, t = self.caster.cast(origins, dirs)
        return face.reshape(h, w), t.reshape(h, w), origins, dirs

    def color(self, K: np.ndarray, cam_to_world: np.ndarray, size: tuple[int, int]
              ) -> np.ndarray:
        """(h, w, 3) uint8 RGB image; misses are black."""
        face, _, _, _ = self.cast(K, cam_to_world, size)
        # Flat shading: one colour per face and frame, looked up per pixel.
        view = self.face_centroids - cam_to_world[:3, 3].astype(np.float32)
        view /= np.maximum(np.linalg.norm(view, axis=1, keepdims=True), 1e-6)
        head = np.abs((self.face_normals * view).sum(axis=1))
        shade = np.minimum(self._lit + self.HEAD * head, 1.0)
        rgb = (self.face_colors * shade[:, None] * 255.0 + 0.5).astype(np.uint8)
        rgb = np.vstack([rgb, np.zeros((1, 3), np.uint8)])  # index -1 (miss) -> black
        return rgb[face]

    def color_jpeg(self, K: np.ndarray, cam_to_world: np.ndarray, size: tuple[int, int],
                   quality: int = 90) -> bytes:
        """A complete JPEG file (baseline, 4:2:0) of ``color``."""
        buf = io.BytesIO()
        Image.fromarray(self.color(K, cam_to_world, size)).save(buf, "JPEG", quality=quality)
        return buf.getvalue()

    def depth_mm(self, K: np.ndarray, cam_to_world: np.ndarray, size: tuple[int, int]
                 ) -> np.ndarray:
        """(h, w) uint16 camera z in millimetres (rounded), 0 = miss or beyond 65.535 m."""
        _, t, _, _ = self.cast(K, cam_to_world, size)
        mm = np.rint(np.where(np.isfinite(t), t, 0.0) * 1000.0)
        mm[(mm > 65535) | (mm < 0)] = 0
        return mm.astype(np.uint16)


def room_renderer(room: SyntheticRoom, backend: str = "embree") -> RoomRenderer:
    return RoomRenderer(room.vertices, room.faces, room.vertex_colors, backend)


class SyntheticFrameStore:
    """``FrameStore`` that renders a synthetic room's frames on demand (no disk).

    Colour is the JPEG the release writer would store; depth is the rendered uint16 mm image
    in metres (so it matches a written release exactly), all zero for ``zero_depth`` frames.
    """

    def __init__(self, room: SyntheticRoom, renderer: RoomRenderer | None = None):
        self.room = room
        self.renderer = renderer or room_renderer(room)

    def _pose(self, frame_id: int) -> np.ndarray:
        if not 0 <= frame_id < len(self.room.poses):
            raise KeyError(f"synthetic scene has no frame {frame_id} "
                           f"(frames 0..{len(self.room.poses) - 1})")
        return self.room.poses[frame_id]

    def read_color(self, frame_id: int) -> bytes:
        pose = self._pose(frame_id)
        spec = self.room.spec
        return self.renderer.color_jpeg(self.room.color_K, pose, spec.color_size,
                                        spec.jpeg_quality)

    def read_depth_mm(self, frame_id: int) -> np.ndarray:
        """(h, w) uint16 millimetres as stored in a release (0 = invalid)."""
        pose = self._pose(frame_id)
        size = self.room.spec.depth_size
        if frame_id in self.room.zero_depth_frames:
            return np.zeros((size[1], size[0]), np.uint16)
        return self.renderer.depth_mm(self.room.depth_K, pose, size)

    def read_depth(self, frame_id: int) -> DepthImage:
        mm = self.read_depth_mm(frame_id)
        return DepthImage(depth=mm.astype(np.float32) / np.float32(1000.0),
                          K=self.room.depth_K.copy())


def make_scene(seed: int = 0, spec: SynthSpec = DEFAULT_SPEC, scene_id: str = "scene0000_00"
               ) -> Scene:
    """An in-memory ``Scene`` of ``generate_room(seed, spec)`` (aligned frame, no disk).

    Objects are built with ``mosaic.sources.base.build_objects`` and named through the bundled
    label table (real ScanNet ids, NYU40 and ScanNet200 classes). Frames with the
    ``inf_pose`` quirk are listed in ``skipped_frames`` like the ScanNet reader does. The
    store renders colour (JPEG bytes) and depth (metres) on demand.
    """
    room = generate_room(seed, spec)
    table = load_label_table(CATEGORY_FILE)
    labels = {i: table.object_label(lab) for i, lab in room.instance_labels.items()}
    objects = build_objects(room.vertices, room.faces, room.face_instance, labels)
    w, h = spec.color_size
    frames, skipped = [], []
    for i, pose in enumerate(room.poses):
        if i in room.invalid_pose_frames:
            skipped.append(SkippedFrame(i, "non-finite pose"))
            continue
        frames.append(Frame(i, room.color_K.copy(), pose.copy(), w, h))
    return Scene(
        scene_id=scene_id,
        source="synthetic",
        vertices=room.vertices,
        faces=room.faces,
        vertex_colors=room.vertex_colors,
        face_instance=room.face_instance,
        objects=objects,
        frames=tuple(frames),
        skipped_frames=tuple(skipped),
        split=None,
        axis_alignment=np.eye(4),
        store=SyntheticFrameStore(room),
        meta={
            "sceneType": _scene_type(room),
            "synthetic_seed": seed,
            "room_size": room.size.tolist(),
            "support": dict(room.support),
            "depth_K": room.depth_K.copy(),
            "depth_size": spec.depth_size,
        },
    )


def _scene_type(room: SyntheticRoom) -> str:
    """A ScanNet ``sceneType`` that fits the furniture (bed -> bedroom, couch -> lounge...)."""
    labels = set(room.instance_labels.values())
    if "bed" in labels:
        return "Bedroom / Hotel"
    if labels & {"couch", "tv"}:
        return "Living room / Lounge"
    if "whiteboard" in labels:
        return "Conference Room"
    if "bookshelf" in labels:
        return "Study / Library"
    return "Office" if "refrigerator" not in labels else "Apartment"


def raw_transform(seed: int, vertices: np.ndarray) -> np.ndarray:
    """(4, 4) raw-from-aligned transform: a turn about z by a seeded angle plus a shift that
    puts the raw mesh's bounding box near the origin (as in the release). ``axisAlignment``
    is its inverse."""
    rng = np.random.default_rng([seed, 11])
    a = float(rng.uniform(0.0, 2 * math.pi))
    R = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0],
                  [0.0, 0.0, 1.0]])
    turned = np.asarray(vertices, np.float64) @ R.T
    t = -turned.min(axis=0) + [rng.uniform(0.0, 0.4), rng.uniform(0.0, 0.4),
                               rng.uniform(-0.05, 0.05)]
    M = np.eye(4)
    M[:3, :3], M[:3, 3] = R, t
    return M


class RenderedFrames(Sequence[ReleaseFrame]):
    """The room's frames as release frames (raw-world pose, JPEG colour, depth in mm), rendered
    when read: writing a long walk-through never holds its images in memory.

    Iterating with ``workers`` > 1 renders in that many processes, in order; the bytes do not
    depend on ``workers``.
    """

    def __init__(self, room: SyntheticRoom, M: np.ndarray, renderer: RoomRenderer | None = None,
                 workers: int = 1):
        """``M``: (4, 4) raw-from-aligned transform applied to every pose."""
        self.room, self.M, self.workers = room, M, workers
        self.store = SyntheticFrameStore(room, renderer)

    def __len__(self) -> int:
        return len(self.room.poses)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):  # a Sequence: slices and negative indices too
            return [self[k] for k in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        raw_pose = self.M @ self.room.poses[i]
        if i in self.room.invalid_pose_frames:
            raw_pose = np.full((4, 4), -np.inf)
        return ReleaseFrame(cam_to_world=raw_pose, color_jpeg=self.store.read_color(i),
                            depth_mm=self.store.read_depth_mm(i))

    def __iter__(self) -> Iterator[ReleaseFrame]:
        if self.workers <= 1 or len(self) < 2:
            yield from (self[i] for i in range(len(self)))
            return
        with ProcessPoolExecutor(max_workers=self.workers, initializer=_set_render_frames,
                                 initargs=(self,)) as ex:
            yield from ex.map(_render_frame, range(len(self)), chunksize=8)


_RENDER_FRAMES: RenderedFrames | None = None  # per worker process (set by its initializer)


def _set_render_frames(frames: RenderedFrames) -> None:
    global _RENDER_FRAMES
    _RENDER_FRAMES = frames


def _render_frame(i: int) -> ReleaseFrame:
    assert _RENDER_FRAMES is not None
    return _RENDER_FRAMES[i]


def release_scene(room: SyntheticRoom, scene_id: str, *, aligned: bool = True,
                  renderer: RoomRenderer | None = None, workers: int = 1) -> ReleaseScene:
    """Express the room in a raw world for ``write_release_scene``; frames are rendered as
    they are written (``RenderedFrames``, in ``workers`` processes).

    ``aligned`` False (test scenes) writes no ``axisAlignment``: the raw frame is still turned
    and shifted, so a reader without the alignment sees an unaligned room, as in scans_test.
    """
    M = raw_transform(room.seed, room.vertices)
    raw_vertices = (room.vertices.astype(np.float64) @ M[:3, :3].T + M[:3, 3]).astype(np.float32)
    frames = RenderedFrames(room, M, renderer, workers)
    spec = room.spec
    return ReleaseScene(
        scene_id=scene_id,
        vertices=raw_vertices,
        vertex_colors=room.vertex_colors,
        faces=room.faces,
        vertex_instance=room.vertex_instance,
        instance_labels=dict(room.instance_labels),
        axis_alignment=np.linalg.inv(M) if aligned else None,
        color_K=room.color_K,
        color_size=spec.color_size,
        depth_K=room.depth_K,
        depth_size=spec.depth_size,
        frames=frames,
        scene_type=_scene_type(room),
    )


@dataclass(frozen=True)
class SynthSummary:
    """What ``write_synthetic_dataset`` wrote.

    Attributes:
        root: the release root (holds ``scans/``, ``scans_test/``, the label tsv, split lists).
        splits: ``{"train": [...], "val": [...], "test": [...]}`` scene ids.
        quirks: scene id -> sorted quirk names applied to it.
        seeds: scene id -> generator seed of its room.
        n_frames: scene id -> frames in its ``.sens``.
        n_faces: scene id -> mesh triangles.
        n_objects: scene id -> annotated non-structural objects.
        invalid_pose_frames / zero_depth_frames: scene id -> frame ids with that defect.
    """

    root: Path
    splits: dict[str, list[str]]
    quirks: dict[str, list[str]]
    seeds: dict[str, int]
    n_frames: dict[str, int]
    n_faces: dict[str, int]
    n_objects: dict[str, int]
    invalid_pose_frames: dict[str, list[int]] = field(default_factory=dict)
    zero_depth_frames: dict[str, list[int]] = field(default_factory=dict)

    @property
    def scene_ids(self) -> list[str]:
        return [s for split in ("train", "val", "test") for s in self.splits.get(split, [])]

    def __str__(self) -> str:
        lines = [f"synthetic ScanNet release at {self.root}: "
                 + ", ".join(f"{len(v)} {k}" for k, v in self.splits.items())]
        for sid in self.scene_ids:
            q = ", ".join(self.quirks[sid]) or "-"
            lines.append(f"  {sid}: {self.n_frames[sid]} frames, {self.n_faces[sid]} faces, "
                         f"{self.n_objects[sid]} objects; quirks: {q}")
        return "\n".join(lines)


def _write_one(root: Path, scene_id: str, seed: int, spec: SynthSpec, test_split: bool,
               quirks: frozenset[str], render_workers: int = 1) -> dict:
    synth_quirks = frozenset(quirks & SYNTH_QUIRKS)
    room = generate_room(seed, replace(spec, quirks=synth_quirks))
    nyu40 = {c.raw_category: c.nyu40id for c in scannet_categories().values()}
    write_release_scene(root, release_scene(room, scene_id, aligned=not test_split,
                                            workers=render_workers),
                        test_split=test_split, quirks=frozenset(quirks - SYNTH_QUIRKS),
                        seed=seed, nyu40_of=nyu40)
    return {
        "n_frames": len(room.poses),
        "n_faces": len(room.faces),
        "n_objects": len(room.object_ids()),
        "invalid_pose_frames": list(room.invalid_pose_frames),
        "zero_depth_frames": list(room.zero_depth_frames),
    }


def write_synthetic_dataset(out: str | Path, n_scenes: int = 8, seed: int = 0,
                            spec: SynthSpec = DEFAULT_SPEC, quirks: bool = True,
                            workers: int = 1,
                            progress: Callable[[str], None] | None = None) -> SynthSummary:
    """Write a small synthetic ScanNet v2 release under ``out``.

    ``n_scenes`` train/val scenes ``scene0000_00`` ... in ``scans/`` (the last quarter, at
    least one when n_scenes >= 2, is val) and one test scene ``scene0707_00`` in
    ``scans_test/`` (no annotation, no ``axisAlignment``); the label table (the bundled
    subset of the real tsv) and the split lists. With ``quirks`` the release's defects are
    spread over the scenes (``DATASET_QUIRKS``: a -inf pose, an all-zero depth frame,
    ``numColorFrames`` + 1, a v1 aggregation, duplicated objects, a missing
    ``colorToDepthExtrinsics``, both exporter layouts) and the test scene has a -inf pose;
    ``spec.quirks`` apply to every scene. Deterministic for ``seed`` whatever ``workers``
    (scenes are independent; ``workers`` > 1 writes them in that many processes).
    ``progress`` is called with each scene id once that scene is written.
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    n_val = max(1, n_scenes // 4) if n_scenes >= 2 else 0
    ids = [f"scene{i:04d}_00" for i in range(n_scenes)]
    splits = {"train": ids[: n_scenes - n_val], "val": ids[n_scenes - n_val:],
              "test": [f"scene{TEST_SCENE_FIRST:04d}_00"]}
    jobs = []
    for i, sid in enumerate([*ids, *splits["test"]]):
        test = sid in splits["test"]
        q = set(spec.quirks)
        if quirks and test:
            q.add("inf_pose")
        elif quirks and n_scenes:
            for b, bundle in enumerate(DATASET_QUIRKS):
                if b % n_scenes == i:
                    q |= bundle
        scene_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        jobs.append((root, sid, scene_seed, spec, test, frozenset(q)))

    done = progress or (lambda _sid: None)
    results = []
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs), os.cpu_count() or 1)) as ex:
            for job, res in zip(jobs, ex.map(_write_one, *zip(*jobs, strict=True)),
                                strict=True):
                results.append(res)
                done(job[1])
    else:
        for job in jobs:
            results.append(_write_one(*job))
            done(job[1])

    return _finish_release(root, splits, jobs, results)


def write_scannet_size_scan(out: str | Path, seed: int = 0, spec: SynthSpec = SCANNET_SIZE_SPEC,
                            scene_id: str = "scene0000_00", workers: int = 1) -> SynthSummary:
    """Write one ScanNet-size train scan (``SCANNET_SIZE_SPEC``: ~160k faces, 100 annotated
    objects, a 5,500-frame hand-held walk) as a ScanNet v2 release under ``out``: the scan
    of ``generate_room(seed, spec)`` (the room ``make_scene(seed, spec)`` builds in memory),
    no defects, no test scene, plus the label table and split lists. ``workers`` processes
    render its frames (about 60 ms of CPU each); the bytes do not depend on ``workers``.
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    job = (root, scene_id, seed, spec, False, frozenset())
    result = _write_one(*job, render_workers=workers)
    return _finish_release(root, {"train": [scene_id], "val": [], "test": []}, [job], [result])


def _finish_release(root: Path, splits: dict[str, list[str]], jobs: list[tuple],
                    results: list[dict]) -> SynthSummary:
    """Write the label table and split lists; summarise the scenes written by ``jobs``."""
    cats = sorted(scannet_categories().values(), key=lambda c: c.id)
    write_label_table(root, [LabelRow(id=c.id, raw_category=c.raw_category, category=c.category,
                                      nyu40id=c.nyu40id, nyu40class=c.nyu40class, count=c.count)
                             for c in cats])
    write_split_lists(root, splits)
    by_id = {job[1]: (job, res) for job, res in zip(jobs, results, strict=True)}
    return SynthSummary(
        root=root,
        splits=splits,
        quirks={sid: sorted(job[5]) for sid, (job, _) in by_id.items()},
        seeds={sid: job[2] for sid, (job, _) in by_id.items()},
        n_frames={sid: r["n_frames"] for sid, (_, r) in by_id.items()},
        n_faces={sid: r["n_faces"] for sid, (_, r) in by_id.items()},
        n_objects={sid: r["n_objects"] for sid, (_, r) in by_id.items()},
        invalid_pose_frames={sid: r["invalid_pose_frames"] for sid, (_, r) in by_id.items()},
        zero_depth_frames={sid: r["zero_depth_frames"] for sid, (_, r) in by_id.items()},
    )
