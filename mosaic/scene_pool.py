"""One scene's work on several processes, with the results of one process.

Ray casting (``embreex`` holds the GIL while it casts) and question generation (pure Python)
do not overlap in threads, so a ``ScenePool`` spawns ``workers - 1`` processes (``spawn``, as
the local executor) that work beside the calling process, which works too:

* the workers start when the pool is made and import the ray caster and the task families
  while the caller reads the scene;
* a job (``SceneJob``: the scene, or the question context, and what to do with one item) is
  written once to a file in the pool's private folder and read once by each worker that
  takes one of its items, so the job is pickled once whatever the number of workers;
* results come back the same way, a file per item, and their arrays travel out of band
  (pickle protocol 5: raw bytes after the pickle stream, read back without a second copy);
* each worker has its own pipe, and ``run(job, items)`` keeps two items queued in each
  (messages of a few bytes, written by the calling thread itself): no background thread of
  the calling process has to win the GIL from its ray casts before a worker gets its next
  item or may send its result;
* the workers take items from the front of the list and this process from the back, one at
  a time whenever every worker has its queue full (a second item is queued only while more
  items are left than processes), so the split follows the workers' speed (start-up
  included) and neighbouring items (e.g. question types of one family, which share lookups)
  mostly stay in one process. Results come back in the order of the items.

One pool serves a scene's pose check, labelling and question types in turn, so the workers'
start-up is paid once per scene (``mosaic.pipeline``).

The work files live in ``<TMPDIR>/mosaic-scene-pool.~<host>~<pid>~*``. Workers ignore Ctrl-C
(the caller stops them); when the caller dies without closing its pool, its workers remove
the folder and exit, and a pool started later on the host removes folders of dead callers.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import pickle
import shutil
import tempfile
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

from .errors import raised_at
from .process_ids import left_by_the_dead, owner_tag, tagged_owner

T = TypeVar("T")
R = TypeVar("R")

QUEUED_PER_WORKER = 2  # one to work on, one waiting in its pipe
_ALIGN = 16  # offsets of out-of-band buffers in a file: numpy's widest element alignment
_OUT_OF_BAND_MIN = 1 << 16  # bytes: smaller arrays travel inside the pickle stream


class SceneJob(Protocol[T, R]):
    """Work on the items of one scene. Pickled once per job (each worker reads it once):
    keep what a worker rebuilds (ray casters, lookups) out of the pickled state."""

    def run(self, item: T) -> R:
        """The item's result (in the calling process or in a worker: the same)."""


class WorkerDied(RuntimeError):
    """A worker process of a ``ScenePool`` ended without answering (killed, out of memory)."""


class ScenePool:
    """``workers - 1`` spawned processes plus the calling one, for one scene at a time.

    Use as a context manager (or call ``close``): leaving it stops the workers and removes
    the job files. ``workers`` <= 1 makes a pool without processes: ``run`` computes every
    item in the calling process; so does a pool made in a daemonic process (a
    ``multiprocessing.Pool`` worker), which may not start processes of its own.
    """

    def __init__(self, workers: int):
        import multiprocessing as mp

        daemonic = mp.current_process().daemon
        self.workers = 1 if daemonic else max(1, int(workers))
        self._folder: Path | None = None
        self._job_numbers = itertools.count()
        self._procs: list[Any] = []
        self._conns: list[Any] = []
        spawn = mp.get_context("spawn")
        try:
            with _sigint_ignored():  # inherited: a worker ignores Ctrl-C from its first line
                for _ in range(self.workers - 1):
                    here, there = spawn.Pipe()
                    proc = spawn.Process(target=_serve, args=(there,), daemon=True,
                                         name="mosaic-scene-worker")
                    proc.start()
                    there.close()
                    self._procs.append(proc)
                    self._conns.append(here)
        except BaseException:
            self.close(stop=True)
            raise

    def __enter__(self) -> ScenePool:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(stop=exc_type is not None)

    def close(self, stop: bool = False) -> None:
        """Let the workers finish and exit (``stop``: end them at once, e.g. after an error),
        then remove the job files."""
        for conn in self._conns:
            try:
                conn.send(None)
            except OSError:  # already gone
                pass
        for proc in self._procs:
            if stop:
                proc.terminate()
            proc.join(timeout=None if not stop else 5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self._conns:
            conn.close()
        self._procs, self._conns = [], []
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def run(self, job: SceneJob[T, R], items: Sequence[T],
            done: Callable[[R], None] | None = None) -> list[R]:
        """``job.run(item)`` for each item, computed by the workers (from the front) and this
        process (from the back), returned in the order of ``items``; ``done`` is called with
        each result as it arrives. An item's error in a worker is raised here (the pool is
        then stopped)."""
        from multiprocessing.connection import wait

        results: list[Any] = [None] * len(items)

        def finished(i: int, result: Any) -> None:
            results[i] = result
            if done is not None:
                done(result)

        if not self._procs or len(items) < 2:
            for i, item in enumerate(items):
                finished(i, job.run(item))
            return results
        path = self._write_job(job)
        sent: list[deque[int]] = [deque() for _ in self._procs]
        front, back = 0, len(items) - 1  # the workers' next item, this process's next item

        def feed(w: int) -> None:
            nonlocal front
            # a second queued item only while more items are left than processes, so the
            # end of a short list is shared with this process
            while front <= back and (not sent[w] or (len(sent[w]) < QUEUED_PER_WORKER
                                                     and back - front + 1 > self.workers)):
                try:
                    self._conns[w].send((path, items[front]))
                except OSError:  # it died while idle
                    raise self._died(w) from None
                sent[w].append(front)
                front += 1

        try:
            for w in range(len(self._procs)):
                feed(w)
            while front <= back or any(sent):
                for w, conn in enumerate(self._conns):
                    while sent[w] and conn.poll():
                        finished(sent[w].popleft(), self._answer(w))
                    feed(w)
                if front <= back:
                    back -= 1
                    finished(back + 1, job.run(items[back + 1]))
                elif any(sent):
                    busy = [w for w in range(len(self._procs)) if sent[w]]
                    wait([self._conns[w] for w in busy] + [self._procs[w].sentinel for w in busy])
        except BaseException:
            self.close(stop=True)
            raise
        finally:  # each worker keeps its copy until it reads the next job
            with contextlib.suppress(OSError):
                os.unlink(path)
        return results

    def _died(self, w: int) -> WorkerDied:
        proc = self._procs[w]
        proc.join(timeout=1)
        return WorkerDied(
            f"scene worker {w + 1} ended without answering (exit code {proc.exitcode}); if it "
            "ran out of memory, use fewer workers")

    def _answer(self, w: int) -> Any:
        """The next result of worker ``w`` (its error raised here, with the worker's
        traceback as its cause)."""
        try:
            out, error, trace = self._conns[w].recv()
        except (EOFError, OSError):
            raise self._died(w) from None
        if error is not None:
            raise error from trace
        try:
            return read_pickle(out)
        finally:
            os.unlink(out)

    def _write_job(self, job: SceneJob[Any, Any]) -> str:
        """The file that hands ``job`` to the workers: a new name per job, since a worker
        knows a job by its file."""
        if self._folder is None:
            _remove_orphans()
            self._folder = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{owner_tag()}"))
        path = str(self._folder / f"job-{next(self._job_numbers)}.pickle")
        write_pickle(job, path)  # a full disk says TMPDIR (errors.os_error_message)
        return path


class WorkerTraceback(Exception):
    """The traceback of an error raised in a scene worker (the cause of the error ``run``
    raises). ``where``: the innermost ``file:line`` of the worker's code (``raised_at``)."""

    def __init__(self, trace: str, where: str | None):
        super().__init__(trace, where)
        self.trace, self.where = trace, where

    def __str__(self) -> str:
        return "\n(in a scene worker)\n" + self.trace


def write_pickle(obj: Any, path: str | Path) -> None:
    """Pickle ``obj`` to ``path`` with its large arrays (``_OUT_OF_BAND_MIN`` bytes and up) out
    of band: an 8-byte header length, the header (stream length, buffer sizes), the pickle
    stream, then each buffer's raw bytes padded to ``_ALIGN`` bytes (``read_pickle`` reads it
    back)."""
    buffers: list[pickle.PickleBuffer] = []

    def out_of_band(buf: pickle.PickleBuffer) -> bool:
        if buf.raw().nbytes < _OUT_OF_BAND_MIN:
            return True  # small: in the stream, cheaper than a buffer of its own
        buffers.append(buf)
        return False

    data = pickle.dumps(obj, protocol=5, buffer_callback=out_of_band)
    raws = [b.raw() for b in buffers]
    header = pickle.dumps((len(data), [r.nbytes for r in raws]), protocol=5)
    with open(path, "wb") as fh:
        fh.write(len(header).to_bytes(8, "little"))
        fh.write(header)
        fh.write(data)
        for r in raws:
            fh.write(r)
            fh.write(bytes(-r.nbytes % _ALIGN))


def read_pickle(path: str | Path) -> Any:
    """The object ``write_pickle`` wrote; its arrays are writable slices of one buffer read
    from the file (no second copy)."""
    with open(path, "rb") as fh:
        length, sizes = pickle.loads(fh.read(int.from_bytes(fh.read(8), "little")))
        data = fh.read(length)
        blob = bytearray(sum(n + (-n % _ALIGN) for n in sizes))
        if len(data) != length or fh.readinto(blob) != len(blob):
            raise OSError(errno.EIO, "work file shorter than its header says (disk full or "
                          "the file was cut)", str(path))
    whole = memoryview(blob)
    buffers, start = [], 0
    for n in sizes:
        buffers.append(whole[start : start + n])
        start += n + (-n % _ALIGN)
    return pickle.loads(data, buffers=buffers)


_PREFIX = "mosaic-scene-pool."  # then ~<host>~<pid>~<random> (``process_ids.owner_tag``)
_ORPHANS_SEARCHED: set[str] = set()  # temporary folders this process has cleaned


def _remove_orphans() -> None:
    """Remove the work folders that pools of dead processes on this host left behind (their
    owner killed before it could clean up); once per temporary folder and process."""
    if tempfile.gettempdir() in _ORPHANS_SEARCHED:
        return
    _ORPHANS_SEARCHED.add(tempfile.gettempdir())
    for folder in Path(tempfile.gettempdir()).glob(f"{_PREFIX}~*"):
        owner = tagged_owner(folder.name)
        if owner is not None and left_by_the_dead(*owner):
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while workers start, so that they inherit it from their first
    instruction (Ctrl-C reaches the whole process group; the caller handles it and stops
    them). Only the main thread may change handlers; elsewhere the workers ignore it once
    started."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


# ---- in the workers ----------------------------------------------------------------------------
def _serve(conn: Any) -> None:
    """A worker: import what jobs need, then answer (job file, item) messages with (result
    file, None, None) or (None, error, WorkerTraceback) until told to stop (None). When the caller
    is gone (its end of the pipe closed) the worker removes the work folder and exits."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle

    import mosaic.tasks.generate  # noqa: F401  (imported while the caller reads the scene)
    import mosaic.visibility.engine  # noqa: F401

    job: tuple[str, Any] | None = None
    count = itertools.count()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            _orphaned(job)
        if msg is None:
            # nothing is left to flush (results are written and closed): skip freeing the
            # scene and its BVHs one object at a time, which the caller would wait for
            conn.close()
            os._exit(0)
        path, item = msg
        try:
            if job is None or job[0] != path:
                job = None  # drop the previous job before reading the next
                job = (path, read_pickle(path))
            out = os.path.join(os.path.dirname(path), f"result-{os.getpid()}-{next(count)}")
            write_pickle(job[1].run(item), out)
            answer: tuple[Any, Any, Any] = (out, None, None)
        except Exception as exc:  # the caller raises it
            trace = WorkerTraceback("".join(traceback.format_exception(exc)), raised_at(exc))
            answer = (None, _portable(exc), trace)
        try:
            conn.send(answer)
        except OSError:
            _orphaned(job)


def _orphaned(job: tuple[str, Any] | None) -> NoReturn:
    """The caller died: remove the work folder it cannot remove any more, and exit."""
    if job is not None:
        shutil.rmtree(os.path.dirname(job[0]), ignore_errors=True)
    os._exit(0)


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling, else a RuntimeError with its type and text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
