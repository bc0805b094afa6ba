"""The scene pool (mosaic.scene_pool): items computed by spawned workers and this process come
back in order and equal; arrays travel out of band intact; a worker's error or death is raised
here with its cause; closing leaves no process and no file behind."""

from __future__ import annotations

import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from process_helpers import alive

from mosaic.errors import CorruptDataError, DatasetRootError, SceneDataError, UnknownNameError
from mosaic.scene_pool import ScenePool, WorkerDied, read_pickle, write_pickle


@dataclass
class Squares:
    """Square each item; report the process that did it; optionally fail or die on one."""

    delay: float = 0.0
    fail_on: int = -1
    die_on: int = -1

    def run(self, item: int) -> tuple[int, int, np.ndarray]:
        time.sleep(self.delay)
        if item == self.fail_on and os.getpid() != self.caller:
            raise CorruptDataError("scene0007_00", "/data/x.sens", "truncated frame 3",
                                   "download the scene again")
        if item == self.die_on and os.getpid() != self.caller:
            os._exit(3)
        return item * item, os.getpid(), np.full((4, 5), item, np.int32)

    def __post_init__(self) -> None:
        self.caller = os.getpid()


def test_items_come_back_in_order_from_workers_and_this_process():
    job = Squares(delay=0.05)
    seen: list[int] = []
    with ScenePool(2) as pool:
        out = pool.run(job, list(range(12)), done=lambda r: seen.append(r[0]))
        folder = pool._folder
        workers = [p.pid for p in pool._procs]
    assert [r[0] for r in out] == [i * i for i in range(12)]
    assert sorted(seen) == sorted(r[0] for r in out)
    pids = {r[1] for r in out}
    assert os.getpid() in pids and pids & set(workers), "both processes took items"
    for i, (_, _, arr) in enumerate(out):
        assert arr.flags.writeable and np.array_equal(arr, np.full((4, 5), i))
    assert folder is not None and not folder.exists()
    assert not any(alive(pid) for pid in workers)


def test_one_process_pool_computes_here():
    with ScenePool(1) as pool:
        out = pool.run(Squares(), [3, 4])
    assert [r[:2] for r in out] == [(9, os.getpid()), (16, os.getpid())]


def test_a_workers_error_is_raised_here_with_its_cause():
    job = Squares(delay=0.05, fail_on=5)
    with pytest.raises(CorruptDataError) as err, ScenePool(2) as pool:
        workers = [p.pid for p in pool._procs]
        # every item goes to the worker until it has two; item 5 may run here (no error)
        pool.run(job, [5] * 8)
    assert err.value.as_record()["file"] == "/data/x.sens"
    assert "scene0007_00" in str(err.value) and "download the scene again" in str(err.value)
    assert not any(alive(pid) for pid in workers)


def test_a_dead_worker_is_reported_not_waited_for():
    with pytest.raises(WorkerDied, match="exit code 3"), ScenePool(2) as pool:
        pool.run(Squares(delay=0.05, die_on=1), [1] * 8)


def test_out_of_band_pickles_round_trip(tmp_path):
    # small arrays travel in the stream, large ones out of band: odd sizes test the padding
    obj = {"a": np.arange(10, dtype=np.float32).reshape(2, 5), "b": [np.zeros(3, np.int64)],
           "odd": np.arange((1 << 16) + 3, dtype=np.int8), "text": "x", "f": np.asfortranarray(
               np.arange(20000.0).reshape(100, 200)), "after": np.arange(9000, dtype=np.int64)}
    write_pickle(obj, tmp_path / "o")
    with open(tmp_path / "o", "rb") as fh:  # the header lists the out-of-band buffers
        _, sizes = pickle.loads(fh.read(int.from_bytes(fh.read(8), "little")))
    assert sizes == [obj[k].nbytes for k in ("odd", "f", "after")]
    back = read_pickle(tmp_path / "o")
    assert back["text"] == "x" and back["b"][0].dtype == np.int64
    for k in ("a", "odd", "f", "after"):
        assert np.array_equal(back[k], obj[k]) and back[k].dtype == obj[k].dtype
    for k in ("a", "odd", "f", "after"):
        back[k].flat[0] = 5  # writable, the out-of-band ones included

    def held_by(a: np.ndarray) -> object:  # the object whose memory an array lies in
        while isinstance(a.base, np.ndarray):
            a = a.base
        return a.base.obj

    assert held_by(back["odd"]) is held_by(back["after"])  # one buffer read, no copies


@pytest.mark.parametrize("error", [
    SceneDataError("s1", "/p", "cause", "hint"),
    CorruptDataError("s1", None, "cause"),
    DatasetRootError("no scans/ folder", "/root"),
    UnknownNameError("question type", "nope", ["a", "b"]),
])
def test_errors_survive_pickling(error):
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and str(back) == str(error)
    assert getattr(back, "path", None) == getattr(error, "path", None)


def test_ctrl_c_is_the_callers_to_handle():
    """SIGINT (Ctrl-C reaches the whole process group) does not kill a worker, during its
    start-up or mid-item: the caller decides, and stops the workers when it stops."""
    import signal
    import threading

    with ScenePool(2) as pool:
        worker = pool._procs[0].pid
        os.kill(worker, signal.SIGINT)  # at once: still starting up
        first = pool.run(Squares(delay=0.05), list(range(8)))
        threading.Timer(0.2, os.kill, (worker, signal.SIGINT)).start()
        out = pool.run(Squares(delay=0.1), list(range(12)))
    assert [r[0] for r in first] == [i * i for i in range(8)]
    assert [r[0] for r in out] == [i * i for i in range(12)]
    assert worker in {r[1] for r in out}


def test_a_worker_that_dies_idle_is_reported():
    import signal

    with pytest.raises(WorkerDied, match="exit code -9"), ScenePool(2) as pool:
        pool.run(Squares(), list(range(4)))
        os.kill(pool._procs[0].pid, signal.SIGKILL)
        pool._procs[0].join()
        pool.run(Squares(), list(range(4)))


def test_a_workers_error_carries_its_traceback_into_the_failure_record():
    from mosaic.scene_pool import WorkerTraceback
    from mosaic.stages.failures import failure_record

    with pytest.raises(ZeroDivisionError) as err, ScenePool(2) as pool:
        pool.run(Divide(), [1, 0, 2, 0, 3, 0])
    cause = err.value.__cause__
    assert isinstance(cause, WorkerTraceback) and "ZeroDivisionError" in str(cause)
    assert cause.where and cause.where.endswith(f"test_scene_pool.py:{Divide.LINE}")
    assert failure_record("s", err.value)["hint"].endswith(cause.where)


@dataclass
class Divide:
    LINE = 0

    def run(self, item: int) -> float:
        if os.getpid() == self.caller:
            time.sleep(0.2)  # the worker meets its zero first
            return 0.0
        return 1 / item  # the line the record names

    def __post_init__(self) -> None:
        self.caller = os.getpid()


Divide.LINE = Divide.run.__code__.co_firstlineno + 4


def test_a_short_list_is_shared_with_the_caller():
    with ScenePool(2) as pool:
        out = pool.run(Squares(delay=0.2), [1, 2])
    pids = {r[1] for r in out}
    assert os.getpid() in pids and len(pids) == 2


def test_workers_of_a_killed_caller_clean_up_and_exit(tmp_path):
    """The caller dies without closing its pool (killed): its workers notice the closed
    pipe, remove the work folder and exit."""
    import subprocess
    import sys

    script = tmp_path / "killed.py"
    script.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from mosaic.scene_pool import ScenePool\n"
        "from test_scene_pool import Squares\n"
        "if __name__ == '__main__':\n"
        "    pool = ScenePool(3)\n"
        "    pool.run(Squares(), list(range(6)))\n"
        "    pool._write_job(Squares())\n"
        "    print(pool._folder, *[p.pid for p in pool._procs], flush=True)\n"
        "    os._exit(0)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60).stdout.split()
    folder, pids = Path(out[0]), [int(p) for p in out[1:]]
    assert len(pids) == 2
    deadline = time.time() + 10
    while time.time() < deadline and (folder.exists() or any(alive(p) for p in pids)):
        time.sleep(0.1)
    assert not folder.exists() and not any(alive(p) for p in pids)


def test_folders_of_dead_owners_are_removed(tmp_path, monkeypatch):
    """A pool whose owner was killed leaves its folder; the next pool on the host removes it
    (and only folders of dead processes)."""
    import subprocess
    import sys
    import tempfile

    from mosaic.process_ids import host_token

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    host = host_token()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    left = tmp_path / f"mosaic-scene-pool.~{host}~{dead}~abc"
    mine = tmp_path / f"mosaic-scene-pool.~{host}~{os.getpid()}~def"
    for folder in (left, mine):
        folder.mkdir()
        (folder / "job-0.pickle").write_bytes(b"x")
    with ScenePool(2) as pool:
        pool.run(Squares(), list(range(4)))
        assert pool._folder is not None and pool._folder.parent == tmp_path
    assert not left.exists() and mine.exists()


def test_a_cut_work_file_is_an_error(tmp_path):
    write_pickle({"a": np.arange(20000)}, tmp_path / "w")  # out of band: cut in its bytes
    data = (tmp_path / "w").read_bytes()
    (tmp_path / "w").write_bytes(data[:-100])
    with pytest.raises(OSError, match="shorter than its header"):
        read_pickle(tmp_path / "w")


def test_a_daemonic_caller_computes_alone():
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as p:
        assert p.apply(_pool_in_daemon) == 1


def _pool_in_daemon() -> int:
    with ScenePool(3) as pool:
        pool.run(Squares(), [1, 2, 3])
        return pool.workers


@dataclass
class Tagged:
    """A second kind of job: a worker must not answer it with the job it read before."""

    tag: str

    def run(self, item: int) -> str:
        time.sleep(0.02)
        return f"{self.tag}{item}"


def test_one_pool_runs_one_job_after_another():
    with ScenePool(2) as pool:
        first = pool.run(Tagged("a"), list(range(6)))
        second = pool.run(Tagged("b"), list(range(6)))
        third = pool.run(Squares(), list(range(6)))
    assert first == [f"a{i}" for i in range(6)] and second == [f"b{i}" for i in range(6)]
    assert [r[0] for r in third] == [i * i for i in range(6)]


def test_a_full_temporary_folder_points_at_tmpdir():
    """Work files fill the temporary folder: the message says TMPDIR, not --out."""
    import errno
    import tempfile

    from mosaic.errors import os_error_message

    work = Path(tempfile.gettempdir()) / "mosaic-scene-pool.~h~1~x" / "job-0.pickle"
    full = os_error_message(OSError(errno.ENOSPC, "No space left on device", str(work)))
    assert "TMPDIR" in full and "--out" not in full
    out = os_error_message(OSError(errno.ENOSPC, "No space left on device",
                                   "/data/out/train-00000-of-00001.h5"))
    assert "--out" in out and "TMPDIR" not in out
