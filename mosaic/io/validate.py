"""Check a dataset directory: index, checksums, schema, counts and joins.

``validate_dataset(root)`` never raises on a bad dataset; it returns a report whose problems
name the shard (or file) at fault, so the CLI can print them and exit non-zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..errors import ShardError
from ..sources.image_check import decode_problem
from ..structures import QA_TYPES
from .progress import counted
from .reader import read_index
from .schema import SCHEMA, SCHEMA_VERSION
from .shard_names import SHARD_RE
from .verify import index_problems, planned_shards, shard_problem

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
) -> tuple[list[str], dict[str, int], list[str], str | None]:
    """Problems of one shard (prefixed with its name), its row counts, its QA ids and the
    hash of the config that made it."""
    name = path.name
    problems: list[str] = []
    counts: dict[str, int] = {}
    ids: list[str] = []
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError as exc:
        return [f"{name}: cannot be opened as HDF5 ({exc})"], counts, ids, None
    config_hash = None
    try:  # everything read from the file inside: an unreadable part is a problem, not a crash
        config_hash = f.attrs.get("config_hash")
        for attr in ROOT_ATTRS:
            if attr not in f.attrs:
                problems.append(f"{name}: root attribute {attr!r} missing")
        version = f.attrs.get("schema_version")
        if version is not None and str(version) != SCHEMA_VERSION:
            problems.append(f"{name}: schema version {version} != {SCHEMA_VERSION}")
        for table, spec in SCHEMA.items():
            if table not in f:
                problems.append(f"{name}: table {table}/ missing")
                continue
            group = f[table]
            n = int(group.attrs.get("n_rows", -1))
            counts[table] = n
            want = int(entry.get("counts", {}).get(table, n))
            if n != want:
                problems.append(f"{name}: {table}/ has {n} rows, index.json says {want}")
            for col in spec.columns:
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
            if check_images and not problems:
                problems += _check_images(f, name, root)
    except (OSError, KeyError, ValueError, UnicodeDecodeError, IndexError) as exc:
        problems.append(f"{name}: unreadable ({type(exc).__name__}: {exc})")
    finally:
        f.close()
    return problems, counts, ids, None if config_hash is None else str(config_hash)


def _check_images(f: h5py.File, name: str, root: Path) -> list[str]:
    """Every view's image (file or embedded) decodes to the view's width x height.

    Stops at the first bad image of a shard (one line per shard is enough to act on).
    """
    views = f["views"]
    off = views["image_path_offsets"][()]
    paths = views["image_path"][()].tobytes()
    widths, heights = views["width"][()], views["height"][()]
    embedded = "image" in views
    if embedded:
        img_off = views["image_offsets"][()]
        blob = views["image"]
    for i in range(len(off) - 1):
        rel = paths[off[i] : off[i + 1]].decode()
        if embedded:
            data = bytes(blob[img_off[i] : img_off[i + 1]])
            where = f"embedded image of view row {i} ({rel})"
        else:
            where = f"image {rel} of view row {i}"
            try:
                data = (root / rel).read_bytes()
            except FileNotFoundError:
                return [f"{name}: {where} is missing"]
            except OSError as exc:
                return [f"{name}: {where} cannot be read ({exc.strerror or exc})"]
        why = decode_problem(data, (int(widths[i]), int(heights[i])))
        if why is not None:
            return [f"{name}: {where} {why}"]
    return []


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


def validate_dataset(root: str | Path, check_images: bool = True,
                     progress: Callable[[int], None] | None = None) -> ValidationReport:
    """Validate every shard the run planned: index shape, completeness, checksum (always
    recomputed), then structure, joins and (with ``check_images``) that every image decodes
    at its view's size. ``progress`` is called with 1 after each shard listed in the index."""
    root = Path(root)
    report = ValidationReport(root)
    try:
        index = read_index(root)
    except ShardError as exc:
        report.problems.append(f"index.json: {exc}")
        return report
    bad = index_problems(index)
    if bad:
        report.problems += [f"index.json: malformed: {p}" for p in bad]
        report.problems.append(
            "index.json: rerun the same `mosaic generate` command (same --out) to rewrite it"
        )
        return report
    for name in index.get("missing_shards", []):
        report.problems.append(
            f"{name}: not produced (its chunk crashed); rerun generate with the same --out"
        )
    listed = {e["name"] for e in index["shards"]}
    for name in sorted((planned_shards(root, index) or set()) - listed
                       - set(index.get("missing_shards", []))):
        report.problems.append(
            f"{name}: planned (plan.json) but not listed in index.json; rerun generate with "
            "the same --out to rewrite the index"
        )
    seen_ids: dict[str, str] = {}
    hashes = set()
    totals = dict.fromkeys(SCHEMA, 0)
    for entry in counted(index["shards"], progress):
        name = entry["name"]
        path = root / name
        why = shard_problem(root, entry, cache=None)
        if why is not None and "sha256" in why:
            why += "; the shard is corrupt: delete it and its marker in _chunks/ and rerun generate"
        if why is not None:
            report.problems.append(f"{name}: {why}")
            if path.is_file():
                report.shards_checked.append(name)
            continue
        problems, counts, ids, config_hash = _check_shard(path, entry, check_images, root)
        report.problems += problems
        report.shards_checked.append(name)
        for t, v in counts.items():
            totals[t] += max(v, 0)
        for qid in ids:
            if qid in seen_ids:
                report.problems.append(f"{name}: QA id {qid} also in {seen_ids[qid]}")
                break
            seen_ids[qid] = name
        if config_hash is not None:
            hashes.add(config_hash)
    if len(hashes) > 1:
        report.problems.append(
            f"index.json: shards were made with different configs {sorted(hashes)}"
        )
    report.counts = totals
    for path in sorted(root.glob("*.h5")):
        if (SHARD_RE.match(path.name) and path.name not in listed
                and path.name not in index.get("missing_shards", [])):
            report.problems.append(
                f"{path.name}: shard on disk but not listed in index.json (the index was "
                "edited, or the shard belongs to another run); rerun generate with the same "
                "--out to rewrite the index, or remove the file"
            )
    for path in sorted(root.glob("*.tmp")):
        report.warnings.append(f"{path.name}: leftover temporary file from an interrupted run")
    return report
