"""Per-scene failure records: what failed (scene, file, cause) without stopping the batch."""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

from ..errors import MosaicError, SceneDataError
from ..io.shard_writer import write_bytes_atomic

FAILURES_NAME = "failures.json"


def failure_record(scene_id: str, exc: BaseException) -> dict[str, Any]:
    """Plain-data record of why a scene failed.

    ``SceneDataError`` carries its own scene, file, cause and hint; any other exception is
    recorded with its type, message and the innermost source location, so a bug in the
    pipeline is distinguishable from bad input.
    """
    if isinstance(exc, SceneDataError):
        rec = exc.as_record()
        rec["scene"] = scene_id
        return rec
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename}:{tb[-1].lineno}" if tb else None
    return {
        "scene": scene_id,
        "file": getattr(exc, "filename", None),
        "cause": str(exc) or type(exc).__name__,
        "hint": "" if isinstance(exc, MosaicError) else f"unexpected error raised at {where}",
        "type": type(exc).__name__,
    }


def write_failures(
    out_dir: str | Path, failed: list[dict[str, Any]], skipped: list[dict[str, Any]]
) -> Path:
    """Write ``failures.json`` (failed scenes sorted by id, plus scenes skipped on purpose)."""
    path = Path(out_dir) / FAILURES_NAME
    data = {
        "failed": sorted(failed, key=lambda r: r["scene"]),
        "skipped": sorted(skipped, key=lambda r: r["scene"]),
    }
    write_bytes_atomic(path, json.dumps(data, indent=1, sort_keys=True).encode())
    return path


def read_failures(out_dir: str | Path) -> dict[str, list[dict[str, Any]]]:
    """The run's failure report (empty lists when there is none)."""
    path = Path(out_dir) / FAILURES_NAME
    if not path.is_file():
        return {"failed": [], "skipped": []}
    return json.loads(path.read_text())
