"""Atomic writer of one self-describing HDF5 shard (schema in ``mosaic.io.schema``).

The shard is built in memory scene by scene (a shard holds one chunk of scenes), then written
to a temporary name unique to the writer (``temporary_path``), closed, fsync'ed and renamed
with ``os.replace``: a killed writer leaves at most a ``.tmp`` file, never a partial file
under the final name, and two writers never share a temporary file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..structures import QAItem, Scene, ViewVisibility
from .schema import COMPRESSION, COMPRESSION_OPTS, SCHEMA, SCHEMA_VERSION, Column


@dataclass
class SceneRecord:
    """Everything one scene contributes to a shard.

    Attributes:
        scene: the loaded scene (mesh arrays are not stored, only objects and frames).
        n_sampled: frames kept by frame_step subsampling.
        rejected: pose-check rejections as dicts (frame_id, error_m, reason).
        views: visibility of the views to store (frames used by at least one question),
            sorted by frame id.
        pose_errors: frame id -> median depth error (m) from the pose check.
        image_paths: frame id -> image path relative to the dataset root.
        images: frame id -> encoded colour bytes to embed (empty unless embedding).
        qa: the scene's questions in generation order.
        unchecked: sampled frames kept without a pose check, as dicts (frame_id, reason),
            e.g. reason "pose not checked: no depth".
    """

    scene: Scene
    n_sampled: int
    rejected: list[dict[str, Any]]
    views: list[ViewVisibility]
    pose_errors: dict[int, float]
    image_paths: dict[int, str]
    images: dict[int, bytes] = field(default_factory=dict)
    qa: list[QAItem] = field(default_factory=list)
    unchecked: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ShardInfo:
    """What the index records about a finished shard."""

    name: str
    split: str
    counts: dict[str, int]
    sha256: str
    size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "split": self.split,
            "counts": dict(self.counts),
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
        }


def json_default(value: Any) -> Any:
    """JSON encoder fallback: numpy scalars/arrays, sets, and anything else as its text."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    # paths and other plain objects in source metadata: their text form is what a reader needs
    return str(value)


def dumps(value: Any) -> str:
    """Canonical JSON used for every JSON text column (sorted keys, compact)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=json_default)


def _box(value: Any, n: int) -> list[float]:
    return [math.nan] * n if value is None else [float(v) for v in value]


def _opt_id(value: int | None) -> int:
    return -1 if value is None else int(value)


def sha256_file(path: str | Path, block: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(path: str | Path) -> None:
    """Make a rename inside ``path`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# <final name>.~<host>~<pid>~<random>.tmp: which writer left a temporary file, so a run that
# holds the output lock can delete those of writers that are gone.
TEMPORARY_RE = re.compile(r"^(?P<name>.+)\.~(?P<host>[^~/]*)~(?P<pid>\d+)~[0-9a-f]+\.tmp$")


def temporary_path(path: str | Path) -> Path:
    """A temporary name next to ``path`` that no other writer (process, host) can pick."""
    path = Path(path)
    host = socket.gethostname().replace("~", "-").replace("/", "-")
    return path.with_name(f"{path.name}.~{host}~{os.getpid()}~{secrets.token_hex(4)}.tmp")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write a file via a writer-unique temporary name + fsync + ``os.replace``.

    On failure (disk full, ...) the temporary file is removed and the error re-raised; the
    final name keeps its previous content.
    """
    path = Path(path)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is None and exc.errno is not None:  # a failed write names no file
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class ShardWriter:
    """Collects scenes into the five tables and writes one shard atomically.

    Usage::

        writer = ShardWriter(path, split="train", config_json=cfg.to_json(),
                             config_hash=cfg.hash())
        writer.add_scene(record)
        info = writer.close()
    """

    def __init__(
        self,
        path: str | Path,
        split: str,
        config_json: str,
        config_hash: str,
        mosaic_version: str = "",
        embed_images: bool = False,
        attrs: dict[str, Any] | None = None,
    ):
        self.path = Path(path)
        self.split = split
        self.config_json = config_json
        self.config_hash = config_hash
        self.mosaic_version = mosaic_version
        self.embed_images = embed_images
        self.attrs = dict(attrs or {})
        self._cols: dict[str, dict[str, list[Any]]] = {
            t: {c.name: [] for c in cols} for t, cols in SCHEMA.items()
        }

    def _count(self, table: str) -> int:
        return len(self._cols[table][SCHEMA[table][0].name])

    def add_scene(self, rec: SceneRecord) -> None:
        """Append one scene's rows to every table."""
        scene = rec.scene
        stored = {int(v.frame_id) for v in rec.views}
        for q in rec.qa:  # check before appending anything so a bad scene leaves no rows
            missing = [f for f in q.frame_ids if int(f) not in stored]
            if missing:
                raise ValueError(
                    f"scene {scene.scene_id}: question {q.id} uses frames {missing} "
                    "that are not among the stored views"
                )
        scene_row = self._count("scenes")
        info = {
            "skipped_frames": [
                {"frame_id": int(s.frame_id), "reason": s.reason} for s in scene.skipped_frames
            ],
            "rejected_frames": rec.rejected,
            "unchecked_frames": rec.unchecked,
            "warnings": list(scene.warnings),
            "meta": scene.meta,
        }
        c = self._cols["scenes"]
        c["scene_id"].append(scene.scene_id)
        c["source"].append(scene.source)
        c["split"].append(scene.split or "")
        c["n_frames"].append(len(scene.frames))
        c["n_skipped"].append(len(scene.skipped_frames))
        c["n_sampled"].append(int(rec.n_sampled))
        c["n_rejected"].append(len(rec.rejected))
        c["n_views"].append(len(rec.views))
        c["n_objects"].append(len(scene.objects))
        c["n_qa"].append(len(rec.qa))
        c["axis_alignment"].append(np.asarray(scene.axis_alignment, dtype=np.float64))
        c["info"].append(dumps(info))

        c = self._cols["objects"]
        for obj in scene.objects:
            c["scene_row"].append(scene_row)
            c["instance_id"].append(int(obj.instance_id))
            c["label"].append(obj.label)
            c["category"].append(obj.category)
            c["nyu40_id"].append(_opt_id(obj.nyu40_id))
            c["scannet200_id"].append(_opt_id(obj.scannet200_id))
            c["aabb_min"].append(np.asarray(obj.aabb_min, dtype=np.float64))
            c["aabb_max"].append(np.asarray(obj.aabb_max, dtype=np.float64))
            c["obb_center"].append(np.asarray(obj.obb.center, dtype=np.float64))
            c["obb_extent"].append(np.asarray(obj.obb.extent, dtype=np.float64))
            c["obb_rotation"].append(np.asarray(obj.obb.rotation, dtype=np.float64))
            c["n_faces"].append(int(obj.n_faces))
            c["structural"].append(int(bool(obj.structural)))

        view_row_of: dict[int, int] = {}
        cv, cvis = self._cols["views"], self._cols["visibility"]
        for view in sorted(rec.views, key=lambda v: v.frame_id):
            frame = scene.frame(view.frame_id)
            view_row = self._count("views")
            view_row_of[int(view.frame_id)] = view_row
            cv["scene_row"].append(scene_row)
            cv["frame_id"].append(int(view.frame_id))
            cv["K"].append(np.asarray(frame.K, dtype=np.float64))
            cv["cam_to_world"].append(np.asarray(frame.cam_to_world, dtype=np.float64))
            cv["width"].append(int(frame.width))
            cv["height"].append(int(frame.height))
            cv["scale"].append(float(view.scale))
            cv["pose_error"].append(float(rec.pose_errors.get(int(view.frame_id), math.nan)))
            cv["vis_start"].append(self._count("visibility"))
            cv["vis_count"].append(len(view.objects))
            cv["image_path"].append(rec.image_paths.get(int(view.frame_id), ""))
            cv["image"].append(rec.images.get(int(view.frame_id), b""))
            for o in sorted(view.objects, key=lambda o: o.instance_id):
                cvis["view_row"].append(view_row)
                cvis["instance_id"].append(int(o.instance_id))
                cvis["visible_px"].append(int(o.visible_px))
                cvis["amodal_px_in"].append(int(o.amodal_px_in))
                cvis["amodal_px_total"].append(int(o.amodal_px_total))
                cvis["truncation"].append(float(o.truncation))
                cvis["occlusion"].append(float(o.occlusion))
                cvis["visible_ratio"].append(float(o.visible_ratio))
                cvis["bbox_visible"].append(_box(o.bbox_visible, 4))
                cvis["bbox_amodal"].append(_box(o.bbox_amodal, 4))
                cvis["center_visible"].append(_box(o.center_visible, 2))
                cvis["depth_median"].append(float(o.depth_median))
                cvis["occluders"].append(
                    np.asarray(o.occluders, dtype=np.int64).reshape(-1, 2)
                )
                cvis["state"].append(o.state)
                cvis["occ_level"].append(o.occ_level)
                cvis["visible"].append(int(bool(o.visible)))

        c = self._cols["qa"]
        for q in rec.qa:
            c["id"].append(q.id)
            c["scene_row"].append(scene_row)
            c["question_type"].append(q.question_type)
            c["family"].append(q.family)
            c["frame_ids"].append(np.asarray(q.frame_ids, dtype=np.int64))
            c["view_rows"].append(
                np.asarray([view_row_of[int(f)] for f in q.frame_ids], dtype=np.int64)
            )
            c["question"].append(q.question)
            c["options"].append(dumps(list(q.options)))
            c["answer"].append(q.answer)
            c["ground_truth"].append(q.ground_truth)
            c["overlap_avg"].append(float(q.overlap_avg))
            c["overlap_level"].append(q.overlap_level)
            c["occlusion_avg"].append(float(q.occlusion_avg))
            c["occ_level"].append(q.occ_level)
            c["vis_level"].append(q.vis_level)
            c["coverage"].append(q.coverage)
            c["bbox_2d"].append(_box(q.bbox_2d, 4))
            c["bbox_2d_diag"].append(math.nan if q.bbox_2d_diag is None else q.bbox_2d_diag)
            c["targets"].append(np.asarray(q.targets, dtype=np.int64))
            c["template_id"].append(q.template_id)
            c["seed"].append(int(q.seed))
            c["evidence"].append(dumps(q.evidence))

    def counts(self) -> dict[str, int]:
        """Rows per table so far."""
        return {t: self._count(t) for t in SCHEMA}

    def close(self) -> ShardInfo:
        """Write a temporary file, fsync, rename to ``path``; return counts and checksum.

        On failure the temporary file is removed and the error re-raised.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path(self.path)
        try:
            return self._write(tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _write(self, tmp: Path) -> ShardInfo:
        with h5py.File(tmp, "w", track_order=True) as f:
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["mosaic_version"] = self.mosaic_version
            f.attrs["config"] = self.config_json
            f.attrs["config_hash"] = self.config_hash
            f.attrs["compression"] = f"{COMPRESSION}:{COMPRESSION_OPTS}+shuffle"
            f.attrs["split"] = self.split
            f.attrs["images_embedded"] = bool(self.embed_images)
            for key, value in self.attrs.items():
                f.attrs[key] = value
            for table, cols in SCHEMA.items():
                group = f.create_group(table)
                n = self._count(table)
                group.attrs["n_rows"] = n
                for col in cols:
                    if col.optional and not (col.name == "image" and self.embed_images):
                        continue
                    _write_column(group, col, self._cols[table][col.name], n)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        digest = sha256_file(tmp)
        size = tmp.stat().st_size
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)
        return ShardInfo(self.path.name, self.split, self.counts(), digest, size)


def _create(group: h5py.Group, name: str, data: np.ndarray) -> None:
    """One compressed dataset (uncompressed when empty: HDF5 cannot chunk 0-size data)."""
    if data.size == 0:
        group.create_dataset(name, data=data)
        return
    group.create_dataset(
        name,
        data=data,
        compression=COMPRESSION,
        compression_opts=COMPRESSION_OPTS,
        shuffle=True,
    )


def _write_column(group: h5py.Group, col: Column, values: list[Any], n: int) -> None:
    if len(values) != n:
        raise ValueError(f"{group.name}/{col.name}: {len(values)} values for {n} rows")
    if col.kind == "array":
        data = np.asarray(values, dtype=col.dtype).reshape((n, *col.shape))
        _create(group, col.name, data)
    elif col.kind == "str":
        data = np.asarray(values, dtype=object) if n else np.zeros((0,), dtype=object)
        group.create_dataset(col.name, data=data, dtype=h5py.string_dtype("utf-8"))
    elif col.kind == "text":
        parts = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in values]
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=offsets[1:])
        blob = np.frombuffer(b"".join(parts), dtype=np.uint8)
        _create(group, col.name, blob)
        _create(group, f"{col.name}_offsets", offsets)
    elif col.kind == "ragged":
        arrays = [np.asarray(v, dtype=col.dtype).reshape((-1, *col.shape)) for v in values]
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum([len(a) for a in arrays], out=offsets[1:])
        flat = (
            np.concatenate(arrays, axis=0)
            if arrays
            else np.zeros((0, *col.shape), dtype=col.dtype)
        )
        _create(group, col.name, flat.astype(col.dtype, copy=False))
        _create(group, f"{col.name}_offsets", offsets)
    else:  # pragma: no cover - schema is static
        raise ValueError(f"unknown column kind {col.kind}")
