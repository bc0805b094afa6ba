"""The unit of work: one chunk of scenes -> one shard, with a completion marker written last.

A chunk task is idempotent. It processes its scenes in sorted order, records broken scenes in
its marker instead of stopping, writes the shard atomically (temporary name + rename) and only
then writes ``_chunks/<shard>.json``. A rerun skips chunks whose marker and shard both exist.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import MosaicConfig
from ..io.reader import INDEX_NAME
from ..io.shard_names import shard_name
from ..io.shard_writer import ShardInfo, ShardWriter, write_bytes_atomic
from .failures import failure_record
from .scene_task import process_scene

MARKER_DIR = "_chunks"


@dataclass(frozen=True)
class ChunkTask:
    """One shard's worth of scenes (plain data, picklable for process pools).

    Attributes:
        split: output split name (``train``, ``bench``, ...).
        index: chunk number within the split; n_chunks: chunks in the split.
        scene_ids: the chunk's scenes, sorted.
        config: the run config (source name, root and options included).
        out_dir: dataset directory.
        embed_images: store frames in the shard instead of ``images/``.
        scene_workers: processes that label one scene's views and generate its question
            types side by side (the executor's CPUs per task; the output does not depend on
            it).
        fingerprints: input fingerprint of each scene (same order as ``scene_ids``; see
            ``mosaic.sources.fingerprint``), recorded in the marker.
    """

    split: str
    index: int
    n_chunks: int
    scene_ids: tuple[str, ...]
    config: MosaicConfig
    out_dir: str
    embed_images: bool = False
    scene_workers: int = 1
    fingerprints: tuple[str, ...] = ()

    @property
    def shard_name(self) -> str:
        return shard_name(self.split, self.index, self.n_chunks)

    @property
    def marker_path(self) -> Path:
        return Path(self.out_dir) / MARKER_DIR / f"{self.shard_name}.json"

    def done_marker(self) -> dict[str, Any] | None:
        """The chunk's marker when the chunk is finished (``marker_holds``), else None."""
        marker = read_marker(self.marker_path)
        return marker if marker_holds(marker, Path(self.out_dir) / self.shard_name) else None

    def is_done(self) -> bool:
        """Marker present and the shard it names present with the recorded size."""
        return self.done_marker() is not None


def marker_holds(marker: dict[str, Any] | None, shard: Path) -> bool:
    """A marker vouches for its chunk: the shard it names is present with the recorded size."""
    return (
        marker is not None
        and shard.is_file()
        and shard.stat().st_size == marker.get("shard", {}).get("size_bytes")
    )


def read_marker(path: Path) -> dict[str, Any] | None:
    """A completion marker, or None when absent or unreadable (then the chunk is redone)."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


Emit = Callable[[dict[str, Any]], None]


def run_chunk(task: ChunkTask, emit: Emit | None = None) -> dict[str, Any]:
    """Process every scene of the chunk, write its shard and marker; return the marker.

    ``emit`` receives ``{"event": "scene", "scene": id, "ok": bool, "views": n}`` after each
    scene (used for progress bars across processes).
    """
    from .. import __version__

    config = task.config
    out = Path(task.out_dir)
    writer = ShardWriter(
        out / task.shard_name,
        split=task.split,
        config_json=config.to_json(),
        config_hash=config.hash(),
        mosaic_version=__version__,
        embed_images=task.embed_images,
        attrs={"source": config.source.name, "chunk_index": task.index, "n_chunks": task.n_chunks},
    )
    done: list[str] = []
    failed: list[dict[str, Any]] = []
    stats: list[dict[str, Any]] = []
    for scene_id in sorted(task.scene_ids):
        views, ok = 0, False
        try:
            record, scene_stats = process_scene(scene_id, config, out, task.embed_images,
                                                task.scene_workers)
            start = time.perf_counter()
            writer.add_scene(record)
            scene_stats.timings["write"] += time.perf_counter() - start
            stats.append(scene_stats.to_dict())
            done.append(scene_id)
            views, ok = scene_stats.n_views, True
        except Exception as exc:  # noqa: BLE001 - any scene failure is recorded, others go on
            failed.append(failure_record(scene_id, exc))
        if emit is not None:
            emit({"event": "scene", "scene": scene_id, "ok": ok, "views": views})
    start = time.perf_counter()
    info = writer.close()
    write_seconds = time.perf_counter() - start
    marker = {
        "shard": info.to_dict(),
        "split": task.split,
        "index": task.index,
        "n_chunks": task.n_chunks,
        "scenes": sorted(task.scene_ids),
        "done": done,
        "failed": failed,
        "stats": stats,
        "shard_write_seconds": write_seconds,
        "config_hash": config.hash(),
        # scene -> input fingerprint when the driver gave one (mosaic.stages.resume reads it)
        "inputs": {s: fp for s, fp in zip(task.scene_ids, task.fingerprints, strict=False) if fp},
    }
    marker_path = task.marker_path
    marker_path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(marker_path, json.dumps(marker, indent=1, sort_keys=True).encode())
    return marker


def write_index(
    out_dir: str | Path, shards: list[ShardInfo] | list[dict[str, Any]], extra: dict[str, Any]
) -> Path:
    """Write ``index.json`` (last step of a run): shards sorted by name with counts and sha256."""
    from .. import __version__
    from ..io.schema import SCHEMA_VERSION

    entries = [s.to_dict() if isinstance(s, ShardInfo) else dict(s) for s in shards]
    entries.sort(key=lambda e: e["name"])
    totals: dict[str, int] = {}
    for e in entries:
        for table, n in e["counts"].items():
            totals[table] = totals.get(table, 0) + int(n)
    index = {
        "schema_version": SCHEMA_VERSION,
        "mosaic_version": __version__,
        **extra,
        "shards": entries,
        "totals": totals,
    }
    path = Path(out_dir) / INDEX_NAME
    write_bytes_atomic(path, json.dumps(index, indent=1, sort_keys=True).encode())
    return path
