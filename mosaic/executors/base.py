"""The executor contract, and the completion rule every executor shares.

An executor runs ``fn(task, emit)`` (a picklable top-level function) over chunk tasks and yields
``(task, result)`` as each ends; a task that raised yields its exception. ``emit(event)``
forwards progress events (plain dicts) to ``on_event`` in the calling process.

The completion rule lives here, once: a task whose chunk is finished (``task.is_done()``: its
completion marker and the shard it names are present and agree) is neither run nor yielded, so
a rerun, a resubmission or a requeued cluster task redoes only unfinished chunks.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

Event = dict[str, Any]
TaskFn = Callable[[Any, Callable[[Event], None]], Any]


def _ignore(_event: Event) -> None:
    return None


def is_finished(task: Any) -> bool:
    """The task's chunk is complete (objects without ``is_done`` never are)."""
    is_done = getattr(task, "is_done", None)
    return bool(is_done()) if callable(is_done) else False


class Executor(ABC):
    """Base class of the local, SLURM and Ray executors."""

    name: ClassVar[str]

    def scene_workers(self, n_tasks: int) -> int:
        """CPUs each of ``n_tasks`` running tasks may use for one scene (its labelling and
        question generation)."""
        return 1

    def pending(self, tasks: Sequence[Any]) -> list[Any]:
        """The tasks still to run, in order."""
        return [t for t in tasks if not is_finished(t)]

    def run(
        self, fn: TaskFn, tasks: Sequence[Any], on_event: Callable[[Event], None] | None = None
    ) -> Iterator[tuple[Any, Any]]:
        """Run the pending tasks; yield ``(task, result | exception)`` as each ends."""
        todo = self.pending(tasks)
        if todo:
            yield from self._run(fn, todo, on_event or _ignore)

    @abstractmethod
    def _run(
        self, fn: TaskFn, tasks: list[Any], emit: Callable[[Event], None]
    ) -> Iterator[tuple[Any, Any]]:
        """Run every task given (all unfinished); yield as each ends."""


def failure_cause(exc: BaseException) -> str:
    """One line saying why a cluster job failed: the last line of the remote traceback.

    submitit's ``FailedJobError`` holds the traceback between two dashed rules, followed by
    where the logs are; its ``UncompletedJobError`` (killed, out of memory, no result) names
    the SLURM state in its first two lines; Ray's ``RayTaskError`` ends with the remote exception.
    """
    text = str(exc)
    if type(exc).__name__ == "UncompletedJobError":  # no result: its first lines say why
        head = [ln.strip() for ln in text.splitlines()[:2] if ln.strip()]
        return " ".join(head) or type(exc).__name__
    parts = re.split(r"\n-{10,}\n", text)
    if len(parts) >= 3:  # submitit: header, traceback, log paths
        text = parts[1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__
