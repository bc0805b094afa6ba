"""Scene sources: readers that turn a dataset release into ``mosaic.structures.Scene``.

Registries (fail loudly with the valid names):

* ``SOURCES``: source name -> loader ``(root, scene_id, **kw) -> Scene``.
* ``LISTERS``: source name -> lister ``(root, split) -> (entries, warnings)``.

``list_scenes`` returns a tuple ``(entries, warnings)``: ``entries`` is a list of
``SceneEntry`` sorted by id, ``warnings`` a list of strings (e.g. no split lists found).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UnknownNameError
from ..structures import Scene
from .arkitscenes import list_arkitscenes_scenes, load_arkitscenes_scene
from .base import SceneEntry
from .mesh import list_mesh_scenes, load_mesh_scene
from .scannet import list_scannet_scenes, load_scannet_scene, normalize_split
from .scannetpp import list_scannetpp_scenes, load_scannetpp_scene

SOURCES: dict[str, Callable[..., Scene]] = {
    "scannet": load_scannet_scene,
    "scannetpp": load_scannetpp_scene,
    "arkitscenes": load_arkitscenes_scene,
    "mesh": load_mesh_scene,
}
LISTERS: dict[str, Callable[[Path, str | None], tuple[list[SceneEntry], list[str]]]] = {
    "scannet": list_scannet_scenes,
    "scannetpp": list_scannetpp_scenes,
    "arkitscenes": list_arkitscenes_scenes,
    "mesh": list_mesh_scenes,
}
# Which SourceConfig fields each loader takes (empty values mean "the loader's default").
SOURCE_OPTIONS: dict[str, tuple[str, ...]] = {
    "scannet": ("frames", "label_table"),
    "scannetpp": ("frames", "label_map"),
    "arkitscenes": ("box_margin",),
    "mesh": (),
}
MANIFEST_VERSION = 1
_CHUNK = 1 << 20

__all__ = [
    "LISTERS", "SOURCES", "SOURCE_OPTIONS", "SceneEntry", "list_scenes", "load_scene",
    "source_options", "write_manifest",
]


def _lookup(registry: dict[str, Any], source: str) -> Any:
    fn = registry.get(source)
    if fn is None:
        raise UnknownNameError("source", source, list(registry))
    return fn


def load_scene(root: str | Path, scene_id: str, source: str = "scannet", **kw: Any) -> Scene:
    """Load one scene with the named source's reader (keyword options go to the reader,
    e.g. ``frames="exported"`` for ScanNet)."""
    return _lookup(SOURCES, source)(root, scene_id, **kw)


def source_options(source: str, config: Any) -> dict[str, Any]:
    """Keyword options for ``load_scene`` from a ``SourceConfig`` (only what the source takes)."""
    names = SOURCE_OPTIONS.get(source, ())
    out = {n: getattr(config, n) for n in names}
    return {k: v for k, v in out.items() if v != ""}


def list_scenes(
    root: str | Path, source: str = "scannet", split: str | None = None
) -> tuple[list[SceneEntry], list[str]]:
    """``(entries, warnings)`` for a dataset root; ``split`` is ``train``, ``val`` (alias
    ``bench``), ``test`` or None for all."""
    return _lookup(LISTERS, source)(Path(root), split)


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (multi-GB ``.sens`` files are fine)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


# Folders holding one file per frame (exported or extracted images, depth, poses): a manifest
# records their file count and total size, not thousands of entries.
BULK_FRAME_DIRS = frozenset({
    "color", "depth", "pose", "sens_export", "rgb", "rgb_mask", "images", "original_images",
    "original_anon_masks", "resized_images", "resized_anon_masks", "resized_undistorted_images",
    "resized_undistorted_masks", "lowres_wide", "lowres_depth", "lowres_wide_intrinsics",
    "confidence", "anon_mask", "azim", "elev",
})


def _manifest_files(top: Path, folder: Path, out: dict[str, Any], checksums: bool) -> None:
    for p in sorted(folder.iterdir()):
        rel = p.relative_to(top).as_posix()
        if p.is_dir():
            if p.name in BULK_FRAME_DIRS:
                sizes = [q.stat().st_size for q in p.rglob("*") if q.is_file()]
                out[rel + "/"] = {"n_files": len(sizes), "size": int(sum(sizes))}
            else:
                _manifest_files(top, p, out, checksums)
        elif p.is_file():
            rec: dict[str, Any] = {"size": p.stat().st_size}
            if checksums:
                rec["sha256"] = file_sha256(p)
            out[rel] = rec


def write_manifest(
    root: str | Path,
    out_path: str | Path,
    source: str = "scannet",
    split: str | None = None,
    *,
    checksums: bool = True,
) -> Path:
    """Write a JSON manifest of the scenes of ``root``: sorted ids, split, completeness, and
    for every file of each scene folder (recursively) its size and sha256 (skipped when
    ``checksums`` is False); folders of per-frame files (``BULK_FRAME_DIRS``) are summarised
    by file count and total size instead of one entry per frame. The manifest holds no
    absolute paths, so it can be committed. Written to a temporary name and renamed, so a
    partial manifest never exists."""
    root = Path(root)
    entries, warnings = list_scenes(root, source=source, split=split)
    scenes = []
    for e in entries:
        files: dict[str, Any] = {}
        if e.folder.is_dir():
            _manifest_files(e.folder, e.folder, files, checksums)
        scenes.append({
            "scene_id": e.scene_id,
            "split": e.split,
            "folder": e.folder.relative_to(root).as_posix()
            if e.folder.is_relative_to(root) else e.folder.name,
            "complete": e.complete,
            "missing": list(e.missing),
            "files": files,
        })
    doc = {
        "manifest_version": MANIFEST_VERSION,
        "source": source,
        "split": normalize_split(split) if source == "scannet" else split,
        "n_scenes": len(scenes),
        "scene_ids": [s["scene_id"] for s in scenes],
        "scenes": scenes,
        "warnings": warnings,
    }
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, out)
    return out
