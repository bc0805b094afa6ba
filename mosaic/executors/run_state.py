"""Progress of a run: which chunks are done, running, failed or still pending, and why.

Three sources, all on disk under the dataset directory ``OUT``:

- completion markers ``_chunks/<shard>.json`` (written last by a chunk task): the chunk is
  done; scenes that failed inside it are listed with their causes;
- the job log ``_logs/jobs.jsonl`` that the cluster executors (slurm, ray) append to: one
  JSON record per submission (``event="submitted"``) and per outcome (``"finished"``,
  ``"failed"``), with the job id and the paths of its log files;
- submitit job folders (``_logs/submitit/``): a job's result pickle says whether it failed and
  how, even when the process that submitted it is gone.

The run's ``plan.json`` lists every chunk, so chunks never submitted show as ``pending``, and
``failures.json`` names chunks whose task crashed in the local pool. Rerunning
``mosaic generate`` with the same arguments runs exactly the pending and failed chunks.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..io.reader import INDEX_NAME
from ..io.shard_names import PLAN_NAME, chunk_siblings, planned_chunks
from ..process_ids import left_by_the_dead, pid_alive
from ..stages.chunk import MARKER_DIR, marker_holds, read_marker
from ..stages.failures import read_failures

LOG_DIR = "_logs"
JOB_LOG = "jobs.jsonl"
SUBMITIT_DIR = "submitit"
STATES = ("done", "running", "failed", "pending")
# SLURM states after which a job will not write a result any more.
_SLURM_ENDED = {
    "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
    "PREEMPTED", "TIMEOUT",
}


def job_log_path(out_dir: str | Path) -> Path:
    """``OUT/_logs/jobs.jsonl``."""
    return Path(out_dir) / LOG_DIR / JOB_LOG


def append_job_record(out_dir: str | Path, record: dict[str, Any]) -> None:
    """Append one record to the job log (the driver process is its only writer).

    ``record`` needs ``event`` and ``shard``; the time, host and driver pid are added.
    """
    path = job_log_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    full = {"time": time.time(), "host": socket.gethostname(), "driver_pid": os.getpid(), **record}
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(full, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_job_records(out_dir: str | Path) -> list[dict[str, Any]]:
    """All job-log records in order; a torn last line (driver killed mid-write) is ignored."""
    path = job_log_path(out_dir)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


@dataclass
class ChunkStatus:
    """One chunk (shard) of a run.

    Attributes:
        shard: shard file name, e.g. ``train-00003-of-00016.h5``.
        state: ``done`` | ``running`` | ``failed`` | ``pending``.
        executor: executor of the latest submission (None when never submitted by one).
        job_id: scheduler / Ray id of the latest submission.
        scenes: scenes in the chunk (from the marker; None when unknown).
        scenes_done: scenes written to the shard.
        failed_scenes: per-scene failure records (scene, file, cause, hint, type).
        cause: why the chunk itself failed or why it is not running.
        logs: log files of the latest job (stdout, stderr) that exist.
    """

    shard: str
    state: str
    executor: str | None = None
    job_id: str | None = None
    scenes: int | None = None
    scenes_done: int = 0
    failed_scenes: list[dict[str, Any]] = field(default_factory=list)
    cause: str | None = None
    logs: list[str] = field(default_factory=list)


@dataclass
class RunStatus:
    """All chunks of a dataset directory plus run-level facts.

    Attributes:
        out_dir: the dataset directory.
        chunks: one entry per known chunk, sorted by shard name.
        indexed: ``index.json`` exists (the run was merged).
        skipped_scenes: scenes left out on purpose (``failures.json``).
    """

    out_dir: str
    chunks: list[ChunkStatus]
    indexed: bool
    skipped_scenes: int = 0

    def counts(self) -> dict[str, int]:
        """state -> number of chunks (every state present, zero included)."""
        out = dict.fromkeys(STATES, 0)
        for c in self.chunks:
            out[c.state] += 1
        return out

    def failed_scene_count(self) -> int:
        return sum(len(c.failed_scenes) for c in self.chunks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": self.out_dir,
            "indexed": self.indexed,
            "counts": self.counts(),
            "failed_scenes": self.failed_scene_count(),
            "skipped_scenes": self.skipped_scenes,
            "chunks": [asdict(c) for c in self.chunks],
        }


def _planned_chunks(out_dir: Path) -> dict[str, list[str]]:
    """shard name -> its scenes, from the run's ``plan.json`` (empty when there is none)."""
    try:
        return planned_chunks(json.loads((out_dir / PLAN_NAME).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _tail(path: Path, n: int = 3) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])


def _submitit_result(folder: Path, job_id: str) -> tuple[str, Any] | None:
    """(outcome, value) from a submitit result pickle, or None when the job wrote none yet."""
    path = folder / f"{job_id}_0_result.pkl"
    if not path.is_file():
        return None
    try:
        from submitit.core.utils import pickle_load
    except ImportError:
        return ("unknown", f"submitit is not importable; cannot read {path}")
    try:
        return tuple(pickle_load(path))  # type: ignore[return-value]
    except Exception as exc:  # noqa: BLE001 - a damaged pickle is reported, not fatal
        return ("unknown", f"unreadable result {path}: {exc}")


def _slurm_state(folder: Path, job_id: str) -> str | None:
    """The SLURM state of a job via ``sacct`` (None when SLURM's tools are not here)."""
    import shutil

    if shutil.which("sacct") is None:
        return None
    try:
        from submitit.slurm.slurm import SlurmJob
    except ImportError:
        return None
    try:
        return str(SlurmJob(folder=folder, job_id=job_id).state).split()[0]
    except Exception:  # noqa: BLE001 - a status query must not fail the status command
        return None


def _last_error_line(traceback_text: str) -> str:
    lines = [ln for ln in str(traceback_text).splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "unknown error"


def _job_state(record: dict[str, Any], outcome: dict[str, Any] | None) -> tuple[str, str | None]:
    """(state, cause) of a chunk with no valid marker, from its latest job."""
    if outcome is not None and outcome["event"] == "failed":
        return "failed", outcome.get("cause") or "the job failed"
    executor = record.get("executor")
    folder = record.get("folder")
    job_id = str(record.get("job_id"))
    if folder and executor == "slurm":
        result = _submitit_result(Path(folder), job_id)
        if result is not None:
            kind, value = result
            if kind == "error":
                return "failed", _last_error_line(value)
            if kind == "success":
                return "pending", "the job finished but its completion marker is missing"
            return "failed", str(value)
        cluster = record.get("cluster", "slurm")
        if cluster == "slurm":
            state = _slurm_state(Path(folder), job_id)
            if state is not None and state in _SLURM_ENDED:
                stderr = record.get("stderr")
                tail = _tail(Path(stderr)) if stderr else ""
                return "failed", f"SLURM state {state} without a result" + (
                    f": {tail}" if tail else ""
                )
            return "running", None if state is None else f"SLURM state {state}"
        if cluster == "local":
            if job_id.isdigit() and pid_alive(int(job_id)):
                return "running", None
            return "failed", "the local job process ended without a result (killed?)"
    # Ray tasks (and submitit debug jobs) live inside the driver process.
    pid = record.get("driver_pid")
    if left_by_the_dead(record.get("host"), pid):
        return "failed", f"the driver process {pid} ended before the job finished (interrupted)"
    return "running", None


def run_status(out_dir: str | Path) -> RunStatus:
    """Status of every chunk of a dataset directory (markers, job log, submitit folders)."""
    out = Path(out_dir)
    marker_dir = out / MARKER_DIR
    markers = {p.name[: -len(".json")]: p for p in marker_dir.glob("*.h5.json")}
    submitted: dict[str, dict[str, Any]] = {}
    outcome: dict[str, dict[str, Any] | None] = {}
    for rec in read_job_records(out):
        shard = rec.get("shard")
        if not shard:
            continue
        if rec.get("event") == "submitted":
            submitted[shard] = rec
            outcome[shard] = None
        elif rec.get("event") in ("finished", "failed"):
            outcome[shard] = rec
    planned = _planned_chunks(out)
    names = chunk_siblings(set(markers) | set(submitted) | set(planned))
    # scenes of chunks whose task crashed under the local pool (recorded by the driver)
    failures = read_failures(out)
    crashed = {r.get("scene"): r for r in failures.get("failed", [])}
    chunks = []
    for name in sorted(names):
        rec = submitted.get(name)
        st = ChunkStatus(shard=name, state="pending")
        if rec is not None:
            st.executor = rec.get("executor")
            st.job_id = None if rec.get("job_id") is None else str(rec.get("job_id"))
            st.logs = [p for p in (rec.get("stdout"), rec.get("stderr")) if p and Path(p).is_file()]
        marker = read_marker(markers[name]) if name in markers else None
        if marker_holds(marker, out / name):
            st.state = "done"
            st.scenes = len(marker.get("scenes", []))
            st.scenes_done = len(marker.get("done", []))
            st.failed_scenes = list(marker.get("failed", []))
        elif rec is not None:
            st.state, st.cause = _job_state(rec, outcome.get(name))
            if marker is not None and st.state != "running":
                st.cause = (st.cause + "; " if st.cause else "") + (
                    "marker present but the shard is missing or has another size"
                )
        elif any(sid in crashed for sid in planned.get(name, ())):
            # also with a stale marker: the chunk was redone and its task crashed
            rec = next(crashed[sid] for sid in planned[name] if sid in crashed)
            st.state = "failed"
            st.cause = f"{rec.get('type', 'error')}: {rec.get('cause')} (failures.json)"
        elif marker is not None:
            st.cause = "marker present but the shard is missing or has another size"
        if st.scenes is None and name in planned:
            st.scenes = len(planned[name])
        chunks.append(st)
    return RunStatus(str(out), chunks, (out / INDEX_NAME).is_file(),
                     len(failures.get("skipped", [])))


def format_status(status: RunStatus, verbose: bool = False) -> list[str]:
    """Human-readable lines: a summary, then one line per chunk that is not plainly done.

    Done chunks with failed scenes are listed with each scene's cause; ``verbose`` lists
    clean done chunks too.
    """
    c = status.counts()
    lines = [
        f"{status.out_dir}: {len(status.chunks)} chunks: {c['done']} done, {c['running']} "
        f"running, {c['failed']} failed, {c['pending']} pending; "
        f"{status.failed_scene_count()} scenes failed"
        + (", merged (index.json written)" if status.indexed else ", not merged yet")
    ]
    for ch in status.chunks:
        if ch.state == "done" and not ch.failed_scenes and not verbose:
            continue
        job = f" job {ch.job_id} ({ch.executor})" if ch.job_id else ""
        if ch.state == "done":
            lines.append(f"done     {ch.shard}{job}: scenes {ch.scenes_done}/{ch.scenes}")
        else:
            lines.append(f"{ch.state:<8} {ch.shard}{job}" + (f": {ch.cause}" if ch.cause else ""))
        for f in ch.failed_scenes:
            where = f" ({f['file']})" if f.get("file") else ""
            lines.append(f"    scene {f.get('scene')}{where}: {f.get('cause')}")
        for p in ch.logs if ch.state != "done" or ch.failed_scenes else ():
            lines.append(f"    log: {p}")
    return lines
