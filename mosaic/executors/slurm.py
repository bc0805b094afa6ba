"""SLURM executor: one job-array task per unfinished chunk, submitted through submitit.

Resources come from a YAML file under ``pipelines/slurm/`` (kept apart from the science config)
and map onto submitit's ``AutoExecutor`` parameters. The same code runs without SLURM:
``cluster="local"`` starts each task as a local process (submitit's local executor, used in
tests) and ``cluster="debug"`` runs them in the calling process.

Preemption and time limits: each array task is a ``ChunkJob`` with ``__call__`` and
``checkpoint``; on SLURM's pre-emption / time-limit signal submitit calls ``checkpoint`` and
requeues the task (preemptions always, time-outs up to ``retries`` times). A chunk is written
atomically, so a requeued task redoes its chunk from the start.

Logs of every task go to ``OUT/_logs/submitit/<job id>_0_log.{out,err}``; submissions and
outcomes are appended to ``OUT/_logs/jobs.jsonl`` for ``mosaic status``. A resubmission skips
chunks with a completion marker and re-attaches to array tasks of an earlier submission that
SLURM still lists as pending or running instead of submitting them twice.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import BackendUnavailableError, ConfigError
from ..stages.chunk import read_marker
from .base import Event, Executor, TaskFn, failure_cause, is_finished
from .gpu import place_task
from .run_state import LOG_DIR, SUBMITIT_DIR, append_job_record, read_job_records

log = logging.getLogger(__name__)

CLUSTERS = ("slurm", "local", "debug")
_SLURM_ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED",
                 "RESIZING", "REQUEUE_HOLD", "REQUEUE_FED"}


@dataclass(frozen=True)
class SlurmResources:
    """Cluster resources of one array task (one chunk). Plain data, loaded from YAML.

    Attributes:
        partition: SLURM partition (``--partition``); None = the cluster's default.
        timeout_min: wall-time limit per task in minutes (``--time``).
        mem_gb: memory per task in GB (``--mem``).
        cpus_per_task: CPU cores per task (``--cpus-per-task``).
        gpus_per_node: GPUs per task (one task per array element, so per node = per task).
        array_parallelism: at most this many array tasks run at once (``--array=0-N%P``).
        retries: requeues after hitting the time limit; preempted tasks are always requeued.
        account, qos, constraint: passed to sbatch when set.
        job_name: SLURM job name.
        setup: shell lines run before the task (e.g. ``module load``, ``source .venv/...``).
        signal_delay_s: seconds before the time limit at which SLURM signals the task.
        additional_parameters: raw sbatch options submitit does not name, e.g.
            ``{"requeue": true}``.
    """

    partition: str | None = None
    timeout_min: int = 240
    mem_gb: float = 16
    cpus_per_task: int = 4
    gpus_per_node: int = 0
    array_parallelism: int = 64
    retries: int = 3
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    job_name: str = "mosaic"
    setup: tuple[str, ...] = ()
    signal_delay_s: int = 120
    additional_parameters: dict[str, Any] = field(default_factory=dict)

    def submitit_parameters(self) -> dict[str, Any]:
        """Keyword arguments for ``AutoExecutor.update_parameters``.

        Generic names (``timeout_min``, ``mem_gb``, ``cpus_per_task``, ``gpus_per_node``,
        ``name``) are translated by submitit for each cluster; ``slurm_*`` ones only apply on
        SLURM (the local executor ignores them).
        """
        params: dict[str, Any] = {
            "name": self.job_name,
            "timeout_min": int(self.timeout_min),
            "mem_gb": self.mem_gb,
            "cpus_per_task": int(self.cpus_per_task),
            "tasks_per_node": 1,
            "nodes": 1,
            "slurm_array_parallelism": int(self.array_parallelism),
            "slurm_signal_delay_s": int(self.signal_delay_s),
        }
        if self.gpus_per_node > 0:  # sbatch on CPU-only clusters may reject --gpus-per-node=0
            params["gpus_per_node"] = int(self.gpus_per_node)
        for key in ("partition", "account", "qos", "constraint"):
            value = getattr(self, key)
            if value is not None:
                params[f"slurm_{key}"] = value
        if self.setup:
            params["slurm_setup"] = list(self.setup)
        if self.additional_parameters:
            params["slurm_additional_parameters"] = dict(self.additional_parameters)
        return params


def load_resources(path: str | Path | None) -> SlurmResources:
    """Read a ``pipelines/slurm/*.yaml`` file (defaults when None); unknown keys are errors."""
    if path is None:
        return SlurmResources()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"resource file {p} does not exist; see pipelines/slurm/ for examples")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"resource file {p} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"resource file {p} must hold a mapping of resource names to values")
    data.pop("name", None)
    data.pop("description", None)
    data = data.get("slurm", data)
    names = {f.name for f in dataclasses.fields(SlurmResources)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"resource file {p}: unknown keys {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(names))}"
        )
    if "setup" in data:
        data["setup"] = tuple(data["setup"] or ())
    if "additional_parameters" in data:
        data["additional_parameters"] = dict(data["additional_parameters"] or {})
    try:
        res = SlurmResources(**data)
    except TypeError as exc:
        raise ConfigError(f"resource file {p}: {exc}") from None
    for key in ("timeout_min", "cpus_per_task", "array_parallelism"):
        if int(getattr(res, key)) < 1:
            raise ConfigError(f"resource file {p}: {key} must be >= 1, got {getattr(res, key)}")
    if res.gpus_per_node < 0 or res.retries < 0 or res.mem_gb <= 0:
        raise ConfigError(f"resource file {p}: gpus_per_node and retries must be >= 0, mem_gb > 0")
    return res


def _require_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise BackendUnavailableError(
            "the slurm executor needs submitit, which is not installed here; install it with: "
            "pip install 'mosaic[slurm]'"
        ) from None
    return submitit


def _configure_task_logging() -> None:
    """Inside a job: send mosaic's log records (device placement, ...) to the job's stderr."""
    logger = logging.getLogger("mosaic")
    if not any(getattr(h, "_mosaic_job", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._mosaic_job = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


class ChunkJob:
    """The callable a cluster task runs: ``fn(task, emit)`` with events buffered.

    Returns ``(result, events)``; the driver replays ``events`` to its ``on_event`` when the
    task's result arrives (cluster tasks cannot stream into the driver's progress bar).
    ``checkpoint`` makes submitit requeue the task after preemption or a time-out.

    Attributes:
        fn: picklable top-level function ``fn(task, emit) -> result``.
        task: the chunk task.
        place_gpu: the task was given GPUs: place the warp backend on ``cuda:<local rank>``.
    """

    def __init__(self, fn: Callable[[Any, Callable[[Event], None]], Any], task: Any,
                 place_gpu: bool = False, own_process: bool = True):
        self.fn = fn
        self.task = task
        self.place_gpu = place_gpu
        self.own_process = own_process

    def __call__(self) -> tuple[Any, list[Event]]:
        if self.own_process:  # never add handlers to a caller's process (debug cluster)
            _configure_task_logging()
        task = place_task(self.task) if self.place_gpu else self.task
        if is_finished(task):
            # A requeued task whose chunk was finished before the signal arrived.
            log.info("chunk %s already done; nothing to do", getattr(task, "shard_name", task))
            return read_marker(task.marker_path), []
        events: list[Event] = []
        log.info("chunk %s: start (pid %d on %s)", getattr(task, "shard_name", task), os.getpid(),
                 socket.gethostname())
        result = self.fn(task, events.append)
        log.info("chunk %s: finished", getattr(task, "shard_name", task))
        return result, events

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Requeue the same chunk (its output is atomic, so it restarts from scratch)."""
        from submitit.helpers import DelayedSubmission

        job = ChunkJob(self.fn, self.task, self.place_gpu, self.own_process)
        return DelayedSubmission(job, *args, **kwargs)


class SlurmExecutor(Executor):
    """Run chunk tasks as a SLURM job array through submitit.

    Args:
        resources: a ``pipelines/slurm/*.yaml`` path or ``SlurmResources`` (None: defaults).
        cluster: ``"slurm"``; ``"local"`` (one local process per task) or ``"debug"`` (in
            process) stand in for SLURM on one machine.
        log_dir: where submitit writes job files; default ``<task.out_dir>/_logs/submitit``.
        poll_s: seconds between job-state polls while waiting.
        workers: ignored (parallelism is ``array_parallelism``); accepted so every executor
            takes the same options.
    """

    name = "slurm"

    def __init__(
        self,
        resources: str | Path | SlurmResources | None = None,
        cluster: str = "slurm",
        log_dir: str | Path | None = None,
        poll_s: float = 10.0,
        workers: int | None = None,
    ):
        if cluster not in CLUSTERS:
            raise ConfigError(f"unknown submitit cluster {cluster!r}; valid: {', '.join(CLUSTERS)}")
        self.resources = (
            resources if isinstance(resources, SlurmResources) else load_resources(resources)
        )
        self.cluster = cluster
        self.log_dir = None if log_dir is None else Path(log_dir)
        self.poll_s = float(poll_s)
        self.workers = workers

    def folder_for(self, tasks: Sequence[Any]) -> Path:
        """The submitit folder: ``log_dir`` or ``OUT/_logs/submitit`` of the first task."""
        if self.log_dir is not None:
            return self.log_dir
        out_dir = getattr(tasks[0], "out_dir", None) if tasks else None
        if out_dir is None:
            raise ConfigError("the slurm executor needs log_dir when tasks carry no out_dir")
        return Path(out_dir) / LOG_DIR / SUBMITIT_DIR

    def make_executor(self, folder: str | Path) -> Any:
        """A configured submitit ``AutoExecutor`` (nothing is submitted)."""
        submitit = _require_submitit()
        try:
            ex = submitit.AutoExecutor(
                folder=str(folder), cluster=self.cluster,
                slurm_max_num_timeout=int(self.resources.retries),
            )
        except RuntimeError as exc:  # submitit: "Could not detect srun"
            raise BackendUnavailableError(
                f"cannot submit to SLURM here ({exc}); run on a SLURM login node, or use "
                "--executor local / ray"
            ) from None
        ex.update_parameters(**self.resources.submitit_parameters())
        return ex

    def dry_run(self, tasks: Sequence[Any]) -> str:
        """The sbatch script ``run`` would submit for these tasks (finished ones left out).

        Nothing is submitted and no SLURM installation is needed.
        """
        todo = self.pending(tasks)
        if not todo:
            return "# every chunk is done: nothing to submit\n"
        return render_sbatch(self.resources, len(todo), self.folder_for(todo))

    def _reattach(self, tasks: Sequence[Any], folder: Path) -> dict[int, Any]:
        """Array tasks of an earlier submission that SLURM still runs: position -> job."""
        if self.cluster != "slurm" or not tasks or getattr(tasks[0], "out_dir", None) is None:
            return {}
        latest: dict[str, dict[str, Any]] = {}
        for rec in read_job_records(tasks[0].out_dir):
            if rec.get("executor") == "slurm" and rec.get("event") == "submitted":
                latest[rec["shard"]] = rec
            elif rec.get("event") in ("finished", "failed"):
                latest.pop(rec.get("shard"), None)
        from submitit.slurm.slurm import SlurmJob

        found = {}
        for i, task in enumerate(tasks):
            rec = latest.get(getattr(task, "shard_name", ""))
            if rec is None or rec.get("cluster") != "slurm":
                continue
            job = SlurmJob(folder=rec.get("folder", folder), job_id=str(rec["job_id"]))
            try:
                state = str(job.state).split()[0]
            except Exception:  # noqa: BLE001 - unknown state: submit again
                continue
            if state in _SLURM_ACTIVE:
                log.info("chunk %s: re-attaching to job %s (%s)", task.shard_name, job.job_id,
                         state)
                found[i] = job
        return found

    def scene_workers(self, n_tasks: int) -> int:
        return max(1, int(self.resources.cpus_per_task))

    def _run(
        self, fn: TaskFn, todo: list[Any], emit: Callable[[Event], None]
    ) -> Iterator[tuple[Any, Any]]:
        """Submit the tasks as one job array, then yield (task, result) as they end; a task
        whose job failed yields an exception carrying the job's error."""
        folder = self.folder_for(todo)
        folder.mkdir(parents=True, exist_ok=True)
        ex = self.make_executor(folder)
        attached = self._reattach(todo, folder)
        fresh = [t for i, t in enumerate(todo) if i not in attached]
        place_gpu = self.resources.gpus_per_node > 0
        own = self.cluster != "debug"
        new_jobs = (
            ex.submit_array([ChunkJob(fn, t, place_gpu, own) for t in fresh]) if fresh else []
        )
        if self.cluster != "slurm":
            # submitit waits this long for a missing result on slow shared file systems;
            # a local job's files are on this machine
            for job in new_jobs:
                job._results_timeout_s = 1
        jobs: list[tuple[Any, Any]] = list(zip(fresh, new_jobs, strict=True))
        jobs += [(todo[i], job) for i, job in attached.items()]
        out_dir = getattr(todo[0], "out_dir", None)
        for task, job in jobs[: len(fresh)]:
            if out_dir is not None:
                append_job_record(out_dir, {
                    "event": "submitted", "executor": "slurm", "cluster": self.cluster,
                    "shard": getattr(task, "shard_name", str(task)), "job_id": str(job.job_id),
                    "folder": str(folder), "stdout": str(job.paths.stdout),
                    "stderr": str(job.paths.stderr),
                })
        yield from self._collect(jobs, emit, out_dir)

    def _collect(self, jobs: list[tuple[Any, Any]], emit: Callable[[Event], None],
                 out_dir: str | None) -> Iterator[tuple[Any, Any]]:
        pending = list(jobs)
        import time

        while pending:
            still = []
            for task, job in pending:
                if not job.done():
                    still.append((task, job))
                    continue
                result, shard = self._outcome(task, job, emit)
                if out_dir is not None:
                    rec = {"executor": "slurm", "shard": shard, "job_id": str(job.job_id)}
                    if isinstance(result, BaseException):
                        rec.update(event="failed", cause=failure_cause(result))
                    else:
                        rec.update(event="finished")
                    append_job_record(out_dir, rec)
                yield task, result
            pending = still
            if pending:
                time.sleep(self.poll_s if self.cluster == "slurm" else min(self.poll_s, 0.5))

    @staticmethod
    def _outcome(task: Any, job: Any, emit: Callable[[Event], None]) -> tuple[Any, str]:
        shard = getattr(task, "shard_name", str(task))
        try:
            result, events = job.result()
        except Exception as exc:  # noqa: BLE001 - a failed job is reported for its chunk
            return exc, shard
        for event in events:
            emit(event)
        return result, shard


def render_sbatch(resources: SlurmResources, n_tasks: int, folder: str | Path,
                  python: str | None = None) -> str:
    """The sbatch script submitit would submit for an array of ``n_tasks`` chunks.

    Needs no SLURM installation: it runs submitit's own sbatch renderer on the parameters
    SLURM would receive (for ``mosaic generate --dry-run`` and tests).
    """
    _require_submitit()
    import shlex

    from submitit.slurm import slurm as submitit_slurm

    if n_tasks < 1:
        raise ConfigError("a job array needs at least one task")
    generic = resources.submitit_parameters()
    equiv = submitit_slurm.SlurmExecutor._equivalence_dict()
    params: dict[str, Any] = {}
    for key, value in generic.items():
        if key.startswith("slurm_"):
            params[key[len("slurm_"):]] = value
        else:
            params[equiv.get(key, key)] = value
    params["mem"] = submitit_slurm._convert_mem(float(params.pop("mem")))
    python = python or shlex.quote(sys.executable)
    command = f"{python} -u -m submitit.core._submit {shlex.quote(str(Path(folder).absolute()))}"
    return submitit_slurm._make_sbatch_string(
        command=command, folder=Path(folder).absolute(), map_count=n_tasks, **params
    )
