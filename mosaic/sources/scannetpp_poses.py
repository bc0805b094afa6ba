"""ScanNet++ camera poses and intrinsics: the COLMAP text model and nerfstudio transforms.

COLMAP ``cameras.txt`` / ``images.txt`` store world-to-camera rotations (Hamilton quaternion,
scalar first) and translations for an OpenCV camera in the mesh frame (metres, +z up); they are
inverted here to camera-to-world. ScanNet++'s nerfstudio ``transform_matrix`` is an OpenGL
camera in a permuted world; ``nerfstudio_to_opencv`` undoes both (docs/release_layouts.md
section 2.3). Frame ids are the number in the image name (``frame_000120.jpg`` -> 120,
``DSC01234.JPG`` -> 1234).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import MissingDataError
from .sanity import check_intrinsics
from .scannetpp_layout import OBTAIN_HINT, corrupt_error

_DIGITS = re.compile(r"(\d+)")
# nerfstudio transform_matrix = P @ cam_to_world @ F (docs/release_layouts.md 2.3): F flips the
# camera's y and z columns (OpenCV -> OpenGL); P swaps world rows 0 and 1 and negates row 2.
# Both are their own inverses, so cam_to_world = P @ transform_matrix @ F.
_NS_FLIP = np.diag([1.0, -1.0, -1.0, 1.0])
_NS_PERM = np.array([[0.0, 1, 0, 0], [1, 0, 0, 0], [0, 0, -1, 0], [0, 0, 0, 1]])


# ---- COLMAP text model -------------------------------------------------------------------
@dataclass(frozen=True)
class ColmapCamera:
    """One ``cameras.txt`` entry: model, size and parameters (COLMAP order)."""

    camera_id: int
    model: str
    width: int
    height: int
    params: tuple[float, ...]

    def K(self) -> np.ndarray:
        """(3, 3) pinhole part of the model (distortion, if any, is not included)."""
        p = self.params
        if self.model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL", "SIMPLE_RADIAL_FISHEYE",
                          "RADIAL_FISHEYE"):
            fx = fy = p[0]
            cx, cy = p[1], p[2]
        else:  # PINHOLE, OPENCV, OPENCV_FISHEYE, FULL_OPENCV, ...: fx fy cx cy first
            fx, fy, cx, cy = p[0], p[1], p[2], p[3]
        return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])

    def distortion(self) -> tuple[float, ...]:
        n = 3 if self.model.startswith("SIMPLE") or self.model.startswith("RADIAL") else 4
        return tuple(self.params[n:])


_PARAM_COUNT = {"SIMPLE_PINHOLE": 3, "PINHOLE": 4, "SIMPLE_RADIAL": 4, "RADIAL": 5,
                "OPENCV": 8, "OPENCV_FISHEYE": 8, "FULL_OPENCV": 12}


def read_colmap_cameras(scene_id: str, path: Path) -> dict[int, ColmapCamera]:
    """``cameras.txt``: ``CAMERA_ID MODEL WIDTH HEIGHT PARAMS...`` per line."""
    if not path.is_file():
        raise MissingDataError(scene_id, path, "COLMAP cameras.txt missing", OBTAIN_HINT)
    cams = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        tok = line.split()
        if not tok or tok[0].startswith("#"):
            continue
        try:
            cam = ColmapCamera(int(tok[0]), tok[1], int(tok[2]), int(tok[3]),
                               tuple(float(t) for t in tok[4:]))
        except (IndexError, ValueError):
            raise corrupt_error(scene_id, path, f"line {n} is not a COLMAP camera") from None
        need = _PARAM_COUNT.get(cam.model, 4)
        if len(cam.params) < need:
            raise corrupt_error(scene_id, path, f"camera {cam.camera_id} ({cam.model}) has "
                                f"{len(cam.params)} parameters, expected {need}")
        check_intrinsics(scene_id, path, cam.K(), f"camera {cam.camera_id} intrinsics",
                         (cam.width, cam.height), OBTAIN_HINT)
        cams[cam.camera_id] = cam
    if not cams:
        raise corrupt_error(scene_id, path, "no camera")
    return cams


def qvec_to_rotation(q: np.ndarray) -> np.ndarray:
    """(3, 3) rotation of a Hamilton quaternion (w, x, y, z) as COLMAP writes it (scalar first),
    normalised first."""
    return Rotation.from_quat(np.asarray(q, dtype=np.float64), scalar_first=True).as_matrix()


@dataclass(frozen=True)
class ColmapImage:
    """One ``images.txt`` entry; ``cam_to_world`` is the inverse of COLMAP's world-to-camera."""

    image_id: int
    name: str
    camera_id: int
    cam_to_world: np.ndarray


def _names_an_image(tok: list[str]) -> bool:
    """An ``images.txt`` image line: ten or more tokens, the tenth a name, not a number."""
    if len(tok) < 10:
        return False
    try:
        float(tok[9])
    except ValueError:
        return True
    return False


def read_colmap_images(scene_id: str, path: Path) -> list[ColmapImage]:
    """``images.txt``: per image ``ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`` then the 2D points
    line (possibly empty or, from some writers, absent); ``#`` comment and blank lines between
    records are skipped."""
    if not path.is_file():
        raise MissingDataError(scene_id, path, "COLMAP images.txt missing", OBTAIN_HINT)
    lines = path.read_text().splitlines()
    out = []
    k = 0
    while k < len(lines):
        tok = lines[k].split()
        if not tok or tok[0].startswith("#"):
            k += 1  # blank and comment lines only occur between records
            continue
        k += 1
        # the next line (possibly empty) lists the image's 2D points as numbers; some writers
        # leave it out, and a line ending in a file name is the next image instead
        if k < len(lines) and not _names_an_image(lines[k].split()):
            k += 1
        try:
            q = np.array([float(t) for t in tok[1:5]])
            t = np.array([float(t) for t in tok[5:8]])
            image_id, camera_id, name = int(tok[0]), int(tok[8]), " ".join(tok[9:])
        except (IndexError, ValueError):
            raise corrupt_error(scene_id, path, f"{' '.join(tok)[:60]!r} is not a COLMAP image "
                                "line (IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME)") from None
        if not name or not np.isfinite(q).all() or not np.linalg.norm(q) > 0:
            raise corrupt_error(scene_id, path, f"image {image_id} has no name or a bad quaternion")
        w2c = np.eye(4)
        w2c[:3, :3] = qvec_to_rotation(q)
        w2c[:3, 3] = t
        c2w = np.eye(4)
        c2w[:3, :3] = w2c[:3, :3].T
        c2w[:3, 3] = -w2c[:3, :3].T @ t
        out.append(ColmapImage(image_id, name, camera_id, c2w))
    return out


def nerfstudio_to_opencv(transform_matrix: np.ndarray) -> np.ndarray:
    """Undo ScanNet++'s nerfstudio conversion: (4, 4) OpenCV camera-to-world in the mesh frame."""
    return _NS_PERM @ np.asarray(transform_matrix, dtype=np.float64) @ _NS_FLIP


def frame_number(name: str) -> int | None:
    """The last run of digits in a file name's stem (``frame_000120.jpg`` -> 120)."""
    found = _DIGITS.findall(Path(name).stem)
    return int(found[-1]) if found else None
