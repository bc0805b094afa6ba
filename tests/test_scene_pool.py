"""The scene pool (mosaic.scene_pool): items computed by spawned workers and this process come
back in order and equal; arrays travel out of band intact; a worker's error or death is raised
here with its cause; closing leaves no process and no file behind."""

from __future__ import annotations

import os
import pickle
import time
from dataclasses import dataclass

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
    obj = {"a": np.arange(10, dtype=np.float32).reshape(2, 5), "b": [np.zeros(3, np.int64)],
           "odd": np.arange(7, dtype=np.int8), "text": "x", "f": np.asfortranarray(
               np.arange(6.0).reshape(2, 3))}
    write_pickle(obj, tmp_path / "o")
    back = read_pickle(tmp_path / "o")
    assert back["text"] == "x" and back["b"][0].dtype == np.int64
    for k in ("a", "odd", "f"):
        assert np.array_equal(back[k], obj[k]) and back[k].dtype == obj[k].dtype
    back["a"][0, 0] = 5  # writable


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
    """SIGINT (Ctrl-C reaches the whole process group) does not kill a worker mid-item: the
    caller decides, and stops the workers when it stops."""
    import signal
    import threading

    with ScenePool(2) as pool:
        worker = pool._procs[0].pid
        threading.Timer(0.8, os.kill, (worker, signal.SIGINT)).start()
        out = pool.run(Squares(delay=0.1), list(range(30)))
    assert [r[0] for r in out] == [i * i for i in range(30)]
    assert worker in {r[1] for r in out}
