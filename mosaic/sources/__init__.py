"""Scene sources: readers that turn a dataset release into ``mosaic.structures.Scene``.

Each source is one ``SourceSpec`` in ``SOURCES`` (the registry shape of ``mosaic.registry``):
its module, the loader ``(root, scene_id, **options) -> Scene`` and lister
``(root, split, **options) -> (entries, warnings)`` it defines, the ``SourceConfig`` fields each
of them takes, and ``OBTAIN_HINT`` in the module, shown when the data is missing. Adding a
source is one registration here plus its module (docs/adding_a_source.md).

``list_scenes`` returns a tuple ``(entries, warnings)``: ``entries`` is a list of
``SceneEntry`` sorted by id, ``warnings`` a list of strings (e.g. no split lists found).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import MosaicConfig, SourceConfig
from ..registry import Registry, Spec
from ..structures import Scene
from .base import SceneEntry
from .fingerprint import file_sha256, input_entries


@dataclass(frozen=True)
class SourceSpec(Spec):
    """A scene source.

    Attributes:
        loader, lister: names of the module's loader and lister functions.
        options: ``SourceConfig`` fields the loader takes (empty values = its default).
        list_options: ``SourceConfig`` fields the lister takes.
    """

    loader: str = ""
    lister: str = ""
    options: tuple[str, ...] = ()
    list_options: tuple[str, ...] = ()

    def obtain_hint(self) -> str:
        """How to get this source's data (the module's ``OBTAIN_HINT``)."""
        return str(self.attr("OBTAIN_HINT"))


SOURCES: Registry[SourceSpec] = Registry("source", [
    SourceSpec("scannet", "mosaic.sources.scannet", loader="load_scannet_scene",
               lister="list_scannet_scenes", options=("frames", "label_table")),
    SourceSpec("scannetpp", "mosaic.sources.scannetpp", loader="load_scannetpp_scene",
               lister="list_scannetpp_scenes", options=("frames", "label_map"),
               list_options=("frames",)),
    SourceSpec("arkitscenes", "mosaic.sources.arkitscenes", loader="load_arkitscenes_scene",
               lister="list_arkitscenes_scenes", options=("box_margin",)),
    SourceSpec("mesh", "mosaic.sources.mesh", loader="load_mesh_scene",
               lister="list_mesh_scenes"),
])
MANIFEST_VERSION = 1

__all__ = [
    "SOURCES", "SceneEntry", "SourceSpec", "list_scenes", "load_scene", "load_scene_of",
    "source_options", "write_manifest",
]


def _options(names: tuple[str, ...], config: SourceConfig) -> dict[str, Any]:
    out = {n: getattr(config, n) for n in names}
    return {k: v for k, v in out.items() if v != ""}


def source_options(source: str, config: SourceConfig) -> dict[str, Any]:
    """Keyword options for the source's loader from a ``SourceConfig`` (only what it takes)."""
    return _options(SOURCES[source].options, config)


def load_scene(root: str | Path, scene_id: str, source: str = "scannet", **kw: Any) -> Scene:
    """Load one scene with the named source's reader (keyword options go to the reader,
    e.g. ``frames="exported"`` for ScanNet)."""
    spec = SOURCES[source]
    return spec.attr(spec.loader)(root, scene_id, **kw)


def load_scene_of(config: MosaicConfig, scene_id: str) -> Scene:
    """Load one scene as the run config says: ``source.name``, ``source.root`` and the
    reader options of ``config.source``."""
    src = config.source
    return load_scene(src.root, scene_id, src.name, **source_options(src.name, src))


def list_scenes(
    root: str | Path, source: str = "scannet", split: str | None = None,
    config: SourceConfig | None = None,
) -> tuple[list[SceneEntry], list[str]]:
    """``(entries, warnings)`` for a dataset root; ``split`` is ``train``, ``val`` (alias
    ``bench``), ``test`` or None for all. ``config`` gives the lister its options (e.g.
    ScanNet++ ``frames=dslr``, so a DSLR-only download is complete)."""
    spec = SOURCES[source]
    options = _options(spec.list_options, config or SourceConfig())
    return spec.attr(spec.lister)(Path(root), split, **options)


def _manifest_files(top: Path, checksums: bool) -> dict[str, Any]:
    """rel path -> {"size", "sha256"} per file, {"n_files", "size"} per bulk folder."""
    out: dict[str, Any] = {}
    for e in input_entries(top):
        if e.bulk:
            out[e.rel] = {"n_files": e.n_files, "size": e.size}
        else:
            out[e.rel] = {"size": e.size, **({"sha256": file_sha256(e.path)} if checksums else {})}
    return out


def write_manifest(
    root: str | Path,
    out_path: str | Path,
    source: str = "scannet",
    split: str | None = None,
    *,
    checksums: bool = True,
    config: SourceConfig | None = None,
) -> Path:
    """Write a JSON manifest of the scenes of ``root``: sorted ids, split, completeness, and
    for every file of each scene folder (recursively) its size and sha256 (skipped when
    ``checksums`` is False); folders of per-frame files (``fingerprint.BULK_FRAME_DIRS``) are
    summarised by file count and total size instead of one entry per frame. The manifest holds no
    absolute paths, so it can be committed. Written to a temporary name and renamed, so a
    partial manifest never exists."""
    root = Path(root)
    from .scannet import normalize_split

    entries, warnings = list_scenes(root, source=source, split=split, config=config)
    scenes = []
    for e in entries:
        files = _manifest_files(e.folder, checksums) if e.folder.is_dir() else {}
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
