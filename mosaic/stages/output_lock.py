"""One writer per output folder.

A run holds ``OutputLock(out)`` from planning to writing the index. The lock is an exclusive
``flock`` on ``<out>/.mosaic-run.lock``: the kernel drops it when the holder dies, so a lock
left by a killed run is taken over by the next run with no cleanup and no guessing. The file
holds the holder's pid, host, start time and command; a second run is refused with them.

Worker processes of the local pool hold a shared lock on ``<out>/.mosaic-workers.lock`` for
their lifetime (``hold_worker_lock``). A new run waits until no worker of an earlier run holds
it (workers of a killed run stop by themselves within a second, see
``mosaic.executors.local``) and refuses if they do not, so it never becomes a second writer.

On file systems without ``flock`` (some NFS or Lustre mounts) the lock falls back to creating
``<out>/.mosaic-run.held`` exclusively; a file whose holder is a dead process on this host is
taken over, one held from another host is reported with its holder.

With the lock held, ``remove_stale_temporaries`` deletes temporary files of writers that are
gone (the temporary names say which host and process wrote them).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import MosaicError
from ..io.shard_writer import temporary_path
from ..process_ids import left_by_the_dead, tagged_owner

LOCK_NAME = ".mosaic-run.lock"
HELD_NAME = ".mosaic-run.held"  # the fallback lock without flock
WORKERS_LOCK_NAME = ".mosaic-workers.lock"
LOCK_FILES = frozenset({LOCK_NAME, HELD_NAME, WORKERS_LOCK_NAME})
ORPHAN_WAIT_S = 10.0  # how long a new run waits for workers of a dead run to stop
HOLDER_WAIT_S = 2.0  # how long a refused run waits for the holder to write its details
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
_WORKER_LOCK_FD: int | None = None  # the shared lock a worker holds until it exits


class OutputLockedError(MosaicError):
    """Another run (or its workers) is writing into the output folder.

    Attributes:
        holder: what the lock file says about the holder (pid, host, started, command).
    """

    def __init__(self, message: str, holder: dict[str, Any] | None = None):
        super().__init__(message)
        self.holder = holder or {}


def _holder_text(holder: dict[str, Any]) -> str:
    if not holder:
        return "a process that left no details"
    started = holder.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(
        started, (int, float)) else "?"
    return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started {when}"
            f" ({holder.get('command', '?')})")


def _read_holder(fd_or_path: int | Path) -> dict[str, Any]:
    try:
        if isinstance(fd_or_path, int):
            os.lseek(fd_or_path, 0, os.SEEK_SET)
            raw = os.read(fd_or_path, 1 << 16)
        else:
            raw = fd_or_path.read_bytes()
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _flock(fd: int, exclusive: bool, blocking: bool) -> bool:
    """Take a flock; False when another holder has it (non-blocking). OSError when the file
    system has no flock."""
    try:
        import fcntl
    except ImportError:  # no flock on this platform: the O_EXCL fallback
        raise OSError(errno.ENOSYS, "flock is not available") from None

    op = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        fcntl.flock(fd, op | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


class OutputLock:
    """Exclusive lock on an output folder for the duration of a run (a context manager).

    Attributes:
        out_dir: the folder (created when missing).
        taken_over: holder details of a run that died holding the lock (empty otherwise).
    """

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self.taken_over: dict[str, Any] = {}
        self._fd: int | None = None
        self._held_file: Path | None = None

    def _info(self) -> bytes:
        return json.dumps({
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "",
        }, sort_keys=True).encode()

    def acquire(self) -> OutputLock:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.out_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            got = _flock(fd, exclusive=True, blocking=False)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in _NO_FLOCK:
                raise
            self._acquire_without_flock()
        else:
            if not got:
                holder = _read_holder(fd)
                # the holder writes its details just after taking the lock: give it a moment
                deadline = time.monotonic() + HOLDER_WAIT_S
                while not holder and time.monotonic() < deadline:
                    time.sleep(0.02)
                    holder = _read_holder(fd)
                os.close(fd)
                raise self._refusal(holder)
            self.taken_over = _read_holder(fd)  # a clean release leaves the file empty
            os.ftruncate(fd, 0)
            os.pwrite(fd, self._info(), 0)
            os.fsync(fd)
            self._fd = fd
        try:
            self._wait_for_orphan_workers()
        except BaseException:
            self.release()
            raise
        return self

    def _refusal(self, holder: dict[str, Any]) -> OutputLockedError:
        return OutputLockedError(
            f"{self.out_dir} is being written by another mosaic run ({_holder_text(holder)}); "
            "wait for it to finish or stop it, or write to another --out. (A run that was "
            "killed releases the folder by itself.)", holder,
        )

    def _acquire_without_flock(self) -> None:
        path = self.out_dir / HELD_NAME
        for _ in range(3):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = _read_holder(path)
                if not left_by_the_dead(holder.get("host"), holder.get("pid")):
                    raise self._refusal(holder) from None
                # stale: move it aside atomically (only one taker's rename succeeds)
                aside = temporary_path(path)
                try:
                    os.rename(path, aside)
                except FileNotFoundError:
                    continue
                self.taken_over = _read_holder(aside)
                aside.unlink(missing_ok=True)
                continue
            os.write(fd, self._info())
            os.fsync(fd)
            os.close(fd)
            self._held_file = path
            return
        raise self._refusal(_read_holder(path))

    def _wait_for_orphan_workers(self) -> None:
        fd = os.open(self.out_dir / WORKERS_LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + ORPHAN_WAIT_S
            while True:
                try:
                    free = _flock(fd, exclusive=True, blocking=False)
                except OSError as exc:
                    if exc.errno in _NO_FLOCK:
                        return
                    raise
                if free:
                    return
                if time.monotonic() > deadline:
                    raise OutputLockedError(
                        f"worker processes of an earlier run still write into {self.out_dir} "
                        f"after {ORPHAN_WAIT_S:.0f} s (see `fuser -v "
                        f"{self.out_dir / WORKERS_LOCK_NAME}`); stop them, then rerun"
                    )
                time.sleep(0.1)
        finally:
            os.close(fd)  # closing drops the probe lock

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)  # empty = released cleanly
            os.close(self._fd)  # closing drops the flock
            self._fd = None
        if self._held_file is not None:
            self._held_file.unlink(missing_ok=True)
            self._held_file = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def hold_worker_lock(out_dir: str | Path) -> None:
    """Hold a shared lock on ``<out>/.mosaic-workers.lock`` until this process exits (called
    in each local pool worker; see ``OutputLock``). A no-op without flock."""
    global _WORKER_LOCK_FD
    if _WORKER_LOCK_FD is not None:
        return
    fd = os.open(Path(out_dir) / WORKERS_LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _flock(fd, exclusive=False, blocking=True)
    except OSError:
        os.close(fd)
        return
    _WORKER_LOCK_FD = fd


def remove_stale_temporaries(out_dir: str | Path) -> list[Path]:
    """Delete temporary files of writers that no longer run (call with the lock held).

    Looks in the folder, ``_chunks/`` and ``images/<scene>/``. A temporary name written on
    this host by a process that is gone is stale; so is an old-style ``<name>.tmp`` (from a
    version whose writers all used one name). Files from other hosts are left alone.
    """
    out = Path(out_dir)
    folders = [out, out / "_chunks"]
    images = out / "images"
    if images.is_dir():
        folders += [p for p in images.iterdir() if p.is_dir()]
    removed = []
    for folder in folders:
        try:
            names = [e.name for e in os.scandir(folder) if e.name.endswith(".tmp")]
        except OSError:
            continue
        for name in names:
            owner = tagged_owner(name)
            if owner is not None and not left_by_the_dead(*owner):
                continue
            with contextlib.suppress(OSError):
                (folder / name).unlink()
                removed.append(folder / name)
    return removed
