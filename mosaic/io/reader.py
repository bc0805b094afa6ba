"""Read a generated dataset: QA items joined with their views and the targets' visibility.

``open_dataset(path)`` returns a sequence over every QA item of every shard listed in
``index.json``. File handles are opened lazily and re-opened after a fork (one per process),
so the object is safe to hand to DataLoader workers; only paths and counts are pickled.
Global index -> (shard, row) goes through cumulative per-shard counts.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np

from ..errors import ShardError, UnknownNameError
from ..structures import ObjectVisibility, QAItem
from .columns import Column
from .schema import SCHEMA, ViewRecord
from .shard_names import split_of

INDEX_NAME = "index.json"
BLOB_CACHE_BYTES = 64 << 20  # text blobs up to this size are read once per process


@dataclass(frozen=True)
class DatasetItem:
    """A QA item with its joined views.

    Attributes:
        qa: the question with every stored field.
        views: the question's frames in the order shown (Frame 1 first).
        visibility: per view (same order), instance id -> visibility record of each target
            that has an amodal footprint in that view.
        root: the dataset directory (image paths are relative to it).
        shard: shard file name; row: row in that shard's ``qa/``.
        split: the output split of the shard (``train``, ``bench``).
    """

    qa: QAItem
    views: tuple[ViewRecord, ...]
    visibility: tuple[dict[int, ObjectVisibility], ...]
    root: Path
    shard: str
    row: int
    split: str = ""

    @property
    def image_paths(self) -> list[Path]:
        """Absolute image paths, one per view (exist unless images are embedded)."""
        return [self.root / v.image_path for v in self.views]


# What h5py, numpy and json raise on a damaged shard (bad offsets, bytes, joins).
_READ_ERRORS = (OSError, KeyError, ValueError, UnicodeDecodeError, IndexError, TypeError)
_F = TypeVar("_F", bound=Callable[..., Any])


def _shard_read(fn: _F) -> _F:
    """Turn a low-level failure while reading a shard into a ``ShardError`` naming it."""

    @functools.wraps(fn)
    def wrapper(self: ShardReader, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except ShardError:
            raise
        except _READ_ERRORS as exc:
            raise ShardError(
                f"shard {self.path} is damaged: {fn.__name__}"
                f"({', '.join(repr(a) for a in args)}) failed "
                f"({type(exc).__name__}: {exc}); run `mosaic validate {self.path.parent}`, "
                "then delete the shard and its marker _chunks/<shard>.json and rerun the same "
                "`mosaic generate` command to rebuild it"
            ) from None

    return wrapper  # type: ignore[return-value]


class ShardReader:
    """Lazy, fork-safe access to the tables of one shard; small columns are cached.

    A read that fails on damaged content raises ``ShardError`` naming the shard.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file: h5py.File | None = None
        self._pid = -1
        self._cache: dict[tuple[str, str], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])

    @property
    def file(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            # A handle inherited through fork must not be reused: open our own.
            self._cache = {}
            try:
                self._file = h5py.File(self.path, "r", locking=False)
            except OSError as exc:
                raise ShardError(
                    f"shard {self.path} cannot be opened ({exc}); run mosaic validate"
                ) from None
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None
        self._cache = {}

    @property
    @_shard_read
    def attrs(self) -> dict[str, Any]:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in self.file.attrs.items()}

    @_shard_read
    def n_rows(self, table: str) -> int:
        return int(self.file[table].attrs["n_rows"])

    @_shard_read
    def has(self, table: str, name: str) -> bool:
        return name in self.file[table]

    @_shard_read
    def column(self, table: str, name: str) -> Any:
        """A whole column: ndarray for arrays, list[str] for strings, offsets for text/ragged.

        Text and ragged columns return ``(dataset, offsets)`` so rows are read by slices.
        """
        return self._column(table, name)

    @_shard_read
    def text(self, table: str, name: str, row: int) -> str:
        return self._blob(table, name, row).decode("utf-8")

    @_shard_read
    def blob(self, table: str, name: str, row: int) -> bytes:
        return self._blob(table, name, row)

    @_shard_read
    def ragged(self, table: str, name: str, row: int) -> np.ndarray:
        return self._ragged(table, name, row)

    # The private readers below raise low-level errors; the public methods that call them
    # turn those into ShardError (one wrapper per public call, not per column read).

    def _column(self, table: str, name: str) -> Any:
        key = (table, name)
        if key in self._cache and self._pid == os.getpid():
            return self._cache[key]
        group = self.file[table]
        col = SCHEMA[table].column(name)
        if col.kind == "array":
            value: Any = group[name][()]
        elif col.kind == "str":
            value = list(group[name].asstr()[()])
        else:
            value = (group[name], group[f"{name}_offsets"][()])
        self._cache[key] = value
        return value

    def _blob_values(self, table: str, name: str) -> Any:
        """The blob as an in-memory array when small (fast repeated rows), else the dataset."""
        key = (table, name, "blob")
        if key in self._cache:
            return self._cache[key]
        data, _ = self._column(table, name)  # re-opens the file after a fork
        if data.size > BLOB_CACHE_BYTES:
            return data
        self._cache[key] = data[()]
        return self._cache[key]

    def _blob(self, table: str, name: str, row: int) -> bytes:
        _, off = self._column(table, name)
        return bytes(self._blob_values(table, name)[off[row] : off[row + 1]])

    def _ragged(self, table: str, name: str, row: int) -> np.ndarray:
        key = (table, name, "values")
        # _column() first: in a forked child it re-opens the file and drops the parent's cache
        data, off = self._column(table, name)
        if key not in self._cache:
            self._cache[key] = data[()]  # ragged ints are small: load once
        return self._cache[key][off[row] : off[row + 1]]

    def _stored(self, table: str, col: Column, row: int) -> Any:
        """Row ``row`` of a column as stored: array row, str, blob bytes or ragged values."""
        if col.kind == "text":
            return self._blob(table, col.name, row)
        if col.kind == "ragged":
            return self._ragged(table, col.name, row)
        return self._column(table, col.name)[row]

    def _record(self, table: str, row: int, **joined: Any) -> Any:
        """Row ``row`` of ``table`` rebuilt as the table's record (``mosaic.io.schema``)."""
        return SCHEMA[table].decode_row(lambda col: self._stored(table, col, row), **joined)

    @_shard_read
    def qa_item(self, row: int) -> QAItem:
        """Row ``row`` of ``qa/`` as a QAItem."""
        scene_row = int(self._column("qa", "scene_row")[row])
        return self._record("qa", row, scene_id=self._column("scenes", "scene_id")[scene_row])

    @_shard_read
    def view(self, row: int) -> ViewRecord:
        """Row ``row`` of ``views/`` as a ViewRecord."""
        return self._record("views", row)

    @_shard_read
    def visibility(self, row: int) -> ObjectVisibility:
        """Row ``row`` of ``visibility/`` as an ObjectVisibility."""
        return self._record("visibility", row)

    @_shard_read
    def view_visibility(self, view_row: int, instance_ids: tuple[int, ...]) -> dict[int, Any]:
        """Visibility records of ``instance_ids`` in one view (absent ids are left out)."""
        start = int(self.column("views", "vis_start")[view_row])
        count = int(self.column("views", "vis_count")[view_row])
        ids = self.column("visibility", "instance_id")[start : start + count]
        out = {}
        for iid in instance_ids:
            hit = np.flatnonzero(ids == iid)
            if hit.size:
                out[int(iid)] = self.visibility(start + int(hit[0]))
        return out

    @_shard_read
    def image(self, view_row: int) -> bytes | None:
        """Embedded image bytes of a view, or None when images are stored as files."""
        if not self.has("views", "image"):
            return None
        return self.blob("views", "image", view_row)


def read_index(root: str | Path) -> dict[str, Any]:
    """The dataset's ``index.json`` (ShardError when missing or unreadable)."""
    path = Path(root) / INDEX_NAME
    if not path.is_file():
        raise ShardError(
            f"{path} does not exist: the dataset is incomplete (generation not finished); "
            "rerun `mosaic generate` with the same --out to resume"
        )
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShardError(
            f"{path} is not valid JSON ({exc}); rerun the same `mosaic generate` command "
            "(same --out) to rewrite it"
        ) from None
    except OSError as exc:
        raise ShardError(f"{path} cannot be read ({exc.strerror or exc})") from None


class MosaicDataset:
    """All QA items of a dataset directory, in shard order then row order.

    ``split`` keeps one output split (``train``, ``bench``); a split no shard has raises
    ``UnknownNameError`` listing the splits present.

    Opening verifies the selection (``mosaic.io.verify``): a malformed index, a shard the run
    did not produce, or a shard whose size, sha256 or row counts disagree with ``index.json``
    raises ``ShardError`` naming it. With ``allow_incomplete`` such shards are left out and
    listed in ``left_out`` as (shard name, why); the valid ones are read.
    """

    def __init__(self, root: str | Path, split: str | None = None,
                 allow_incomplete: bool = False):
        from .verify import index_problems, malformed_index_error, verify_shards

        self.root = Path(root)
        self.index = read_index(self.root)
        problems = index_problems(self.index)
        if problems:
            raise malformed_index_error(self.root, problems)
        present = sorted({str(s["split"]) for s in self.index["shards"]}
                         | {split_of(n) or n for n in self.index.get("missing_shards", [])})
        if split is not None and split not in present:
            # an empty dataset would score or export nothing without saying why
            raise UnknownNameError(f"split of {self.root}", split, present)
        verified = verify_shards(self.root, self.index, split, allow_incomplete)
        self.left_out: list[tuple[str, str]] = verified.left_out
        entries = verified.entries
        self.split = split
        self.shard_names = [s["name"] for s in entries]
        self.shard_splits = [str(s["split"]) for s in entries]
        self.shards = [ShardReader(self.root / name) for name in self.shard_names]
        counts = np.array([int(s["counts"]["qa"]) for s in entries], dtype=np.int64)
        self._cum = np.concatenate([[0], np.cumsum(counts)])

    @property
    def complete(self) -> bool:
        """Every shard of the selection is read (nothing was left out)."""
        return not self.left_out

    def __len__(self) -> int:
        return int(self._cum[-1])

    @property
    def splits(self) -> list[str]:
        """The output splits of the selected shards, sorted (one when opened with a split)."""
        return sorted(set(self.shard_splits))

    def split_count(self, split: str) -> int:
        """QA items of one output split among the shards read."""
        counts = np.diff(self._cum)
        return int(sum(n for n, s in zip(counts, self.shard_splits, strict=True) if s == split))

    def locate(self, index: int) -> tuple[int, int]:
        """Global item index -> (shard number, row in that shard's qa/)."""
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"item {index} out of range for {n} items")
        shard = int(np.searchsorted(self._cum, index, side="right") - 1)
        return shard, int(index - self._cum[shard])

    def qa(self, index: int) -> QAItem:
        """Only the QAItem of one item (no joins)."""
        s, row = self.locate(index)
        return self.shards[s].qa_item(row)

    def __getitem__(self, index: int) -> DatasetItem:
        s, row = self.locate(int(index))
        shard = self.shards[s]
        item = shard.qa_item(row)
        view_rows = shard.ragged("qa", "view_rows", row)
        views = tuple(shard.view(int(v)) for v in view_rows)
        vis = tuple(shard.view_visibility(int(v), item.targets) for v in view_rows)
        return DatasetItem(
            item, views, vis, self.root, self.shard_names[s], row, self.shard_splits[s]
        )

    def __iter__(self) -> Iterator[DatasetItem]:
        for i in range(len(self)):
            yield self[i]

    def iter_qa(self) -> Iterator[QAItem]:
        """QA items only, in order (cheaper than full items)."""
        for shard, n in zip(self.shards, np.diff(self._cum), strict=True):
            for row in range(int(n)):
                yield shard.qa_item(row)

    def image_bytes(self, item: DatasetItem, k: int) -> bytes:
        """Encoded bytes of the k-th view of an item (embedded or from images/)."""
        shard = self.shards[self.shard_names.index(item.shard)]
        view_row = int(shard.ragged("qa", "view_rows", item.row)[k])
        data = shard.image(view_row)
        if data is not None:
            return data
        path = self.root / item.views[k].image_path
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ShardError(
                f"image {path} of item {item.qa.id} cannot be read ({exc.strerror or exc}); "
                f"run `mosaic validate {self.root}`"
            ) from None

    def close(self) -> None:
        for shard in self.shards:
            shard.close()

    def __enter__(self) -> MosaicDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_dataset(
    path: str | Path, split: str | None = None, allow_incomplete: bool = False
) -> MosaicDataset:
    """Open a dataset directory written by ``mosaic generate`` (optionally one split).

    The shards are verified first (see ``MosaicDataset``); ``allow_incomplete`` reads the
    valid shards of an incomplete or altered dataset and lists the others in ``left_out``.
    """
    return MosaicDataset(path, split=split, allow_incomplete=allow_incomplete)
