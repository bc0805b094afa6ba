"""ScanNet++ DSLR frames: undistorted images, nerfstudio intrinsics, COLMAP or nerfstudio poses.

``dslr/resized_undistorted_images/`` with the undistorted pinhole intrinsics of
``dslr/nerfstudio/transforms_undistorted.json``; poses from ``dslr/colmap/images.txt`` when
present, else from the nerfstudio ``transform_matrix`` with its camera flip and world
permutation undone (docs/release_layouts.md sections 2.3 and 2.5). The DSLR has no depth sensor:
``has_depth`` is False (the pose check reports the frames as not checked) and ``read_depth``
returns an all-invalid image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDataError
from ..structures import DepthImage, Frame, SkippedFrame
from .mesh import no_sensor_depth, read_json
from .sanity import check_intrinsics, pose_problem
from .scannetpp_layout import NERFSTUDIO_HINT, corrupt_error
from .scannetpp_poses import frame_number, nerfstudio_to_opencv, read_colmap_images


@dataclass(frozen=True)
class DslrFrameStore:
    """Undistorted DSLR images (JPEG bytes as stored); no depth sensor.

    Attributes:
        scene_id: scene (for errors).
        folder: ``dslr/resized_undistorted_images``; names: frame id -> image file name.
        color_K: (3, 3) undistorted intrinsics at ``size``, (width, height) in pixels.
    """

    scene_id: str
    folder: Path
    names: dict[int, str]
    color_K: np.ndarray
    size: tuple[int, int]

    def read_color(self, frame_id: int) -> bytes:
        path = self.folder / self.names[int(frame_id)]
        if not path.is_file():
            raise MissingDataError(self.scene_id, path, "undistorted DSLR image missing",
                                   NERFSTUDIO_HINT)
        return path.read_bytes()

    def has_depth(self, frame_id: int) -> bool:
        return False  # the DSLR has no depth sensor

    def read_depth(self, frame_id: int) -> DepthImage:
        return no_sensor_depth(self.size[0], self.size[1], self.color_K)


def _read_nerfstudio(scene_id: str, ns_path: Path
                     ) -> tuple[np.ndarray, int, int, list[Any]]:
    """(3, 3) undistorted intrinsics, width, height (pixels) and the frame entries (``frames``
    then ``test_frames``) of ``transforms_undistorted.json``."""
    ns = read_json(scene_id, ns_path, NERFSTUDIO_HINT)
    try:
        K = np.array([[float(ns["fl_x"]), 0.0, float(ns["cx"])],
                      [0.0, float(ns["fl_y"]), float(ns["cy"])], [0.0, 0.0, 1.0]])
        width, height = int(ns["w"]), int(ns["h"])
        entries = list(ns.get("frames", [])) + list(ns.get("test_frames", []))
    except (KeyError, TypeError, ValueError) as exc:
        raise corrupt_error(scene_id, ns_path, f"missing or invalid key {exc}", NERFSTUDIO_HINT) \
            from None
    check_intrinsics(scene_id, ns_path, K, "DSLR intrinsics", (width, height), NERFSTUDIO_HINT)
    return K, width, height, entries


def _colmap_poses(scene_id: str, dslr: Path) -> dict[str, np.ndarray] | None:
    """Camera-to-world (4, 4) per image name from ``dslr/colmap/images.txt``; None without it."""
    colmap_images = dslr / "colmap" / "images.txt"
    return ({Path(im.name).name: im.cam_to_world
             for im in read_colmap_images(scene_id, colmap_images)}
            if colmap_images.is_file() else None)


def dslr_frames(scene_id: str, folder: Path, warnings: list[str], meta: dict[str, Any]
                ) -> tuple[list[Frame], list[SkippedFrame], DslrFrameStore]:
    """The DSLR frames of scene folder ``folder`` (OpenCV camera-to-world in the mesh frame,
    undistorted pinhole intrinsics), sorted by id, the skipped ones and the frame store; the
    pose source is recorded in ``meta``."""
    dslr = folder / "dslr"
    ns_path = dslr / "nerfstudio" / "transforms_undistorted.json"
    K, width, height, entries = _read_nerfstudio(scene_id, ns_path)
    img_dir = dslr / "resized_undistorted_images"
    colmap_pose = _colmap_poses(scene_id, dslr)
    meta["dslr_poses"] = "colmap" if colmap_pose is not None else "nerfstudio"
    frames, skipped = [], []
    names: dict[int, str] = {}
    absent = 0
    for e in entries:
        try:
            name = Path(str(e["file_path"])).name
        except (KeyError, TypeError):
            raise corrupt_error(scene_id, ns_path, "a frame has no file_path", NERFSTUDIO_HINT) \
                from None
        fid = frame_number(name)
        if fid is None or fid in names:
            raise corrupt_error(scene_id, ns_path, f"frame {name!r} has no number or is repeated")
        if not (img_dir / name).is_file():
            absent += 1  # test frames of hidden-test scenes ship without images
            continue
        names[fid] = name
        if colmap_pose is not None:
            pose = colmap_pose.get(name)
            if pose is None:
                skipped.append(SkippedFrame(fid, "not in dslr/colmap/images.txt"))
                continue
        else:
            try:
                pose = nerfstudio_to_opencv(np.asarray(e["transform_matrix"], float))
            except (KeyError, ValueError, TypeError):
                raise corrupt_error(scene_id, ns_path,
                                    f"frame {name!r} has no 4x4 transform_matrix",
                                    NERFSTUDIO_HINT) from None
        why = pose_problem(pose)
        if why is not None:
            skipped.append(SkippedFrame(fid, why))
            continue
        frames.append(Frame(fid, K.copy(), pose, width, height))
    if absent:
        warnings.append(f"{img_dir}: {absent} frames of {ns_path.name} have no image")
    frames.sort(key=lambda f: f.frame_id)
    return frames, skipped, DslrFrameStore(scene_id, img_dir, names, K, (width, height))
