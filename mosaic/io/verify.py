"""Check what a reader is about to read: the index's shape, completeness, checksums and counts.

Every reader (``open_dataset``, hence ``export``, ``evaluate``, ``stats``, ``inspect qa`` and
the torch dataset) goes through ``verify_shards`` before it reads a row, so a dataset that is
incomplete, tampered with or half-overwritten is refused with one message naming the shard
and what to run, instead of being read as if it were whole. ``allow_incomplete`` reads the
shards that pass and reports the others.

A shard passes when it is listed in ``index.json`` with a well-formed entry, exists with the
recorded size and sha256, and its tables hold the row counts the index records. The sha256 of
a shard is computed once and remembered in ``<root>/.mosaic-verified.json`` keyed by the file's
size, modification time and inode, so reopening a large dataset does not re-read every byte;
``mosaic validate`` always recomputes it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py

from ..errors import ShardError
from ..sources.fingerprint import file_sha256
from .schema import SCHEMA, SCHEMA_VERSION
from .shard_names import PLAN_NAME, SHARD_RE, chunk_siblings, planned_chunks, split_of
from .shard_writer import write_bytes_atomic

VERIFIED_CACHE = ".mosaic-verified.json"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
RESUME_HINT = "rerun the same `mosaic generate` command (same --out) to finish it"
PARTIAL_HINT = "or pass --allow-incomplete (allow_incomplete=True) to read only the valid shards"


def index_problems(index: Any) -> list[str]:
    """Why ``index`` (parsed ``index.json``) is malformed; empty when its shape is right.

    Checked: a mapping with a ``shards`` list whose entries carry a file name, a split, a
    row count per table, a 64-hex sha256 and a size; no name twice; ``missing_shards`` a list
    of names; ``totals`` (when present) equal to the sum of the entries' counts.
    """
    if not isinstance(index, dict):
        return [f"the top level is a {type(index).__name__}, not an object"]
    problems: list[str] = []
    version = index.get("schema_version")
    if version is not None and str(version) != SCHEMA_VERSION:
        problems.append(f"schema_version {version!r}; this mosaic reads {SCHEMA_VERSION}")
    shards = index.get("shards")
    if not isinstance(shards, list):
        return problems + ["'shards' is missing or not a list"]
    seen: set[str] = set()
    totals = dict.fromkeys(SCHEMA, 0)
    for k, e in enumerate(shards):
        where = f"shards[{k}]"
        if not isinstance(e, dict):
            problems.append(f"{where} is not an object")
            continue
        name = e.get("name")
        if not isinstance(name, str) or not name.endswith(".h5") or "/" in name or "\\" in name:
            problems.append(f"{where} has no valid shard file name ({name!r})")
            continue
        where = name
        if name in seen:
            problems.append(f"{name} is listed twice")
        seen.add(name)
        if not isinstance(e.get("split"), str):
            problems.append(f"{where}: 'split' is missing or not a string")
        counts = e.get("counts")
        if not isinstance(counts, dict) or any(
            not isinstance(counts.get(t), int) or isinstance(counts.get(t), bool)
            or counts.get(t) < 0 for t in SCHEMA
        ):
            problems.append(f"{where}: 'counts' needs a non-negative integer per table "
                            f"({', '.join(SCHEMA)})")
        else:
            for t in SCHEMA:
                totals[t] += counts[t]
        if not isinstance(e.get("sha256"), str) or not _HEX64.match(e["sha256"]):
            problems.append(f"{where}: 'sha256' is missing or not 64 hex digits")
        size = e.get("size_bytes")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            problems.append(f"{where}: 'size_bytes' is missing or not a non-negative integer")
    missing = index.get("missing_shards", [])
    if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
        problems.append("'missing_shards' is not a list of shard names")
    recorded = index.get("totals")
    if not problems and isinstance(recorded, dict):
        wrong = sorted(t for t in SCHEMA if recorded.get(t) != totals[t])
        if wrong:
            problems.append(
                "'totals' disagree with the shards' counts for "
                + ", ".join(f"{t} ({recorded.get(t)} != {totals[t]})" for t in wrong)
            )
    return problems


def planned_shards(root: Path, index: dict[str, Any]) -> set[str] | None:
    """Shard names the run was planned to produce: from ``plan.json`` when readable, else from
    the ``-of-N`` suffixes of the names the index mentions; None when neither tells."""
    try:
        return set(planned_chunks(json.loads((root / PLAN_NAME).read_text())))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    mentioned = [e["name"] for e in index["shards"]] + list(index.get("missing_shards", []))
    return {n for n in chunk_siblings(mentioned) if SHARD_RE.match(n)} or None


class ChecksumCache:
    """sha256 of shards keyed by (size, mtime_ns, inode), kept in ``<root>/.mosaic-verified.json``.

    A file whose size, modification time or inode changed is hashed again. Writing the cache
    is best effort: a read-only dataset is verified on every open instead.
    """

    def __init__(self, root: Path):
        self.path = root / VERIFIED_CACHE
        try:
            data = json.loads(self.path.read_text())
            self.entries: dict[str, Any] = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            self.entries = {}
        self.dirty = False

    @staticmethod
    def _key(st: os.stat_result) -> list[int]:
        return [int(st.st_size), int(st.st_mtime_ns), int(st.st_ino)]

    def sha256(self, path: Path) -> str:
        st = path.stat()
        hit = self.entries.get(path.name)
        if isinstance(hit, dict) and hit.get("stat") == self._key(st):
            return str(hit.get("sha256"))
        digest = file_sha256(path)
        self.entries[path.name] = {"stat": self._key(st), "sha256": digest}
        self.dirty = True
        return digest

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            write_bytes_atomic(self.path, json.dumps(self.entries, sort_keys=True).encode())
        except OSError:
            pass  # read-only dataset: verify again next time


def shard_problem(root: Path, entry: dict[str, Any], cache: ChecksumCache | None) -> str | None:
    """Why one listed shard cannot be trusted (file, size, sha256, row counts), or None."""
    name = entry["name"]
    path = root / name
    try:
        st = path.stat()
    except FileNotFoundError:
        return "listed in index.json but the file does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if st.st_size != entry["size_bytes"]:
        return (f"has {st.st_size} bytes, index.json records {entry['size_bytes']} "
                "(changed or replaced after the run)")
    try:
        digest = cache.sha256(path) if cache is not None else file_sha256(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if digest != entry["sha256"]:
        return (f"sha256 {digest[:12]}... differs from index.json's {entry['sha256'][:12]}... "
                "(the file was changed after it was written)")
    try:
        with h5py.File(path, "r", locking=False) as f:
            counts = {t: int(f[t].attrs["n_rows"]) for t in SCHEMA}
    except (OSError, KeyError, ValueError, TypeError) as exc:
        return f"cannot be opened as a mosaic shard ({type(exc).__name__}: {exc})"
    wrong = [t for t in SCHEMA if counts[t] != entry["counts"][t]]
    if wrong:
        return "row counts differ from index.json: " + ", ".join(
            f"{t} {counts[t]} != {entry['counts'][t]}" for t in wrong)
    return None


@dataclass
class VerifiedShards:
    """Outcome of ``verify_shards``.

    Attributes:
        entries: index entries of the shards to read, in index (name) order.
        left_out: (shard name, why) of shards of the selection that are not read.
        n_planned: shards of the selection the run planned (read or not).
    """

    entries: list[dict[str, Any]]
    left_out: list[tuple[str, str]] = field(default_factory=list)
    n_planned: int = 0


def malformed_index_error(root: Path, problems: list[str]) -> ShardError:
    shown = "; ".join(problems[:3]) + (f"; ... ({len(problems)} problems)"
                                       if len(problems) > 3 else "")
    return ShardError(
        f"{root / 'index.json'} is malformed: {shown}. Rerun the same `mosaic generate` "
        "command (same --out) to rewrite it; `mosaic validate` lists every problem"
    )


def verify_shards(
    root: str | Path,
    index: Any,
    split: str | None = None,
    allow_incomplete: bool = False,
    use_cache: bool = True,
) -> VerifiedShards:
    """The shards of ``index`` (optionally one ``split``) that may be read.

    Raises ``ShardError`` when the index is malformed, or, unless ``allow_incomplete``, when
    a shard of the selection is missing from the run (``missing_shards``, a planned name the
    index does not list, a ``.h5`` on disk the index does not list) or fails its size,
    sha256 or row-count check. With ``allow_incomplete`` those shards are left out and
    reported in ``left_out``; a selection with no readable shard still raises.
    """
    root = Path(root)
    problems = index_problems(index)
    if problems:
        raise malformed_index_error(root, problems)

    def selected(name: str, entry_split: str | None = None) -> bool:
        sp = entry_split if entry_split is not None else split_of(name)
        return split is None or sp == split

    entries = [e for e in index["shards"] if selected(e["name"], e["split"])]
    listed = {e["name"] for e in index["shards"]}
    left: dict[str, str] = {}
    for name in index.get("missing_shards", []):
        if selected(name):
            left[name] = "not produced: its chunk failed (see failures.json)"
    planned = planned_shards(root, index) or set()
    for name in sorted(planned - listed - set(left)):
        if selected(name):
            left[name] = "planned but not listed in index.json (the run is unfinished or the " \
                         "index was edited)"
    for path in sorted(root.glob("*.h5")):
        if (SHARD_RE.match(path.name) and path.name not in listed and path.name not in left
                and selected(path.name)):
            left[path.name] = "on disk but not listed in index.json (the index was edited or " \
                              "belongs to another run)"
    cache = ChecksumCache(root) if use_cache else None
    good = []
    for e in entries:
        why = shard_problem(root, e, cache)
        if why is None:
            good.append(e)
        else:
            left[e["name"]] = why
    if cache is not None:
        cache.save()
    n_planned = len({e["name"] for e in entries} | set(left))
    out = VerifiedShards(good, sorted(left.items()), n_planned)
    if left and not allow_incomplete:
        raise incomplete_error(root, out)
    if allow_incomplete and not good and left:
        raise ShardError(
            f"{root}: no shard can be read ({out.left_out[0][0]}: {out.left_out[0][1]}"
            f"{'; ...' if len(left) > 1 else ''}); {RESUME_HINT}"
        )
    return out


def incomplete_error(root: Path, v: VerifiedShards) -> ShardError:
    """One message naming the first shards at fault and what to run."""
    shown = "; ".join(f"{name}: {why}" for name, why in v.left_out[:3])
    more = f"; and {len(v.left_out) - 3} more" if len(v.left_out) > 3 else ""
    changed = any("sha256" in why or "bytes" in why or "row counts" in why
                  for _, why in v.left_out)
    fix = RESUME_HINT
    if changed:
        fix = ("to rebuild a changed shard delete it and its marker _chunks/<shard>.json, then "
               + RESUME_HINT)
    return ShardError(
        f"dataset {root} is incomplete or altered ({len(v.left_out)} of {v.n_planned} "
        f"shards unusable): {shown}{more}. {fix[0].upper() + fix[1:]}, {PARTIAL_HINT}"
    )
