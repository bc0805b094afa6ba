"""Dataset generation driver: resolve scenes, plan chunks, run them, write failures and index.

Deterministic partition: per output split, the sorted scene ids are cut into consecutive
chunks of ``chunk_size``; chunk i of n becomes shard ``<split>-<i>-of-<n>.h5``. QA content of
a scene depends only on (config, seed, scene), so the dataset's items are the same for any
worker count, chunk size or number of resumptions. ``plan.json`` pins the plan of an output
directory: a rerun with another config or scene list is refused instead of mixing datasets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import MosaicConfig, SourceConfig
from .config_checks import validate_config
from .errors import ConfigError, DatasetRootError, UnknownNameError
from .executors.signals import stop_on_signals
from .io.shard_names import PLAN_NAME
from .io.shard_writer import write_bytes_atomic
from .sources.fingerprint import input_fingerprint
from .stages.chunk import ChunkTask, run_chunk, write_index
from .stages.failures import failure_record, write_failures
from .stages.output_lock import LOCK_NAME, OutputLock, remove_stale_temporaries
from .stages.resume import check_same_root, forget_chunks, plan_resume
from .structures import FAMILY_OF, QA_TYPES

# Official source split -> output split name (docs/data_format.md, "Splits").
OUTPUT_SPLIT = {"train": "train", "val": "bench", None: "train"}
TEST_SKIP_REASON = "test split: no annotations (ScanNet withholds them), so no ground truth"


@dataclass(frozen=True)
class ScenePlan:
    """Scenes to process per output split, and scenes skipped on purpose with the reason."""

    splits: dict[str, list[str]]
    skipped: list[dict[str, Any]] = field(default_factory=list)
    folders: dict[str, str] = field(default_factory=dict)  # scene -> its input folder

    @property
    def n_scenes(self) -> int:
        return sum(len(v) for v in self.splits.values())


def resolve_scenes(
    source: SourceConfig, split: str | None, scene_ids: list[str] | None = None
) -> ScenePlan:
    """Which scenes of ``source.root`` (read by ``source.name``) to generate.

    ``split`` is ``train``, ``bench`` (= ScanNet val), ``val``, ``test``, a path to a text
    file with one scene id per line, or None (all scenes of the root). ``scene_ids`` narrows
    the selection; with an official split, ids of another split are refused
    (``DatasetRootError``) and ids found nowhere are kept so their failure names the missing
    folder. Scenes of the test split are skipped with a recorded reason; a selection with
    nothing else raises ``DatasetRootError`` (no empty dataset reported as a success).
    """
    from .sources import list_scenes

    root, name = source.root, source.name

    def listing(official_split: str | None) -> tuple[list[Any], list[str]]:
        return list_scenes(root, source=name, split=official_split, config=source)

    wanted: list[str] | None = None
    official: str | None = None
    if split is not None and Path(split).is_file():
        wanted = [ln.strip() for ln in Path(split).read_text().splitlines() if ln.strip()]
        wanted = [w for w in wanted if not w.startswith("#")]
    elif split is not None:
        official = {"bench": "val"}.get(split, split)
    entries, _warnings = listing(official)
    split_of = {e.scene_id: e.split for e in entries}
    folder_of = {e.scene_id: str(e.folder) for e in entries}
    if wanted is not None or scene_ids:
        # without an official split, ``entries`` is already the full listing, in which a scene
        # list may name scenes of any split
        if wanted is None:
            wanted = sorted(split_of)
        if scene_ids:
            wanted = [s for s in wanted if s in set(scene_ids)]
            unknown = sorted(set(scene_ids) - set(split_of))
            if official is not None and unknown:
                # a scene of another split must not land in this split's shards
                all_entries, _ = listing(None)
                other = {e.scene_id: e.split for e in all_entries if e.scene_id in unknown}
                if other:
                    named = ", ".join(f"{s} ({sp or 'no split'})" for s, sp in sorted(
                        other.items()))
                    raise DatasetRootError(
                        f"--scenes names scenes outside split {split}: {named}; drop --split "
                        "(each scene then goes to its own split) or pick scenes of that split"
                    )
            # unknown ids are still attempted so their failure names the missing folder
            wanted += [s for s in unknown if s not in wanted]
        selected = sorted(set(wanted))
    else:
        selected = sorted(split_of)
    if not selected:
        raise DatasetRootError(
            f"no scenes selected under {root} (source {name}, split {split or 'all'}); "
            "check --root and --split (`mosaic scenes --root ...` lists what is there)"
        )
    splits: dict[str, list[str]] = {}
    skipped = []
    for sid in selected:
        sp = split_of.get(sid)
        if sp == "test":
            skipped.append({"scene": sid, "reason": TEST_SKIP_REASON})
            continue
        out = OUTPUT_SPLIT.get(sp, "train")
        splits.setdefault(out, []).append(sid)
    if not splits:
        raise DatasetRootError(
            f"nothing to generate under {root}: every selected scene is in the test split, "
            f"which has no annotations ({', '.join(s['scene'] for s in skipped[:5])}"
            f"{' ...' if len(skipped) > 5 else ''}); use --split train or bench"
        )
    folders = {sid: folder_of[sid] for ids in splits.values() for sid in ids if sid in folder_of}
    return ScenePlan(splits, skipped, folders)


def plan_chunks(
    plan: ScenePlan,
    config: MosaicConfig,
    out_dir: str | Path,
    chunk_size: int,
    embed_images: bool = False,
    fingerprints: dict[str, str] | None = None,
) -> list[ChunkTask]:
    """Consecutive chunks of ``chunk_size`` sorted scenes per split (``fingerprints``: scene ->
    input fingerprint, recorded in each chunk's marker)."""
    if chunk_size < 1:
        raise ConfigError(f"chunk size must be >= 1, got {chunk_size}")
    tasks = []
    for split in sorted(plan.splits):
        ids = sorted(plan.splits[split])
        chunks = [ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size)]
        for i, chunk in enumerate(chunks):
            tasks.append(
                ChunkTask(
                    split=split,
                    index=i,
                    n_chunks=len(chunks),
                    scene_ids=tuple(chunk),
                    config=config,
                    out_dir=str(out_dir),
                    embed_images=embed_images,
                    fingerprints=tuple((fingerprints or {}).get(s, "") for s in chunk),
                )
            )
    return tasks


# plan.json fields a resumed run may change: the fingerprints are checked per chunk instead
# (mosaic.stages.resume), and a plan written before the root was recorded has none.
_PLAN_UNPINNED = ("inputs", "root")


def _check_plan(out_dir: Path, plan_doc: dict[str, Any]) -> None:
    path = out_dir / PLAN_NAME
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            old = None
        if isinstance(old, dict):
            check_same_root(out_dir, old, plan_doc["root"])
            old = {k: v for k, v in old.items() if k not in _PLAN_UNPINNED}
        pinned = {k: v for k, v in plan_doc.items() if k not in _PLAN_UNPINNED}
        if old is not None and old != pinned:
            diff = sorted(k for k in pinned if old.get(k) != pinned[k])
            raise ConfigError(
                f"{out_dir} holds a run with a different plan ({', '.join(diff)} differ); "
                "use a new --out directory, or delete this one to start over"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, json.dumps(plan_doc, indent=1, sort_keys=True).encode())


@dataclass
class RunSummary:
    """Outcome of a generation run (the CLI prints it; ``summary.json`` stores it)."""

    out_dir: str
    scenes_total: int
    scenes_done: int
    scenes_failed: int
    scenes_skipped: int
    chunks_total: int
    chunks_resumed: int
    chunk_errors: list[str]
    frames_usable: int
    frames_skipped: dict[str, int]
    frames_sampled: int
    frames_rejected: dict[str, int]
    views_labelled: int
    views_stored: int
    qa_total: int
    qa_per_type: dict[str, int]
    stage_seconds: dict[str, float]
    wall_seconds: float
    views_labelled_this_run: int
    failures: list[dict[str, Any]]
    # sampled frames kept without a pose check (no depth image...): reason -> count
    frames_unchecked: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # retried scenes, a dead run's lock taken

    @property
    def views_per_second(self) -> float:
        return self.views_labelled_this_run / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.scenes_failed == 0 and not self.chunk_errors

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["views_per_second"] = self.views_per_second
        return d


Event = dict[str, Any]


def generate_dataset(
    plan: ScenePlan,
    config: MosaicConfig,
    out_dir: str | Path,
    executor: Any,
    chunk_size: int = 4,
    embed_images: bool = False,
    on_event: Callable[[Event], None] | None = None,
) -> RunSummary:
    """Run (or resume) every chunk, then write ``failures.json``, ``summary.json`` and,
    last, ``index.json``.

    ``on_event`` gets ``{"event": "note", "text": ...}`` for what the user should know before
    the work starts (scenes retried, a killed run's lock taken over), then
    ``{"event": "start", "total": n_scenes, "done": n_already_done}`` once, then
    ``{"event": "scene", "scene": id, "ok": bool, "views": n}`` per processed scene.

    The output folder is locked for the whole run (``mosaic.stages.output_lock``: a second
    run is refused with the holder's pid and host), and SIGTERM / SIGHUP stop the run like
    Ctrl-C (``mosaic.executors.signals``: workers killed, lock released). Raises
    ``ConfigError`` when resuming against another root or changed inputs of written scenes.
    """
    validate_config(config)  # also for a config built in code, not through load_config
    # a misspelt question type or backend would otherwise fail every scene (after its ray
    # casting, for a type) and pin the bad config in plan.json
    for qtype in config.qa.types:
        if qtype not in FAMILY_OF:
            raise UnknownNameError("question type (qa.types)", qtype, QA_TYPES)
    from .visibility.base import BACKENDS  # the name only: nodes may have what the driver lacks

    if config.visibility.backend not in BACKENDS:
        raise UnknownNameError("ray-casting backend (visibility.backend)",
                               config.visibility.backend, list(BACKENDS))
    with OutputLock(out_dir) as lock, stop_on_signals():
        notes = []
        if lock.taken_over:
            notes.append(f"took over {Path(out_dir) / LOCK_NAME} from a run that ended without "
                         f"releasing it (pid {lock.taken_over.get('pid')} on host "
                         f"{lock.taken_over.get('host')})")
        remove_stale_temporaries(out_dir)
        return _generate_locked(plan, config, out_dir, executor, chunk_size, embed_images,
                                on_event, notes)


def _generate_locked(
    plan: ScenePlan,
    config: MosaicConfig,
    out_dir: str | Path,
    executor: Any,
    chunk_size: int,
    embed_images: bool,
    on_event: Callable[[Event], None] | None,
    notes: list[str],
) -> RunSummary:
    """``generate_dataset`` with the output folder locked: plan, run, then record."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    fingerprints = {sid: input_fingerprint(plan.folders.get(sid))
                    for ids in plan.splits.values() for sid in ids}
    tasks = plan_chunks(plan, config, out, chunk_size, embed_images, fingerprints)
    _check_plan(
        out,
        {
            "source": config.source.name,
            "root": str(Path(config.source.root).resolve()),
            "config_hash": config.hash(),
            "chunk_size": chunk_size,
            "embed_images": embed_images,
            "splits": {k: sorted(v) for k, v in sorted(plan.splits.items())},
            "inputs": dict(sorted(fingerprints.items())),
        },
    )
    emit = on_event or (lambda _e: None)
    resume = plan_resume(out, tasks, fingerprints)
    forget_chunks(tasks, resume.redo)
    notes += resume.notes
    for text in notes:
        emit({"event": "note", "text": text})
    todo = executor.pending(tasks)
    # CPUs a task has beyond one scene at a time go to that scene's labelling and questions
    scene_workers = executor.scene_workers(len(todo))
    tasks = [dataclasses.replace(t, scene_workers=scene_workers) for t in tasks]
    emit({
        "event": "start",
        "total": plan.n_scenes,
        "done": plan.n_scenes - sum(len(t.scene_ids) for t in todo),
    })
    outcome = _run_tasks(executor, tasks, on_event)
    summary = _record_run(plan, tasks, outcome, out, time.perf_counter() - t0, notes,
                          resumed=len(tasks) - len(todo))
    write_index(
        out,
        [m["shard"] for m in outcome.markers.values() if m is not None],
        {
            "source": config.source.name,
            "config_hash": config.hash(),
            "config": json.loads(config.to_json()),
            "seed": config.seed,
            "chunk_size": chunk_size,
            "images_embedded": embed_images,
            "missing_shards": sorted(n for n, m in outcome.markers.items() if m is None),
        },
    )
    return summary


@dataclass
class _Outcome:
    """What a run's chunks left: errors of chunks that crashed, their scenes as failures,
    shards (re)written this run, and every chunk's marker (None: not done)."""

    chunk_errors: list[str]
    crashed: list[dict[str, Any]]
    this_run: set[str]
    markers: dict[str, dict[str, Any] | None]


def _run_tasks(executor: Any, tasks: list[ChunkTask],
               on_event: Callable[[Event], None] | None) -> _Outcome:
    outcome = _Outcome([], [], set(), {})
    with contextlib.closing(executor.run(run_chunk, tasks, on_event)) as results:
        # closing: an interrupt between two results still stops the executor's workers
        for task, result in results:
            outcome.this_run.add(task.shard_name)
            if isinstance(result, BaseException):
                outcome.chunk_errors.append(
                    f"{task.shard_name}: {type(result).__name__}: {result}")
                outcome.crashed += [failure_record(s, result) for s in task.scene_ids]
    # only chunks whose shard is present with the recorded size count: a stale marker of a
    # chunk that was redone and crashed this time must not put a missing shard in the index
    outcome.markers = {t.shard_name: t.done_marker() for t in tasks}
    return outcome


def _record_run(plan: ScenePlan, tasks: list[ChunkTask], outcome: _Outcome, out: Path,
                wall: float, notes: list[str], resumed: int) -> RunSummary:
    """Write ``failures.json`` and ``summary.json`` from the chunk markers."""
    failures: list[dict[str, Any]] = list(outcome.crashed)
    stats: list[dict[str, Any]] = []
    views_this_run = 0
    for name, m in outcome.markers.items():
        if m is None:
            continue
        failures += m["failed"]
        stats += m["stats"]
        if name in outcome.this_run:
            views_this_run += sum(s["n_views"] for s in m["stats"])
    write_failures(out, failures, plan.skipped)

    def total(key: str) -> Counter:
        c: Counter = Counter()
        for s in stats:
            c.update(s.get(key, {}))  # markers written before a key existed lack it
        return c

    summary = RunSummary(
        out_dir=str(out),
        scenes_total=plan.n_scenes,
        scenes_done=len(stats),
        scenes_failed=len(failures),
        scenes_skipped=len(plan.skipped),
        chunks_total=len(tasks),
        chunks_resumed=resumed,
        chunk_errors=outcome.chunk_errors,
        frames_usable=sum(s["n_frames"] for s in stats),
        frames_skipped=dict(total("skipped")),
        frames_sampled=sum(s["n_sampled"] for s in stats),
        frames_rejected=dict(total("rejected")),
        views_labelled=sum(s["n_views"] for s in stats),
        views_stored=sum(s["n_views_stored"] for s in stats),
        qa_total=sum(sum(s["qa_per_type"].values()) for s in stats),
        qa_per_type=dict(sorted(total("qa_per_type").items())),
        stage_seconds={k: round(v, 3) for k, v in total("timings").items()},
        wall_seconds=wall,
        views_labelled_this_run=views_this_run,
        failures=failures,
        frames_unchecked=dict(total("unchecked")),
        notes=notes,
    )
    write_bytes_atomic(
        out / "summary.json", json.dumps(summary.to_dict(), indent=1, sort_keys=True).encode()
    )
    return summary
