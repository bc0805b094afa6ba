"""Per-scene failure records: what failed (scene, file, cause) without stopping the batch."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

from ..errors import MosaicError, SceneDataError, raised_at
from ..io.shard_writer import write_bytes_atomic
from ..scene_pool import WorkerTraceback

FAILURES_NAME = "failures.json"


# OS errors that say nothing about the input itself: the next attempt may succeed.
TRANSIENT_ERRNOS = frozenset(
    getattr(errno, name) for name in (
        "EACCES", "EPERM", "ENOSPC", "EDQUOT", "EIO", "EAGAIN", "EBUSY", "ETIMEDOUT", "ESTALE",
        "EROFS", "EMFILE", "ENFILE", "ENOMEM", "EINTR", "ENOLCK", "ECONNRESET", "EHOSTDOWN",
        "ENETDOWN", "ENETUNREACH",
    ) if hasattr(errno, name)
)


def may_pass(exc: BaseException) -> bool:
    """True for a cause that may pass on its own (permission, disk space, I/O, memory):
    a rerun retries the scene. Bad input (a ``SceneDataError``, a parse error) is not."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, MemoryError):
            return True
        if isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS:
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return False


def failure_record(scene_id: str, exc: BaseException) -> dict[str, Any]:
    """Plain-data record of why a scene failed.

    ``SceneDataError`` carries its own scene, file, cause and hint; any other exception is
    recorded with its type, message and the innermost source location, so a bug in the
    pipeline is distinguishable from bad input. ``retry`` is True when the cause may pass
    (``may_pass``): the next run of the same command retries the scene.
    """
    if isinstance(exc, SceneDataError):
        rec = exc.as_record()
        rec["scene"] = scene_id
        rec["retry"] = may_pass(exc)
        return rec
    # raised in a scene worker: where it was raised there
    remote = exc.__cause__ if isinstance(exc.__cause__, WorkerTraceback) else None
    where = remote.where if remote is not None and remote.where else raised_at(exc)
    transient = may_pass(exc)
    if isinstance(exc, OSError) and exc.strerror:
        cause = exc.strerror  # the file goes in its own field
    else:
        cause = str(exc) or type(exc).__name__
    if transient:
        hint = "this may pass (permission, disk space, I/O): fix it and rerun the same command"
    elif isinstance(exc, MosaicError):
        hint = ""
    else:
        hint = f"unexpected error raised at {where}"
    return {
        "scene": scene_id,
        "file": getattr(exc, "filename", None) or getattr(exc, "path", None),
        "cause": cause,
        "hint": hint,
        "type": type(exc).__name__,
        "retry": transient,
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
