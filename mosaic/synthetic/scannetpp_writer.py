"""Write a synthetic room in the ScanNet++ release layout (fixtures and demo data).

From one ``SyntheticRoom`` (``room.generate_room``; aligned world = the ScanNet++ mesh
frame, metres, +z up) this writes ``<root>/data/<scene>/`` as the release has it
(docs/release_layouts.md section 2):

* ``scans/mesh_aligned_0.05.ply`` (binary PLY, xyz float + rgb uchar), ``scans/segments.json``
  (numeric ``params``, ``segIndices`` = 0..V-1 as in current releases) and
  ``scans/segments_anno.json`` (``sceneId`` ``scannetpp.<id>``, segGroups with ``objectId`` =
  instance - 1, the vertex ids as segments and an ``obb`` whose ``normalizedAxes`` hold the box
  axes as rows; one object's group also lists the vertices of a smaller object standing on it,
  see ``overlap_pair``). Wall, floor and ceiling are annotated like any object, as in ScanNet++.
* iPhone: every room pose is a video frame; ``iphone/colmap/cameras.txt`` (one OPENCV camera)
  and ``images.txt`` (world-to-camera qvec/tvec, two lines per image, some with 2D points)
  list all frames except ``iphone_dropped`` (COLMAP registers a subset of the video).
  Colour as ``iphone/rgb/frame_%06d.jpg`` of the registered frames (``iphone_color="jpg"``) or
  as ``iphone/rgb.mkv`` of every frame (``"mkv"``, H.264 through PyAV). Depth at 256x192 as
  ``iphone/depth/frame_%06d.png`` uint16 mm (``"png"``) or ``iphone/depth.bin``: one
  raw-deflate float32 stream (``"bin_stream"``), per-frame length-prefixed raw-deflate float32
  (``"bin_deflate"``) or lz4 uint16 mm (``"bin_lz4"``). ``iphone/nerfstudio/transforms.json``
  holds the same poses in the nerfstudio convention (camera flip + world permutation).
* DSLR (``dslr=True``): every other room pose turned a little about the vertical, rendered at
  ``dslr_size`` with a wider lens into ``dslr/resized_undistorted_images/DSC%05d.JPG``;
  ``dslr/nerfstudio/transforms_undistorted.json`` (PINHOLE, ``frames`` + ``test_frames``, poses
  in the nerfstudio convention) and ``dslr/colmap/{cameras,images}.txt`` (OPENCV_FISHEYE).
* ``splits/nvs_sem_train.txt`` / ``nvs_sem_val.txt`` from ``write_split_lists``.
"""

from __future__ import annotations

import hashlib
import io
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.spatial.transform import Rotation

from ..errors import UnknownNameError
from ..sources.base import fit_z_box
from ..sources.scannetpp import DEPTH_BIN_SIZE
from .room import DEFAULT_SPEC, SyntheticRoom, SynthSpec, generate_room
from .world import RoomRenderer, room_renderer

IPHONE_COLOR = ("jpg", "mkv")
IPHONE_DEPTH = ("png", "bin_stream", "bin_deflate", "bin_lz4")
STRUCTURAL = ("wall", "floor", "ceiling")
SEGMENT_PARAMS = {"kThresh": 0.0001, "segMinVerts": 1, "minPoints": 1, "maxPoints": 1,
                  "thinThresh": 0.05, "flatThresh": 0.001, "minLength": 0.02, "maxLength": 1}


def scene_id_for(seed: int) -> str:
    """A ScanNet++-looking 10-hex id, deterministic for a seed."""
    return hashlib.sha1(f"scannetpp-synthetic-{seed}".encode()).hexdigest()[:10]


@dataclass(frozen=True)
class IphoneOptions:
    """How the iPhone stream is written.

    Attributes:
        color: ``"jpg"`` (extracted frames) or ``"mkv"`` (video of every frame).
        depth: one of ``IPHONE_DEPTH``.
        dropped: video frames COLMAP did not register (absent from images.txt).
    """

    color: str = "jpg"
    depth: str = "png"
    dropped: tuple[int, ...] = (1,)


def write_ply(path: Path, vertices: np.ndarray, colors: np.ndarray, faces: np.ndarray) -> None:
    """Binary little-endian PLY of a coloured triangle mesh (trimesh's writer: float x y z,
    uchar red green blue alpha; uchar-int face lists), vertex order kept."""
    import trimesh

    mesh = trimesh.Trimesh(vertices, faces, vertex_colors=colors, process=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(mesh.export(file_type="ply", encoding="binary"))


def colmap_line(image_id: int, cam_to_world: np.ndarray, camera_id: int, name: str) -> str:
    """``IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`` of a camera-to-world pose."""
    R = cam_to_world[:3, :3].T
    t = -R @ cam_to_world[:3, 3]
    x, y, z, w = Rotation.from_matrix(R).as_quat()
    if w < 0:  # COLMAP writes the quaternion with a non-negative scalar part
        w, x, y, z = -w, -x, -y, -z
    vals = " ".join(f"{v:.12g}" for v in (w, x, y, z, *t))
    return f"{image_id} {vals} {camera_id} {name}"


def _images_txt(lines: list[str], rng: np.random.Generator) -> str:
    out = ["# Image list with two lines of data per image:",
           "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
           "#   POINTS2D[] as (X, Y, POINT3D_ID)",
           f"# Number of images: {len(lines)}, mean observations per image: 2"]
    for k, line in enumerate(lines):
        out.append(line)
        if k % 2:  # some images carry 2D observations, others an empty points line
            pts = rng.uniform(0, 50, (2, 2))
            out.append(" ".join(f"{p[0]:.2f} {p[1]:.2f} {-1 if j else 17}"
                                for j, p in enumerate(pts)))
        else:
            out.append("")
    return "\n".join(out) + "\n"


def to_nerfstudio(cam_to_world: np.ndarray) -> np.ndarray:
    """ScanNet++'s nerfstudio ``transform_matrix`` of an OpenCV camera-to-world pose, step by
    step as the toolkit describes it: OpenGL camera (negate columns 1 and 2), then swap world
    rows 0 and 1 and negate row 2."""
    m = np.array(cam_to_world, dtype=np.float64)
    m[0:3, 1:3] *= -1
    m = m[[1, 0, 2, 3], :]
    m[2, :] *= -1
    return m


def _png16(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a.astype(np.uint16)).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def write_video(path: Path, frames: Sequence[np.ndarray], fps: int = 60, gop: int = 3) -> None:
    """H.264 Matroska video of (h, w, 3) uint8 frames (even sizes) with a key frame every
    ``gop`` frames and B-frames (decode order differs from presentation order, as in real
    phone videos)."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), mode="w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.options = {"crf": "12", "preset": "veryfast"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _depth_bin(depths_m: list[np.ndarray], kind: str) -> bytes:
    if kind == "bin_stream":
        c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        raw = b"".join(d.astype("<f4").tobytes() for d in depths_m)
        return c.compress(raw) + c.flush()
    out = bytearray()
    for d in depths_m:
        if kind == "bin_lz4":
            import lz4.block

            mm = np.rint(d * 1000).clip(0, 65535).astype("<u2")
            blob = lz4.block.compress(mm.tobytes(), store_size=False)
        else:
            c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            blob = c.compress(d.astype("<f4").tobytes()) + c.flush()
        out += len(blob).to_bytes(4, "little") + blob
    return bytes(out)


def overlap_pair(room: SyntheticRoom) -> tuple[int, int] | None:
    """(outer, inner): an object and a smaller object standing on it, or None. The writer lists
    the inner object's vertices in the outer object's segGroup too (real annotations overlap
    like this); the toolkit gives such vertices to the smaller group."""
    counts = np.bincount(room.vertex_instance, minlength=max(room.instance_labels) + 1)
    pairs = [(counts[outer] - counts[inner], outer, inner)
             for inner, outer in room.support.items() if counts[inner] < counts[outer]]
    return (max(pairs)[1], max(pairs)[2]) if pairs else None


def _annotation(scene_id: str, room: SyntheticRoom) -> dict:
    groups = []
    verts = room.vertices.astype(np.float64)
    pair = overlap_pair(room)
    for inst, label in sorted(room.instance_labels.items()):
        vid = np.flatnonzero(room.vertex_instance == inst)
        if len(vid) == 0:
            continue
        box = fit_z_box(verts[vid])
        segments = vid.tolist()
        if pair is not None and inst == pair[0]:
            segments += np.flatnonzero(room.vertex_instance == pair[1]).tolist()
        groups.append({
            "id": inst - 1, "objectId": inst - 1, "label": label,
            "segments": segments,
            "obb": {"centroid": box.center.tolist(), "axesLengths": box.extent.tolist(),
                    "normalizedAxes": box.rotation.T.reshape(-1).tolist()},
        })
    return {"sceneId": f"scannetpp.{scene_id}", "appId": "Annotator.v1", "annId": 1,
            "segGroups": groups}


def _write_iphone(folder: Path, room: SyntheticRoom, renderer: RoomRenderer,
                  opts: IphoneOptions, rng: np.random.Generator) -> None:
    iphone = folder / "iphone"
    (iphone / "colmap").mkdir(parents=True, exist_ok=True)
    w, h = room.spec.color_size
    K = room.color_K
    (iphone / "colmap" / "cameras.txt").write_text(
        "# Camera list with one line of data per camera:\n"
        "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n# Number of cameras: 1\n"
        f"1 OPENCV {w} {h} {K[0, 0]:.10g} {K[1, 1]:.10g} {K[0, 2]:.10g} {K[1, 2]:.10g} "
        "0 0 0 0\n")
    n = len(room.poses)
    registered = [i for i in range(n) if i not in set(opts.dropped)]
    lines = [colmap_line(k + 1, room.poses[i], 1, f"frame_{i:06d}.jpg")
             for k, i in enumerate(registered)]
    (iphone / "colmap" / "images.txt").write_text(_images_txt(lines, rng))
    ns = {"fl_x": K[0, 0], "fl_y": K[1, 1], "cx": K[0, 2], "cy": K[1, 2], "w": w, "h": h,
          "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0, "camera_model": "OPENCV",
          "frames": [{"file_path": f"frame_{i:06d}.jpg",
                      "transform_matrix": to_nerfstudio(room.poses[i]).tolist()}
                     for i in registered]}
    (iphone / "nerfstudio").mkdir(exist_ok=True)
    (iphone / "nerfstudio" / "transforms.json").write_text(json.dumps(ns, indent=1))

    colors = [renderer.color(K, room.poses[i], (w, h)) for i in range(n)]
    if opts.color == "jpg":
        (iphone / "rgb").mkdir(exist_ok=True)
        for i in registered:
            (iphone / "rgb" / f"frame_{i:06d}.jpg").write_bytes(_jpeg(colors[i]))
    else:
        write_video(iphone / "rgb.mkv", colors)
    dw, dh = DEPTH_BIN_SIZE
    dK = np.diag([dw / w, dh / h, 1.0]) @ K
    depths = [renderer.depth_mm(dK, room.poses[i], (dw, dh)) for i in range(n)]
    if opts.depth == "png":
        (iphone / "depth").mkdir(exist_ok=True)
        for i, mm in enumerate(depths):
            (iphone / "depth" / f"frame_{i:06d}.png").write_bytes(_png16(mm))
    else:
        (iphone / "depth.bin").write_bytes(
            _depth_bin([mm.astype(np.float32) / 1000.0 for mm in depths], opts.depth))


def dslr_poses(room: SyntheticRoom, yaw_deg: float = 6.0) -> np.ndarray:
    """(M, 4, 4) DSLR camera-to-world poses: every other room pose, turned ``yaw_deg`` about
    the world vertical through the camera centre (a second, differently aimed camera)."""
    a = np.deg2rad(yaw_deg)
    Rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    out = room.poses[::2].copy()
    out[:, :3, :3] = Rz @ out[:, :3, :3]
    return out


def dslr_intrinsics(size: tuple[int, int]) -> np.ndarray:
    """Undistorted pinhole K of the synthetic DSLR (a wider lens than the iPhone)."""
    w, h = size
    return np.array([[0.62 * w, 0, 0.5 * w + 0.7], [0, 0.62 * w, 0.5 * h - 0.4], [0, 0, 1]])


def _write_dslr(folder: Path, room: SyntheticRoom, renderer: RoomRenderer,
                size: tuple[int, int], rng: np.random.Generator) -> None:
    dslr = folder / "dslr"
    for sub in ("resized_undistorted_images", "nerfstudio", "colmap"):
        (dslr / sub).mkdir(parents=True, exist_ok=True)
    poses = dslr_poses(room)
    K = dslr_intrinsics(size)
    names = [f"DSC{1000 + 3 * i:05d}.JPG" for i in range(len(poses))]
    for name, pose in zip(names, poses, strict=True):
        (dslr / "resized_undistorted_images" / name).write_bytes(
            _jpeg(renderer.color(K, pose, size)))
    entries = [{"file_path": n, "transform_matrix": to_nerfstudio(p).tolist(),
                "mask_path": n.replace(".JPG", ".png")} for n, p in zip(names, poses, strict=True)]
    n_test = max(1, len(entries) // 4)
    ns = {"fl_x": K[0, 0], "fl_y": K[1, 1], "cx": K[0, 2], "cy": K[1, 2], "w": size[0],
          "h": size[1], "k1": 0.0, "k2": 0.0, "k3": 0.0, "k4": 0.0, "camera_model": "PINHOLE",
          "frames": entries[:-n_test], "test_frames": entries[-n_test:]}
    (dslr / "nerfstudio" / "transforms_undistorted.json").write_text(json.dumps(ns, indent=1))
    # The fisheye calibration of the original images (not used for undistorted frames).
    (dslr / "colmap" / "cameras.txt").write_text(
        f"1 OPENCV_FISHEYE {size[0] * 4} {size[1] * 4} {K[0, 0] * 4:.6f} {K[1, 1] * 4:.6f} "
        f"{K[0, 2] * 4:.6f} {K[1, 2] * 4:.6f} 0.01 -0.002 0.0003 -0.00001\n")
    lines = [colmap_line(k + 1, p, 1, n) for k, (n, p) in enumerate(zip(names, poses,
                                                                          strict=True))]
    (dslr / "colmap" / "images.txt").write_text(_images_txt(lines, rng))


def write_scannetpp_scene(
    root: str | Path,
    room: SyntheticRoom,
    scene_id: str | None = None,
    *,
    iphone: IphoneOptions = IphoneOptions(),
    dslr: bool = True,
    dslr_size: tuple[int, int] = (96, 64),
    renderer: RoomRenderer | None = None,
) -> Path:
    """Write one room as ``<root>/data/<scene_id>/``; returns the scene folder.

    Raises ``UnknownNameError`` for an unknown colour or depth variant.
    """
    if iphone.color not in IPHONE_COLOR:
        raise UnknownNameError("iPhone colour variant", iphone.color, IPHONE_COLOR)
    if iphone.depth not in IPHONE_DEPTH:
        raise UnknownNameError("iPhone depth variant", iphone.depth, IPHONE_DEPTH)
    scene_id = scene_id or scene_id_for(room.seed)
    folder = Path(root) / "data" / scene_id
    renderer = renderer or room_renderer(room)
    rng = np.random.default_rng([room.seed, 11])
    write_ply(folder / "scans" / "mesh_aligned_0.05.ply", room.vertices, room.vertex_colors,
              room.faces)
    segs = {"params": SEGMENT_PARAMS, "sceneId": scene_id,
            "segIndices": list(range(len(room.vertices)))}
    (folder / "scans" / "segments.json").write_text(json.dumps(segs))
    (folder / "scans" / "segments_anno.json").write_text(
        json.dumps(_annotation(scene_id, room), indent=1))
    _write_iphone(folder, room, renderer, iphone, rng)
    if dslr:
        _write_dslr(folder, room, renderer, dslr_size, rng)
    return folder


def write_split_lists(root: str | Path, splits: dict[str, Sequence[str]]) -> list[Path]:
    """``<root>/splits/<name>.txt`` for {"nvs_sem_train": ids, "nvs_sem_val": ids, ...}."""
    out = []
    d = Path(root) / "splits"
    d.mkdir(parents=True, exist_ok=True)
    for name, ids in splits.items():
        p = d / f"{name}.txt"
        p.write_text("".join(f"{s}\n" for s in ids))
        out.append(p)
    return out


def room_seed(seed: int, index: int) -> int:
    """Seed of the index-th room: the same rooms as ``synthetic.write_synthetic_dataset``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def write_scannetpp_dataset(out: str | Path, n_scenes: int = 4, seed: int = 0,
                            spec: SynthSpec = DEFAULT_SPEC, n_val: int | None = None,
                            **options) -> dict[str, list[str]]:
    """Write ``n_scenes`` procedural rooms as a ScanNet++ release under ``out`` plus the split
    lists (the last ``n_val`` scenes, default a quarter and at least one when there are two or
    more, go to ``nvs_sem_val``); keyword options go to ``write_scannetpp_scene``.

    Returns ``{"train": ids, "val": ids}``. Deterministic for ``seed``.
    """
    rooms = [generate_room(room_seed(seed, k), spec) for k in range(n_scenes)]
    ids = [write_scannetpp_scene(out, r, **options).name for r in rooms]
    if n_val is None:
        n_val = max(1, n_scenes // 4) if n_scenes >= 2 else 0
    cut = len(ids) - n_val
    write_split_lists(out, {"nvs_sem_train": ids[:cut], "nvs_sem_val": ids[cut:]})
    return {"train": ids[:cut], "val": ids[cut:]}
