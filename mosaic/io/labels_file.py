"""Write per-view visibility labels to JSON or HDF5 (``mosaic visibility --out``).

JSON: ``{"scene_id", "config", "views": [{"frame_id", "scale", "width", "height",
"objects": [ObjectVisibility fields]}]}``.
HDF5: columnar tables ``views/`` (one row per view) and ``objects/`` (one row per view and
object, ``view`` = row in ``views/``), plus ``views/instance_buffer`` (n, h, w) int32 and
``views/depth`` (n, h, w) float32 when all views share a size; gzip + shuffle.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..config import VisibilityConfig
from ..errors import MosaicError
from ..structures import ObjectVisibility, ViewVisibility
from .shard_writer import replacing, write_bytes_atomic

SUFFIXES = (".json", ".h5", ".hdf5")  # file types write_labels can write
_SCALAR_FIELDS = (
    "instance_id", "visible_px", "amodal_px_in", "amodal_px_total", "truncation", "occlusion",
    "visible_ratio", "depth_median", "visible",
)


def object_record(o: ObjectVisibility) -> dict:
    """JSON-ready dict of one object's labels."""
    rec = dataclasses.asdict(o)
    rec["occluders"] = [list(p) for p in o.occluders]
    if np.isnan(o.depth_median):
        rec["depth_median"] = None
    return rec


def write_labels(
    path: str | Path, scene_id: str, views: Sequence[ViewVisibility], config: VisibilityConfig
) -> Path:
    """Write labels to ``path`` (.json or .h5), atomically (temporary name, then rename)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise MosaicError(f"--out {path}: use a .json or .h5 file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".json":
        doc = {
            "scene_id": scene_id,
            "config": dataclasses.asdict(config),
            "views": [
                {
                    "frame_id": v.frame_id,
                    "scale": v.scale,
                    "width": int(v.instance_buffer.shape[1]),
                    "height": int(v.instance_buffer.shape[0]),
                    "objects": [object_record(o) for o in v.objects],
                }
                for v in views
            ],
        }
        write_bytes_atomic(path, json.dumps(doc, indent=1).encode())
        return path
    with replacing(path) as tmp:  # a failed write leaves no partial file behind
        _write_h5(tmp, scene_id, views, config)
    return path


def _write_h5(
    path: Path, scene_id: str, views: Sequence[ViewVisibility], config: VisibilityConfig
) -> None:
    import h5py

    comp = {"compression": "gzip", "shuffle": True}
    with h5py.File(path, "w") as f:
        f.attrs["scene_id"] = scene_id
        f.attrs["config"] = json.dumps(dataclasses.asdict(config), sort_keys=True)
        gv = f.create_group("views")
        gv.create_dataset("frame_id", data=np.array([v.frame_id for v in views], np.int64))
        gv.create_dataset("scale", data=np.array([v.scale for v in views], np.float64))
        shapes = {v.instance_buffer.shape for v in views}
        if len(shapes) == 1 and views:
            gv.create_dataset("instance_buffer", data=np.stack(
                [v.instance_buffer for v in views]), **comp)
            gv.create_dataset("depth", data=np.stack([v.depth for v in views]), **comp)
        rows = [(i, o) for i, v in enumerate(views) for o in v.objects]
        go = f.create_group("objects")
        go.create_dataset("view", data=np.array([i for i, _ in rows], np.int64))
        for name in _SCALAR_FIELDS:
            vals = np.array([getattr(o, name) for _, o in rows])
            go.create_dataset(name, data=vals)
        for name in ("bbox_visible", "bbox_amodal"):
            vals = np.array(
                [getattr(o, name) or (np.nan,) * 4 for _, o in rows], np.float64
            ).reshape(-1, 4)
            go.create_dataset(name, data=vals)
        go.create_dataset("center_visible", data=np.array(
            [o.center_visible or (np.nan, np.nan) for _, o in rows], np.float64).reshape(-1, 2))
        str_dt = h5py.string_dtype()
        go.create_dataset("state", data=np.array([o.state for _, o in rows], object),
                          dtype=str_dt)
        go.create_dataset("occ_level", data=np.array([o.occ_level for _, o in rows], object),
                          dtype=str_dt)
        go.create_dataset("occluders_json", data=np.array(
            [json.dumps([list(p) for p in o.occluders]) for _, o in rows], object), dtype=str_dt)
