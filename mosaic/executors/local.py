"""Local process pool executor (one machine, ``--workers N``).

With one worker the tasks run in the calling process (simplest to debug and profile). With
more, a ``ProcessPoolExecutor`` with the ``spawn`` start method runs them: spawn avoids
inheriting threads (progress bars) and native ray-casting state through ``fork``. Progress
events travel back through a multiprocessing queue drained by the calling process.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from .base import Event, Executor, TaskFn

_QUEUE: Any = None


def _init_worker(q: Any) -> None:
    global _QUEUE
    _QUEUE = q


def _call(fn: Callable[[Any, Callable[[Event], None]], Any], task: Any) -> Any:
    return fn(task, _QUEUE.put)


class LocalExecutor(Executor):
    """Run tasks on ``workers`` local processes (in-process when ``workers == 1``)."""

    name = "local"

    def __init__(self, workers: int = 1, start_method: str = "spawn"):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = int(workers)
        self.start_method = start_method

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
        pool_cls = ProcessPoolExecutor
        with pool_cls(n, mp_context=ctx, initializer=_init_worker, initargs=(q,)) as pool:
            pending: dict[Future, Any] = {pool.submit(_call, fn, t): t for t in tasks}
            while pending:
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(q, emit)
                for fut in done:
                    task = pending.pop(fut)
                    exc = fut.exception()
                    yield task, (exc if exc is not None else fut.result())
            _drain(q, emit)


def _drain(q: Any, emit: Callable[[Event], None]) -> None:
    while True:
        try:
            emit(q.get_nowait())
        except queue_mod.Empty:
            return
