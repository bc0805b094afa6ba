"""Atomic writer of one self-describing HDF5 shard (schema in ``mosaic.io.schema``).

The shard is built in memory scene by scene (a shard holds one chunk of scenes), then written
to a temporary name unique to the writer (``temporary_path``), closed, fsync'ed and renamed
with ``os.replace``: a killed writer leaves at most a ``.tmp`` file, never a partial file
under the final name, and two writers never share a temporary file.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..process_ids import owner_tag
from ..sources.fingerprint import file_sha256
from ..structures import QAItem, Scene, ViewVisibility
from .columns import Column
from .schema import COMPRESSION, COMPRESSION_OPTS, SCHEMA, SCHEMA_VERSION, ViewRow


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


def temporary_path(path: str | Path) -> Path:
    """A temporary name next to ``path`` that no other writer (process, host) can pick:
    ``<name>.~<host>~<pid>~<random>.tmp``, so a run that holds the output lock can delete the
    ones of writers that are gone (``process_ids.tagged_owner``)."""
    path = Path(path)
    return path.with_name(f"{path.name}.{owner_tag()}{secrets.token_hex(4)}.tmp")


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A writer-unique temporary name next to ``path`` to write; leaving the block without an
    error renames it to ``path`` (``os.replace``), an error removes it (the final name keeps
    its previous content) and is re-raised."""
    tmp = temporary_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write a file via a writer-unique temporary name + fsync + ``os.replace``
    (``replacing``)."""
    try:
        with replacing(path) as tmp, open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:  # a failed write names no file
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
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
            t: {c.name: [] for c in table.columns} for t, table in SCHEMA.items()
        }
        # per table: (column, append to its values), bound once (a row appends to every one)
        self._sinks = {
            t: tuple((c, self._cols[t][c.name].append) for c in table.columns)
            for t, table in SCHEMA.items()
        }

    def _count(self, table: str) -> int:
        return len(self._cols[table][SCHEMA[table].columns[0].name])

    def _append(self, table: str, record: Any, **links: Any) -> int:
        """Append one row built from ``record`` (links: row numbers the writer computed);
        returns its row number."""
        row = self._count(table)
        for col, append in self._sinks[table]:
            append(col.encode(links[col.name] if col.get is None else col.get(record)))
        return row

    def add_scene(self, rec: SceneRecord) -> None:
        """Append one scene's rows to every table (all or nothing: a scene that fails to
        encode leaves no rows)."""
        scene = rec.scene
        stored = {int(v.frame_id) for v in rec.views}
        for q in rec.qa:  # the cause in words, before any row is appended
            missing = [f for f in q.frame_ids if int(f) not in stored]
            if missing:
                raise ValueError(
                    f"scene {scene.scene_id}: question {q.id} uses frames {missing} "
                    "that are not among the stored views"
                )
        before = self.counts()
        try:
            self._append_scene(rec)
        except BaseException:
            for table, n in before.items():
                for values in self._cols[table].values():
                    del values[n:]
            raise

    def _append_scene(self, rec: SceneRecord) -> None:
        # views sorted by frame id, each followed by its objects' visibility by instance id
        scene_row = self._append("scenes", rec)
        for obj in rec.scene.objects:
            self._append("objects", obj, scene_row=scene_row)
        view_row_of: dict[int, int] = {}
        for view in sorted(rec.views, key=lambda v: v.frame_id):
            fid = int(view.frame_id)
            row = ViewRow(
                frame=rec.scene.frame(fid),
                labels=view,
                pose_error=rec.pose_errors.get(fid, math.nan),
                image_path=rec.image_paths.get(fid, ""),
                image=rec.images.get(fid, b""),
            )
            view_row_of[fid] = self._append(
                "views", row, scene_row=scene_row, vis_start=self._count("visibility")
            )
            for o in sorted(view.objects, key=lambda o: o.instance_id):
                self._append("visibility", o, view_row=view_row_of[fid])
        for q in rec.qa:
            view_rows = [view_row_of[int(f)] for f in q.frame_ids]
            self._append("qa", q, scene_row=scene_row, view_rows=view_rows)

    def counts(self) -> dict[str, int]:
        """Rows per table so far."""
        return {t: self._count(t) for t in SCHEMA}

    def close(self) -> ShardInfo:
        """Write a temporary file, fsync, rename to ``path``; return counts and checksum.

        On failure the temporary file is removed and the error re-raised.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(self.path) as tmp:
            digest, size = self._write(tmp)
        fsync_dir(self.path.parent)
        return ShardInfo(self.path.name, self.split, self.counts(), digest, size)

    def _write(self, tmp: Path) -> tuple[str, int]:
        """Write the shard to ``tmp`` and fsync it: (sha256, size in bytes)."""
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
            for table, spec in SCHEMA.items():
                group = f.create_group(table)
                n = self._count(table)
                group.attrs["n_rows"] = n
                for col in spec.columns:
                    if col.optional and not (col.name == "image" and self.embed_images):
                        continue
                    _write_column(group, col, self._cols[table][col.name], n)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        return file_sha256(tmp), tmp.stat().st_size


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
