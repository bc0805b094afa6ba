"""Ray executor: one Ray task per unfinished chunk, for clusters without SLURM.

Without an address, ``ray.init()`` starts a local Ray instance on this machine (what the tests
use); with ``address`` (``--ray-address``, e.g. ``ray://head:10001`` or ``auto``) the tasks go to
an existing cluster, whose nodes need mosaic installed and the dataset root and output
directory on a shared file system (relative paths are made absolute before sending). Ray is
an optional extra, imported only when this executor runs; a missing install raises
``BackendUnavailableError`` with the install command.

Each task runs the same ``ChunkJob`` as a SLURM array task: chunks with a marker are skipped,
progress events come back with the result, a worker that dies is retried ``retries`` times by
Ray, and submissions / outcomes go to ``OUT/_logs/jobs.jsonl`` for ``mosaic status``. Worker
logs stay in Ray's session folder (``/tmp/ray/session_latest/logs`` on each node).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from ..config import MosaicConfig
from ..errors import BackendUnavailableError, ConfigError
from .base import Event, Executor, TaskFn, failure_cause
from .run_state import append_job_record
from .slurm import ChunkJob

log = logging.getLogger(__name__)


def _require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BackendUnavailableError(
            "the ray executor needs Ray, which is not installed here; install it with: "
            "pip install 'mosaic[ray]'"
        ) from None
    return ray


def _absolute(task: Any) -> Any:
    """The task with absolute ``source.root`` / ``out_dir``: workers of a remote cluster do
    not share the driver's working directory."""
    if not dataclasses.is_dataclass(task):
        return task
    changes: dict[str, Any] = {}
    out_dir = getattr(task, "out_dir", None)
    if isinstance(out_dir, str) and not os.path.isabs(out_dir):
        changes["out_dir"] = os.path.abspath(out_dir)
    config = getattr(task, "config", None)
    if isinstance(config, MosaicConfig) and config.source.root \
            and not os.path.isabs(config.source.root):
        source = dataclasses.replace(config.source, root=os.path.abspath(config.source.root))
        changes["config"] = dataclasses.replace(config, source=source)
    return dataclasses.replace(task, **changes) if changes else task


def _run_job(job: ChunkJob) -> tuple[Any, list[Event]]:
    """Ray task body (module level so workers import it instead of unpickling a closure)."""
    return job()


class RayExecutor(Executor):
    """Run chunk tasks as Ray tasks on a local Ray instance or an existing cluster.

    Args:
        address: Ray cluster address; None starts a local instance for this run.
        workers: CPUs of the local instance (None: all of this machine's); ignored with an
            address (the cluster decides).
        cpus_per_task: CPUs Ray reserves per chunk task.
        gpus_per_task: GPUs per chunk task; > 0 places the warp backend on the task's GPU.
        retries: times Ray reruns a task whose worker process died.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_task: float = 1,
        gpus_per_task: float = 0,
        retries: int = 3,
    ):
        if cpus_per_task <= 0 or gpus_per_task < 0 or retries < 0:
            raise ConfigError(
                "ray executor: cpus_per_task must be > 0, gpus_per_task and retries >= 0"
            )
        if workers is not None and workers < 1:
            raise ConfigError(f"ray executor: workers must be >= 1, got {workers}")
        self.address = address or None
        self.workers = workers
        self.cpus_per_task = cpus_per_task
        self.gpus_per_task = gpus_per_task
        self.retries = int(retries)

    def _init(self, ray: Any) -> bool:
        """Connect (or start a local instance); True when this call started Ray."""
        if ray.is_initialized():
            return False
        options: dict[str, Any] = {
            "include_dashboard": False,
            "logging_level": logging.WARNING,
            "ignore_reinit_error": True,
        }
        if self.address is None:
            if self.workers is not None:
                options["num_cpus"] = int(self.workers)
        try:
            ray.init(address=self.address, **options)
        except ConnectionError as exc:
            raise BackendUnavailableError(
                f"cannot connect to the Ray cluster at {self.address!r} ({exc}); start it with "
                "'ray start --head' or leave --ray-address out for a local instance"
            ) from None
        return True

    def scene_workers(self, n_tasks: int) -> int:
        return max(1, int(self.cpus_per_task))

    def _run(
        self, fn: TaskFn, todo: list[Any], emit: Callable[[Event], None]
    ) -> Iterator[tuple[Any, Any]]:
        """Yield (task, result) as Ray tasks finish; a failed task yields its exception."""
        ray = _require_ray()
        started = self._init(ray)
        try:
            remote = ray.remote(
                num_cpus=self.cpus_per_task, num_gpus=self.gpus_per_task,
                max_retries=self.retries,
            )(_run_job)
            place_gpu = self.gpus_per_task > 0
            refs: dict[Any, Any] = {}
            for task in todo:
                sent = task if self.address is None else _absolute(task)
                ref = remote.remote(ChunkJob(fn, sent, place_gpu))
                refs[ref] = task
                out_dir = getattr(task, "out_dir", None)
                if out_dir is not None:
                    append_job_record(out_dir, {
                        "event": "submitted", "executor": "ray", "shard": task.shard_name,
                        "job_id": ref.task_id().hex(), "address": self.address or "local",
                    })
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    task = refs[ref]
                    try:
                        result, events = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - reported per chunk to the driver
                        result, events = exc, []
                    for event in events:
                        emit(event)
                    out_dir = getattr(task, "out_dir", None)
                    if out_dir is not None:
                        rec = {"executor": "ray", "shard": task.shard_name,
                               "job_id": ref.task_id().hex()}
                        if isinstance(result, BaseException):
                            rec.update(event="failed", cause=failure_cause(result))
                        else:
                            rec.update(event="finished")
                        append_job_record(out_dir, rec)
                    yield task, result
        finally:
            if started:
                ray.shutdown()
