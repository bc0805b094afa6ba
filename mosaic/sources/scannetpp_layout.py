"""ScanNet++ release layout: where a scene's files are, which ones a usable scene needs, how
to obtain the data, and the error for a damaged file (docs/release_layouts.md sections 2.1 and 2.6).

A root holds ``data/<scene>/`` per scene, ``splits/*.txt`` and
``metadata/semantic_benchmark/map_benchmark.csv``; paths below are relative to the scene
folder unless they say otherwise.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CorruptDataError, MissingDataError

FRAME_STREAMS = ("iphone", "dslr")
MESH_FILE = "scans/mesh_aligned_0.05.ply"
SEGMENTS_FILE = "scans/segments.json"
ANNO_FILE = "scans/segments_anno.json"
# <root>/splits/<name>.txt -> split
SPLIT_FILES = {"nvs_sem_train": "train", "nvs_sem_val": "val", "sem_test": "test"}
LABEL_MAP = "metadata/semantic_benchmark/map_benchmark.csv"  # under the root
OBTAIN_HINT = (
    "ScanNet++ is distributed after accepting its terms of use at https://kaldir.vc.in.tum.de/"
    "scannetpp/; download it with the official download script and pass the folder holding "
    "data/ and splits/ as --root"
)
NERFSTUDIO_HINT = "re-run the ScanNet++ toolkit's dslr/undistort.py for this scene"


def corrupt_error(scene_id: str, path: Path, cause: str, hint: str = "") -> CorruptDataError:
    """``CorruptDataError`` for a ScanNet++ file (default hint: re-download it)."""
    return CorruptDataError(scene_id, path, cause, hint or "re-download this file")


def scene_folder(root: str | Path, scene_id: str) -> Path:
    """``<root>/data/<scene_id>``; MissingDataError naming what is absent otherwise."""
    root = Path(root)
    folder = root / "data" / scene_id
    if not folder.is_dir():
        cause = ("dataset root does not exist" if not root.is_dir()
                 else "scene folder not found under data/")
        raise MissingDataError(scene_id, folder, cause, OBTAIN_HINT)
    return folder


def required_files(frames: str = "iphone") -> tuple[str, ...]:
    """Paths (relative to the scene folder) a usable scene must hold."""
    base = (MESH_FILE, SEGMENTS_FILE, ANNO_FILE)
    if frames == "dslr":
        return base + ("dslr/nerfstudio/transforms_undistorted.json",
                       "dslr/resized_undistorted_images")
    return base + ("iphone/colmap/cameras.txt", "iphone/colmap/images.txt")

