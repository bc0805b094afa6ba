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
  and ``images.txt`` (world-to-camera qvec/tvec, two lines per image: the pose, then the 2D
  points) list all frames except ``iphone_dropped`` (COLMAP registers a subset of the video);
  ``points3D.txt`` defines every 3D point an image observes (see ``colmap_points``), so the
  toolkit's ``read_model`` reads the folder.
  Colour as ``iphone/rgb/frame_%06d.jpg`` of the registered frames (``iphone_color="jpg"``) or
  as ``iphone/rgb.mkv`` of every frame (``"mkv"``, H.264 through PyAV). Depth at 256x192 as
  ``iphone/depth/frame_%06d.png`` uint16 mm (``"png"``) or ``iphone/depth.bin``: one
  raw-deflate float32 stream (``"bin_stream"``), per-frame length-prefixed raw-deflate float32
  (``"bin_deflate"``) or lz4 uint16 mm (``"bin_lz4"``). ``iphone/nerfstudio/transforms.json``
  holds the same poses in the nerfstudio convention (camera flip + world permutation).
* DSLR (``dslr=True``): every other room pose turned a little about the vertical. The camera
  is a fisheye (``dslr_fisheye``) at ``dslr_size``, the size of ``resized_images``:
  ``dslr/colmap/cameras.txt`` holds it as OPENCV_FISHEYE, ``images.txt`` the poses with 2D
  points in the distorted images, ``points3D.txt`` the points. The images are rendered with the
  pinhole intrinsics the toolkit's ``dslr/undistort.py`` writes for that fisheye
  (``undistorted_intrinsics``: same size, OpenCV's new camera matrix with balance 0) into
  ``dslr/resized_undistorted_images/DSC%05d.JPG``, and
  ``dslr/nerfstudio/transforms_undistorted.json`` holds those intrinsics (PINHOLE, ``frames``
  + ``test_frames``, poses in the nerfstudio convention).
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
from ..structures import scaled_intrinsics
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


def fisheye_distort(xn: np.ndarray, D: Sequence[float]) -> np.ndarray:
    """OPENCV_FISHEYE distortion of normalised image points (N, 2): with r = |x| and
    theta = atan(r), x_d = x * theta_d / r, theta_d = theta (1 + k1 t^2 + k2 t^4 + k3 t^6 +
    k4 t^8)."""
    k1, k2, k3, k4 = D
    r = np.linalg.norm(xn, axis=1, keepdims=True)
    t = np.arctan(r)
    td = t * (1 + k1 * t**2 + k2 * t**4 + k3 * t**6 + k4 * t**8)
    return np.where(r > 1e-12, xn * td / np.maximum(r, 1e-12), xn)


def fisheye_undistort(uv: np.ndarray, K: np.ndarray, D: Sequence[float]) -> np.ndarray:
    """Pixels (N, 2) of a fisheye image -> normalised pinhole points (N, 2) (Newton on theta,
    as OpenCV's ``fisheye::undistortPoints`` with no rectification)."""
    k1, k2, k3, k4 = D
    pw = (np.asarray(uv, np.float64) - K[:2, 2]) / np.diag(K)[:2]
    td = np.clip(np.linalg.norm(pw, axis=1), -np.pi / 2, np.pi / 2)
    t = td.copy()
    for _ in range(10):
        t2 = t * t
        f = t * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - td
        df = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + 9 * k4 * t2)))
        t = t - f / df
    scale = np.where(td > 1e-8, np.tan(t) / np.maximum(td, 1e-8), 1.0)
    return pw * scale[:, None]


def undistorted_intrinsics(K: np.ndarray, D: Sequence[float], size: tuple[int, int]
                           ) -> np.ndarray:
    """(3, 3) pinhole K that ScanNet++'s ``dslr/undistort.py`` writes to
    ``transforms_undistorted.json`` for a fisheye (K, D) at ``size``: OpenCV's
    ``fisheye.estimateNewCameraMatrixForUndistortRectify`` with R = I and balance 0, for an
    output of the same size (OpenCV >= 4.7, where the aspect-ratio correction applies to y).

    The midpoints of the four image borders are undistorted; the new principal point puts
    their mean at the image centre and the focal length is the largest that maps the nearest
    of them to its border (balance 0: no black border, the rest is cropped).
    """
    w, h = size
    mid = np.array([[w // 2, 0], [w, h // 2], [w // 2, h], [0, h // 2]], np.float64)
    pts = fisheye_undistort(mid, np.asarray(K, np.float64), D)
    aspect = K[0, 0] / K[1, 1]
    pts[:, 1] *= aspect
    cn = pts.mean(axis=0)
    f = max(w * 0.5 / (cn[0] - pts[:, 0].min()), w * 0.5 / (pts[:, 0].max() - cn[0]),
            h * 0.5 * aspect / (cn[1] - pts[:, 1].min()),
            h * 0.5 * aspect / (pts[:, 1].max() - cn[1]))
    cx, cy = w * 0.5 - cn[0] * f, (h * 0.5 * aspect - cn[1] * f) / aspect
    return np.array([[f, 0.0, cx], [0.0, f / aspect, cy], [0.0, 0.0, 1.0]])


def colmap_points(vertices: np.ndarray, colors: np.ndarray, poses: Sequence[np.ndarray],
                  project, size: tuple[int, int], renderer: RoomRenderer,
                  rng: np.random.Generator, n_points: int = 40, n_candidates: int = 2000
                  ) -> tuple[list[list[tuple[float, float, int]]], list[str]]:
    """Sparse COLMAP points for ``images.txt`` and ``points3D.txt``: of ``n_candidates`` mesh
    vertices drawn at random, the first ``n_points`` that at least two images observe (as a
    triangulated point is; one image when there is only one). An image observes a vertex
    that projects inside it with nothing in front (the first hit of the ray is at the
    vertex's distance).

    Args:
        project: camera coordinates (N, 3), z > 0 -> pixels (N, 2) of the image model.
        poses: camera-to-world per image (image id = index + 1).

    Returns:
        per image its 2D points (x, y, point3D id; COLMAP pixel coordinates, pixel centres
        at +0.5) plus one unmatched key point (id -1), and the ``points3D.txt`` data lines
        (``ID X Y Z R G B ERROR`` then the track as ``IMAGE_ID POINT2D_IDX`` pairs).
    """
    w, h = size
    # one candidate per position: parts of the room share corner positions
    _, first = np.unique(np.asarray(vertices), axis=0, return_index=True)
    pick = np.sort(rng.choice(np.sort(first), size=min(n_candidates, len(first)),
                              replace=False))
    xyz = np.asarray(vertices, np.float64)[pick]
    seen_at: list[dict[int, np.ndarray]] = []  # per image: candidate -> pixel
    for pose in poses:
        R, c = pose[:3, :3], pose[:3, 3]
        cam = (xyz - c) @ R
        front = np.flatnonzero(cam[:, 2] > 0.05)
        got: dict[int, np.ndarray] = {}
        if len(front):
            uv = project(cam[front])
            inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
            idx, uv = front[inside], uv[inside]
            dirs = (xyz[idx] - c).astype(np.float32)
            dist = np.linalg.norm(dirs, axis=1)
            face, t = renderer.caster.cast(
                np.broadcast_to(c.astype(np.float32), dirs.shape), dirs / dist[:, None])
            seen = (face >= 0) & (t >= dist - 1e-3)
            got = {int(i): p for i, p in zip(idx[seen], uv[seen], strict=True)}
        seen_at.append(got)
    views = np.bincount([i for got in seen_at for i in got], minlength=len(pick))
    need = min(2, len(poses))
    keep = [int(i) for i in np.flatnonzero(views >= need)[:n_points]] if need else []
    obs: list[list[tuple[float, float, int]]] = []
    tracks: dict[int, list[tuple[int, int]]] = {i: [] for i in keep}
    for k, got in enumerate(seen_at):
        pts: list[tuple[float, float, int]] = []
        for i in keep:
            if i in got:
                tracks[i].append((k + 1, len(pts)))
                pts.append((float(got[i][0]), float(got[i][1]), i + 1))
        pts.append((float(rng.uniform(0, w)), float(rng.uniform(0, h)), -1))
        obs.append(pts)
    lines = []
    for i in keep:
        r, g, b = (int(v) for v in colors[pick[i]])
        track = " ".join(f"{im} {j}" for im, j in tracks[i])
        x, y, z = xyz[i]
        lines.append(f"{i + 1} {x:.9g} {y:.9g} {z:.9g} {r} {g} {b} "
                     f"{rng.uniform(0.2, 1.2):.6f} {track}")
    return obs, lines


def _images_txt(lines: list[str], points: list[list[tuple[float, float, int]]]) -> str:
    n_obs = sum(pid != -1 for p in points for *_, pid in p)
    out = ["# Image list with two lines of data per image:",
           "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
           "#   POINTS2D[] as (X, Y, POINT3D_ID)",
           f"# Number of images: {len(lines)}, mean observations per image: "
           f"{n_obs / max(1, len(lines)):g}"]
    for line, pts in zip(lines, points, strict=True):
        out.append(line)
        out.append(" ".join(f"{x:.6f} {y:.6f} {pid}" for x, y, pid in pts))
    return "\n".join(out) + "\n"


def _points3d_txt(lines: list[str]) -> str:
    n_obs = sum((len(line.split()) - 8) // 2 for line in lines)
    return ("# 3D point list with one line of data per point:\n"
            "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n"
            f"# Number of points: {len(lines)}, mean track length: "
            f"{n_obs / max(1, len(lines)):g}\n" + "".join(line + "\n" for line in lines))


def _write_colmap(folder: Path, room: SyntheticRoom, camera_line: str, names: list[str],
                  poses: Sequence[np.ndarray], project, size: tuple[int, int],
                  renderer: RoomRenderer, rng: np.random.Generator) -> None:
    """``cameras.txt`` (one camera), ``images.txt`` and ``points3D.txt`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cameras.txt").write_text(
        "# Camera list with one line of data per camera:\n"
        "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n# Number of cameras: 1\n"
        f"{camera_line}\n")
    obs, points = colmap_points(room.vertices, room.vertex_colors, poses, project, size,
                                renderer, rng)
    lines = [colmap_line(k + 1, p, 1, n) for k, (n, p) in enumerate(zip(names, poses,
                                                                          strict=True))]
    (folder / "images.txt").write_text(_images_txt(lines, obs))
    (folder / "points3D.txt").write_text(_points3d_txt(points))


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
    w, h = room.spec.color_size
    K = room.color_K
    n = len(room.poses)
    registered = [i for i in range(n) if i not in set(opts.dropped)]

    def pinhole(cam: np.ndarray) -> np.ndarray:
        return (cam[:, :2] / cam[:, 2:3]) * np.diag(K)[:2] + K[:2, 2]

    _write_colmap(iphone / "colmap", room,
                  f"1 OPENCV {w} {h} {K[0, 0]:.10g} {K[1, 1]:.10g} {K[0, 2]:.10g} "
                  f"{K[1, 2]:.10g} 0 0 0 0",
                  [f"frame_{i:06d}.jpg" for i in registered], [room.poses[i] for i in registered],
                  pinhole, (w, h), renderer, rng)
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
    dK = scaled_intrinsics(K, dw / w, dh / h)
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


DSLR_DISTORTION = (0.012, -0.004, 0.0011, -0.0002)  # OPENCV_FISHEYE k1..k4


def dslr_fisheye(size: tuple[int, int]) -> tuple[np.ndarray, tuple[float, ...]]:
    """(K, (k1, k2, k3, k4)) of the synthetic DSLR's fisheye at ``size`` (the resized images):
    a slightly off-centre principal point and unequal focal lengths, like a calibration."""
    w, h = size
    K = np.array([[0.70 * w, 0, 0.5 * w + 0.7], [0, 0.701 * w, 0.5 * h - 0.4], [0, 0, 1]])
    return K, DSLR_DISTORTION


def dslr_intrinsics(size: tuple[int, int]) -> np.ndarray:
    """Undistorted pinhole K of the synthetic DSLR: what the toolkit's undistortion writes for
    ``dslr_fisheye(size)`` (a wider view than the iPhone)."""
    return undistorted_intrinsics(*dslr_fisheye(size), size)


def _write_dslr(folder: Path, room: SyntheticRoom, renderer: RoomRenderer,
                size: tuple[int, int], rng: np.random.Generator) -> None:
    dslr = folder / "dslr"
    for sub in ("resized_undistorted_images", "nerfstudio"):
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
    # COLMAP models the distorted (resized) images: the fisheye at the same size
    Kf, D = dslr_fisheye(size)

    def fisheye(cam: np.ndarray) -> np.ndarray:
        return fisheye_distort(cam[:, :2] / cam[:, 2:3], D) * np.diag(Kf)[:2] + Kf[:2, 2]

    params = " ".join(f"{v:.10g}" for v in (Kf[0, 0], Kf[1, 1], Kf[0, 2], Kf[1, 2], *D))
    _write_colmap(dslr / "colmap", room, f"1 OPENCV_FISHEYE {size[0]} {size[1]} {params}",
                  names, list(poses), fisheye, size, renderer, rng)


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
