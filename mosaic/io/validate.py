"""Check a dataset directory: index, checksums, schema, counts and joins.

``validate_dataset(root)`` never raises on a bad dataset; it returns a report whose problems
name the shard (or file) at fault, so the CLI can print them and exit non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..errors import ShardError
from ..structures import QA_TYPES
from .reader import read_index
from .schema import SCHEMA, SCHEMA_VERSION
from .shard_writer import sha256_file

ROOT_ATTRS = ("schema_version", "mosaic_version", "config", "config_hash", "compression")


@dataclass
class ValidationReport:
    """Outcome of ``validate_dataset``.

    Attributes:
        root: the dataset directory.
        problems: one line per problem, each starting with the shard or file name.
        warnings: non-fatal findings (stray temporary files, ...).
        shards_checked: shard names that were opened.
        counts: total rows per table over all shards.
    """

    root: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    shards_checked: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def bad_shards(self) -> list[str]:
        """Names of shards with at least one problem."""
        names = {p.split(":", 1)[0] for p in self.problems}
        return sorted(n for n in names if n.endswith(".h5"))


def _check_shard(
    path: Path, entry: dict, check_images: bool, root: Path
) -> tuple[list[str], dict[str, int], list[str]]:
    """Problems of one shard (prefixed with its name), its row counts, and its QA ids."""
    name = path.name
    problems: list[str] = []
    counts: dict[str, int] = {}
    ids: list[str] = []
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError as exc:
        return [f"{name}: cannot be opened as HDF5 ({exc})"], counts, ids
    try:
        for attr in ROOT_ATTRS:
            if attr not in f.attrs:
                problems.append(f"{name}: root attribute {attr!r} missing")
        version = f.attrs.get("schema_version")
        if version is not None and str(version) != SCHEMA_VERSION:
            problems.append(f"{name}: schema version {version} != {SCHEMA_VERSION}")
        for table, cols in SCHEMA.items():
            if table not in f:
                problems.append(f"{name}: table {table}/ missing")
                continue
            group = f[table]
            n = int(group.attrs.get("n_rows", -1))
            counts[table] = n
            want = int(entry.get("counts", {}).get(table, n))
            if n != want:
                problems.append(f"{name}: {table}/ has {n} rows, index.json says {want}")
            for col in cols:
                if col.name not in group:
                    if not col.optional:
                        problems.append(f"{name}: column {table}/{col.name} missing")
                    continue
                ds = group[col.name]
                if col.kind in ("array", "str"):
                    if ds.shape[:1] != (n,) or tuple(ds.shape[1:]) != col.shape:
                        problems.append(
                            f"{name}: {table}/{col.name} shape {ds.shape}, want ({n}, *{col.shape})"
                        )
                    continue
                off_name = f"{col.name}_offsets"
                if off_name not in group:
                    problems.append(f"{name}: column {table}/{off_name} missing")
                    continue
                off = group[off_name][()]
                if off.shape != (n + 1,) or (n >= 0 and off.size and off[0] != 0):
                    problems.append(f"{name}: {table}/{off_name} has shape {off.shape}")
                elif np.any(np.diff(off) < 0) or int(off[-1]) != ds.shape[0]:
                    problems.append(f"{name}: {table}/{off_name} inconsistent with its values")
            if table == "qa" and "id" in group:
                ids = list(group["id"].asstr()[()])
                types = set(group["question_type"].asstr()[()])
                unknown = types - set(QA_TYPES)
                if unknown:
                    problems.append(f"{name}: unknown question types {sorted(unknown)}")
        if not problems:
            problems += _check_joins(f, name)
            if check_images and "image" not in f["views"]:
                off = f["views/image_path_offsets"][()]
                blob = f["views/image_path"][()].tobytes()
                for i in range(len(off) - 1):
                    rel = blob[off[i] : off[i + 1]].decode()
                    if not (root / rel).is_file():
                        problems.append(f"{name}: image {rel} of view row {i} is missing")
                        break
    except (OSError, KeyError, ValueError) as exc:
        problems.append(f"{name}: unreadable ({type(exc).__name__}: {exc})")
    finally:
        f.close()
    return problems, counts, ids


def _check_joins(f: h5py.File, name: str) -> list[str]:
    problems = []
    n = {t: int(f[t].attrs["n_rows"]) for t in SCHEMA}

    def in_range(values: np.ndarray, limit: int, what: str) -> None:
        if values.size and (values.min() < 0 or values.max() >= limit):
            problems.append(f"{name}: {what} points outside its table")

    for table in ("views", "objects", "qa"):
        in_range(f[f"{table}/scene_row"][()], n["scenes"], f"{table}/scene_row")
    in_range(f["visibility/view_row"][()], n["views"], "visibility/view_row")
    in_range(f["qa/view_rows"][()], n["views"], "qa/view_rows")
    start, count = f["views/vis_start"][()], f["views/vis_count"][()]
    if start.size and (start.min() < 0 or (start + count).max() > n["visibility"]):
        problems.append(f"{name}: views/vis_start+vis_count outside visibility/")
    if not np.array_equal(f["qa/frame_ids_offsets"][()], f["qa/view_rows_offsets"][()]):
        problems.append(f"{name}: qa/frame_ids and qa/view_rows disagree in length")
    return problems


def validate_dataset(root: str | Path, check_images: bool = True) -> ValidationReport:
    """Validate every shard listed in ``index.json`` (checksum first, then structure)."""
    root = Path(root)
    report = ValidationReport(root)
    try:
        index = read_index(root)
    except ShardError as exc:
        report.problems.append(f"index.json: {exc}")
        return report
    for name in index.get("missing_shards", []):
        report.problems.append(
            f"{name}: not produced (its chunk crashed); rerun generate with the same --out"
        )
    listed = set()
    seen_ids: dict[str, str] = {}
    hashes = set()
    totals = dict.fromkeys(SCHEMA, 0)
    for entry in index.get("shards", []):
        name = entry["name"]
        listed.add(name)
        path = root / name
        if not path.is_file():
            report.problems.append(f"{name}: listed in index.json but missing")
            continue
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            report.problems.append(
                f"{name}: sha256 {digest[:12]}... does not match index.json "
                f"({str(entry.get('sha256'))[:12]}...); the shard is corrupt: delete it and its "
                "marker in _chunks/ and rerun generate"
            )
            report.shards_checked.append(name)
            continue
        problems, counts, ids = _check_shard(path, entry, check_images, root)
        report.problems += problems
        report.shards_checked.append(name)
        for t, v in counts.items():
            totals[t] += max(v, 0)
        for qid in ids:
            if qid in seen_ids:
                report.problems.append(f"{name}: QA id {qid} also in {seen_ids[qid]}")
                break
            seen_ids[qid] = name
        try:
            with h5py.File(path, "r", locking=False) as f:
                hashes.add(str(f.attrs.get("config_hash")))
        except OSError:
            pass
    if len(hashes) > 1:
        report.problems.append(
            f"index.json: shards were made with different configs {sorted(hashes)}"
        )
    report.counts = totals
    for path in sorted(root.glob("*.h5")):
        if path.name not in listed:
            report.warnings.append(f"{path.name}: shard not listed in index.json")
    for path in sorted(root.glob("*.tmp")):
        report.warnings.append(f"{path.name}: leftover temporary file from an interrupted run")
    return report
