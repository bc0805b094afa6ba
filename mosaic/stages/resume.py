"""Resuming a run: same root, unchanged inputs under written scenes, and which finished chunks
to redo.

A chunk's completion marker records the fingerprint (``mosaic.sources.fingerprint``) of each
of its scenes' inputs as they were when the chunk ran. On a rerun:

* another ``--root`` than the one in ``plan.json`` is refused (two sources in one dataset);
* a scene already written whose fingerprint changed is refused (two versions of its inputs);
* a finished chunk is redone when one of its failed scenes failed for a cause that may pass
  (permission, disk space, I/O: the record's ``retry``) or when the inputs of a failed scene
  changed since (the user fixed the file). A failure on bad input stays recorded until then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .chunk import ChunkTask


def check_same_root(out_dir: Path, old_plan: dict[str, Any], root: str) -> None:
    """Refuse a resumed run whose root differs from the one the output was planned from."""
    old_root = old_plan.get("root")
    if old_root is not None and old_root != root:
        raise ConfigError(
            f"{out_dir} was generated from --root {old_root}; this run names --root {root}. "
            "Resuming with another root would mix two sources in one dataset: use the same "
            "--root, or a new --out"
        )


@dataclass
class ResumePlan:
    """What a rerun does with chunks that are already finished.

    Attributes:
        redo: shard names of finished chunks to run again.
        notes: one line per scene retried, saying why (for the user).
    """

    redo: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_resume(out_dir: Path, tasks: list[ChunkTask], fingerprints: dict[str, str]) -> ResumePlan:
    """Check finished chunks against the current input fingerprints (see the module doc).

    Raises ``ConfigError`` naming the scenes whose inputs changed after they were written.
    """
    out = ResumePlan()
    changed: list[tuple[str, str]] = []
    for task in tasks:
        marker = task.done_marker()
        if marker is None:
            continue
        recorded = {k: v for k, v in (marker.get("inputs") or {}).items() if v}  # "" = unknown
        for sid in marker.get("done", []):
            if sid in recorded and sid in fingerprints and recorded[sid] != fingerprints[sid]:
                changed.append((sid, task.shard_name))
        why = []
        for rec in marker.get("failed", []):
            sid = rec.get("scene")
            if rec.get("retry"):
                why.append(f"retrying {sid}: it failed for a cause that may pass "
                           f"({rec.get('type')}: {rec.get('cause')})")
            elif sid in recorded and sid in fingerprints and recorded[sid] != fingerprints[sid]:
                why.append(f"retrying {sid}: its input files changed since it failed "
                           f"({rec.get('type')}: {rec.get('cause')})")
        if why:
            out.redo.append(task.shard_name)
            out.notes += why
    if changed:
        shown = ", ".join(f"{sid} (in {shard})" for sid, shard in changed[:5])
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        raise ConfigError(
            f"the input files of scenes already written to {out_dir} changed since: "
            f"{shown}{more}. Resuming would mix two versions of the inputs in one dataset: "
            "use a new --out, or delete those shards and their markers in _chunks/ to "
            "regenerate them"
        )
    return out


def forget_chunks(tasks: list[ChunkTask], names: list[str]) -> None:
    """Delete the completion markers of chunks to redo, so every executor runs them again
    (the shard stays until the redone chunk replaces it atomically)."""
    wanted = set(names)
    for task in tasks:
        if task.shard_name in wanted:
            task.marker_path.unlink(missing_ok=True)
