"""Local process pool executor (one machine, ``--workers N``).

With one worker the tasks run in the calling process (simplest to debug and profile). With
more, a ``ProcessPoolExecutor`` with the ``spawn`` start method runs them: spawn avoids
inheriting threads (progress bars) and native ray-casting state through ``fork``. Progress
events travel back through a multiprocessing queue drained by the calling process.

Workers never outlive the run: if ``run`` is left early (an exception, Ctrl-C, SIGTERM turned
into an exception by ``mosaic.executors.signals``, or the generator being closed) the workers
are killed before it returns; if the driver process itself dies (SIGKILL), each worker gets
SIGKILL from the kernel (Linux ``PR_SET_PDEATHSIG``) or notices within half a second that its
parent is gone and kills itself. Workers ignore SIGINT: a Ctrl-C reaches the whole process
group, and the driver alone decides how to stop. Each worker holds the output folder's worker
lock (``mosaic.stages.output_lock``) so no new run starts while one of them still writes.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from .base import Event, Executor, TaskFn

_QUEUE: Any = None
PARENT_POLL_S = 0.5


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker die when the driver ``parent_pid`` does, however it dies."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the driver died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="mosaic-parent-watch", daemon=True).start()


def _init_worker(q: Any, parent_pid: int | None = None, out_dir: str | None = None) -> None:
    global _QUEUE
    _QUEUE = q
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    if out_dir is not None:
        from ..stages.output_lock import hold_worker_lock

        hold_worker_lock(out_dir)


def _call(fn: Callable[[Any, Callable[[Event], None]], Any], task: Any) -> Any:
    return fn(task, _QUEUE.put)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """SIGKILL every worker of ``pool`` and reap them (their chunks are redone by a rerun)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        with contextlib.suppress(OSError, ValueError):
            proc.kill()
    for proc in procs:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            proc.join(timeout=5)


class LocalExecutor(Executor):
    """Run tasks on ``workers`` local processes (in-process when ``workers == 1``)."""

    name = "local"

    def __init__(self, workers: int = 1, start_method: str = "spawn"):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = int(workers)
        self.start_method = start_method

    def scene_workers(self, n_tasks: int) -> int:
        """The workers left over when there are fewer tasks than workers (one large scene on
        two workers runs on a ``ScenePool`` of two processes)."""
        return max(1, self.workers // max(1, min(self.workers, n_tasks)))

    def _run(
        self, fn: TaskFn, tasks: list[Any], emit: Callable[[Event], None]
    ) -> Iterator[tuple[Any, Any]]:
        if self.workers == 1 or len(tasks) <= 1:
            for task in tasks:
                try:
                    result = fn(task, emit)
                except Exception as exc:  # noqa: BLE001 - reported per task to the driver
                    result = exc
                yield task, result
            return
        ctx = mp.get_context(self.start_method)
        q = ctx.Queue()
        n = min(self.workers, len(tasks))
        out_dir = getattr(tasks[0], "out_dir", None)
        pool = ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker,
                                   initargs=(q, os.getpid(), out_dir))
        try:
            pending: dict[Future, Any] = {pool.submit(_call, fn, t): t for t in tasks}
            while pending:
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(q, emit)
                for fut in done:
                    task = pending.pop(fut)
                    exc = fut.exception()
                    yield task, (exc if exc is not None else fut.result())
            _drain(q, emit)
        except BaseException:  # interrupted, or the caller stopped iterating: stop everything
            _kill_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            q.close()
            q.join_thread()


def _drain(q: Any, emit: Callable[[Event], None]) -> None:
    while True:
        try:
            emit(q.get_nowait())
        except queue_mod.Empty:
            return
