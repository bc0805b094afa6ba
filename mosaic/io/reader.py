"""Read a generated dataset: QA items joined with their views and the targets' visibility.

``open_dataset(path)`` returns a sequence over every QA item of every shard listed in
``index.json``. File handles are opened lazily and re-opened after a fork (one per process),
so the object is safe to hand to DataLoader workers; only paths and counts are pickled.
Global index -> (shard, row) goes through cumulative per-shard counts.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np

from ..errors import ShardError, UnknownNameError
from ..structures import ObjectVisibility, QAItem
from .schema import column as schema_column

INDEX_NAME = "index.json"
BLOB_CACHE_BYTES = 64 << 20  # text blobs up to this size are read once per process


@dataclass(frozen=True)
class ViewRecord:
    """One frame of a question, as stored in ``views/``.

    Attributes:
        frame_id: source frame number.
        K: (3, 3) float64 colour intrinsics for ``width`` x ``height``.
        cam_to_world: (4, 4) float64 OpenCV camera to world (z-up, metres).
        width, height: colour image size (pixels).
        image_path: image path relative to the dataset root.
        pose_error: median |rendered - sensor depth| (m), NaN when not checked.
    """

    frame_id: int
    K: np.ndarray
    cam_to_world: np.ndarray
    width: int
    height: int
    image_path: str
    pose_error: float


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


def _nan_none(values: np.ndarray) -> tuple[float, ...] | None:
    if np.isnan(values).any():
        return None
    return tuple(float(v) for v in values)


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
        key = (table, name)
        if key in self._cache and self._pid == os.getpid():
            return self._cache[key]
        group = self.file[table]
        col = schema_column(table, name)
        if col.kind == "array":
            value: Any = group[name][()]
        elif col.kind == "str":
            value = list(group[name].asstr()[()])
        else:
            value = (group[name], group[f"{name}_offsets"][()])
        self._cache[key] = value
        return value

    @_shard_read
    def _blob_values(self, table: str, name: str) -> Any:
        """The blob as an in-memory array when small (fast repeated rows), else the dataset."""
        key = (table, name, "blob")
        if key in self._cache:
            return self._cache[key]
        data, _ = self.column(table, name)  # re-opens the file after a fork
        if data.size > BLOB_CACHE_BYTES:
            return data
        self._cache[key] = data[()]
        return self._cache[key]

    @_shard_read
    def text(self, table: str, name: str, row: int) -> str:
        return self.blob(table, name, row).decode("utf-8")

    @_shard_read
    def blob(self, table: str, name: str, row: int) -> bytes:
        _, off = self.column(table, name)
        return bytes(self._blob_values(table, name)[off[row] : off[row + 1]])

    @_shard_read
    def ragged(self, table: str, name: str, row: int) -> np.ndarray:
        key = (table, name, "values")
        # column() first: in a forked child it re-opens the file and drops the parent's cache
        data, off = self.column(table, name)
        if key not in self._cache:
            self._cache[key] = data[()]  # ragged ints are small: load once
        return self._cache[key][off[row] : off[row + 1]]

    @_shard_read
    def qa_item(self, row: int) -> QAItem:
        """Row ``row`` of ``qa/`` as a QAItem."""
        c = self.column
        bbox = _nan_none(c("qa", "bbox_2d")[row])
        diag = float(c("qa", "bbox_2d_diag")[row])
        return QAItem(
            id=c("qa", "id")[row],
            scene_id=c("scenes", "scene_id")[int(c("qa", "scene_row")[row])],
            question_type=c("qa", "question_type")[row],
            family=c("qa", "family")[row],
            frame_ids=tuple(int(v) for v in self.ragged("qa", "frame_ids", row)),
            question=self.text("qa", "question", row),
            options=tuple(json.loads(self.text("qa", "options", row))),
            answer=c("qa", "answer")[row],
            ground_truth=c("qa", "ground_truth")[row],
            overlap_avg=float(c("qa", "overlap_avg")[row]),
            overlap_level=c("qa", "overlap_level")[row],
            occlusion_avg=float(c("qa", "occlusion_avg")[row]),
            occ_level=c("qa", "occ_level")[row],
            vis_level=c("qa", "vis_level")[row],
            coverage=c("qa", "coverage")[row],
            bbox_2d=bbox,  # type: ignore[arg-type]
            bbox_2d_diag=None if math.isnan(diag) else diag,
            targets=tuple(int(v) for v in self.ragged("qa", "targets", row)),
            template_id=c("qa", "template_id")[row],
            seed=int(c("qa", "seed")[row]),
            evidence=json.loads(self.text("qa", "evidence", row)),
        )

    @_shard_read
    def view(self, row: int) -> ViewRecord:
        c = self.column
        return ViewRecord(
            frame_id=int(c("views", "frame_id")[row]),
            K=c("views", "K")[row],
            cam_to_world=c("views", "cam_to_world")[row],
            width=int(c("views", "width")[row]),
            height=int(c("views", "height")[row]),
            image_path=self.text("views", "image_path", row),
            pose_error=float(c("views", "pose_error")[row]),
        )

    @_shard_read
    def visibility(self, row: int) -> ObjectVisibility:
        """Row ``row`` of ``visibility/`` as an ObjectVisibility."""
        c = self.column
        occ = self.ragged("visibility", "occluders", row)
        center = _nan_none(c("visibility", "center_visible")[row])
        return ObjectVisibility(
            instance_id=int(c("visibility", "instance_id")[row]),
            visible_px=int(c("visibility", "visible_px")[row]),
            amodal_px_in=int(c("visibility", "amodal_px_in")[row]),
            amodal_px_total=int(c("visibility", "amodal_px_total")[row]),
            truncation=float(c("visibility", "truncation")[row]),
            occlusion=float(c("visibility", "occlusion")[row]),
            visible_ratio=float(c("visibility", "visible_ratio")[row]),
            bbox_visible=_nan_none(c("visibility", "bbox_visible")[row]),  # type: ignore[arg-type]
            bbox_amodal=_nan_none(c("visibility", "bbox_amodal")[row]),  # type: ignore[arg-type]
            center_visible=center,  # type: ignore[arg-type]
            depth_median=float(c("visibility", "depth_median")[row]),
            occluders=tuple((int(a), int(b)) for a, b in occ),
            state=c("visibility", "state")[row],
            occ_level=c("visibility", "occ_level")[row],
            visible=bool(c("visibility", "visible")[row]),
        )

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
                         | {n.rsplit("-", 3)[0] for n in self.index.get("missing_shards", [])})
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
