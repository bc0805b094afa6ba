"""One writer per output and safe resumption, triggered as a user would: two runs into one
--out, a stale lock, signals to the driver (no orphan worker), writer-unique temporary files,
resuming with another root or changed inputs, and failures that pass retried by a rerun."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from process_helpers import alive, pool_workers, without_privileges
from release_fixtures import generate_args
from release_fixtures import jsonl_lines as _jsonl

from mosaic.cli import main
from mosaic.io.shard_writer import temporary_path
from mosaic.stages import output_lock

LINUX = Path("/proc/self/stat").is_file()


def _generate(root: Path, out: Path, *extra: str):
    return CliRunner().invoke(main, generate_args(root, out, *extra))


def _command(root: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mosaic", *generate_args(root, out, *extra)]


def _wait_for_workers(proc: subprocess.Popen, n: int = 2, timeout: float = 120) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        found = pool_workers(proc.pid)
        if len(found) >= n:
            return found
        time.sleep(0.05)
    raise AssertionError("the driver never started its workers (or finished first)")


# ---- one writer per output ---------------------------------------------------------------
def test_two_concurrent_runs_one_is_refused_with_the_holder(release, reference, tmp_path):
    out = tmp_path / "ds"
    procs = [subprocess.Popen(_command(release, out), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 1], outputs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    refusal = outputs[loser]
    assert "being written by another mosaic run" in refusal, refusal
    assert f"pid {procs[winner].pid} on host {socket.gethostname()}" in refusal
    assert "Traceback" not in refusal
    assert _jsonl(out) == reference[1]
    assert CliRunner().invoke(main, ["validate", str(out)]).exit_code == 0


def test_a_lock_left_by_a_dead_run_is_taken_over(release, reference, tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / output_lock.LOCK_NAME).write_text(json.dumps(
        {"pid": dead.pid, "host": socket.gethostname(), "started": time.time(),
         "command": "mosaic generate"}))
    res = _generate(release, out)
    assert res.exit_code == 0, res.output
    assert "took over" in res.output and f"pid {dead.pid}" in res.output
    assert (out / output_lock.LOCK_NAME).read_text() == ""  # released cleanly
    assert _jsonl(out) == reference[1]


@pytest.mark.parametrize("holder_alive", [False, True])
def test_without_flock_a_stale_lock_is_taken_over_and_a_live_one_refused(
        release, reference, tmp_path, monkeypatch, holder_alive):
    def no_flock(*_a, **_k):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(output_lock, "_flock", no_flock)
    out = tmp_path / "ds"
    out.mkdir()
    if holder_alive:
        pid = os.getpid()
    else:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        pid = dead.pid
    (out / output_lock.HELD_NAME).write_text(json.dumps(
        {"pid": pid, "host": socket.gethostname(), "started": time.time(), "command": "x"}))
    res = _generate(release, out)
    if holder_alive:
        assert res.exit_code == 1 and f"pid {pid}" in res.output, res.output
        assert not (out / "plan.json").exists()
    else:
        assert res.exit_code == 0 and "took over" in res.output, res.output
        assert not (out / output_lock.HELD_NAME).exists()  # released
        assert _jsonl(out) == reference[1]


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_workers_of_a_run_still_alive_keep_a_new_run_out(release, tmp_path, monkeypatch):
    out = tmp_path / "ds"
    out.mkdir()
    code = ("import sys, time; from mosaic.stages.output_lock import hold_worker_lock; "
            "hold_worker_lock(sys.argv[1]); print('ready', flush=True); time.sleep(120)")
    orphan = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert orphan.stdout.readline().strip() == "ready"
        monkeypatch.setattr(output_lock, "ORPHAN_WAIT_S", 0.5)
        res = _generate(release, out)
        assert res.exit_code == 1 and "worker processes of an earlier run" in res.output
    finally:
        orphan.kill()
        orphan.wait()
    assert _generate(release, out).exit_code == 0


@pytest.mark.skipif(not LINUX, reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_the_driver_and_its_workers(release, reference, tmp_path, sig):
    out = tmp_path / "ds"
    proc = subprocess.Popen(_command(release, out, "--workers", "2"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    workers = _wait_for_workers(proc)
    start = time.monotonic()
    proc.send_signal(sig)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 128 + sig, output
    assert time.monotonic() - start < 15
    assert f"interrupted by {signal.Signals(sig).name}" in output
    assert "Traceback" not in output and "leaked" not in output, output
    deadline = time.monotonic() + 5
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [w for w in workers if alive(w)], "orphan workers"
    res = _generate(release, out)
    assert res.exit_code == 0, res.output
    assert _jsonl(out) == reference[1]


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_sigkill_of_the_driver_takes_its_workers_along(release, reference, tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.Popen(_command(release, out, "--workers", "2"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = _wait_for_workers(proc)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 5
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [w for w in workers if alive(w)], "workers outlived their driver"
    res = _generate(release, out, "--workers", "2")  # an immediate rerun is the only writer
    assert res.exit_code == 0, res.output
    assert _jsonl(out) == reference[1]


def test_temporary_names_are_unique_and_stale_ones_are_cleaned(release, reference, tmp_path):
    target = tmp_path / "x.h5"
    names = {temporary_path(target).name for _ in range(50)}
    assert len(names) == 50 and all(f"~{os.getpid()}~" in n for n in names)
    out = tmp_path / "ds"
    shutil.copytree(reference[0], out)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    stale = out / f"train-00000-of-00003.h5.~{host}~{dead.pid}~abcd.tmp"
    live = out / f"train-00000-of-00003.h5.~{host}~{os.getpid()}~abcd.tmp"
    legacy = out / "_chunks" / "train-00000-of-00003.h5.json.tmp"
    for p in (stale, live, legacy):
        p.write_bytes(b"partial")
    res = _generate(release, out)
    assert res.exit_code == 0, res.output
    assert not stale.exists() and not legacy.exists()
    assert live.exists()  # its writer (this process) still runs


# ---- resuming against the same inputs ------------------------------------------------------
def test_resuming_with_another_root_is_refused(release, reference, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(reference[0], out)
    other = tmp_path / "other"
    shutil.copytree(release, other)
    index = (out / "index.json").read_bytes()
    res = _generate(other, out)
    assert res.exit_code == 1, res.output
    assert f"generated from --root {release.resolve()}" in res.output
    assert str(other.resolve()) in res.output and "mix two sources" in res.output
    assert (out / "index.json").read_bytes() == index


def test_changed_inputs_of_a_written_scene_are_refused(release, reference, tmp_path):
    root = tmp_path / "release"
    shutil.copytree(release, root)
    out = tmp_path / "ds"
    assert _generate(root, out).exit_code == 0
    meta = root / "scans/scene0001_00/scene0001_00.txt"
    meta.write_text(meta.read_text() + "\n")  # any change of a written scene's input files
    res = _generate(root, out)
    assert res.exit_code == 1 and "scene0001_00" in res.output, res.output
    assert "changed since" in res.output
    shard = json.loads((out / "_chunks/train-00001-of-00003.h5.json").read_text())
    assert shard["done"] == ["scene0001_00"]
    (out / "train-00001-of-00003.h5").unlink()  # what the message says to do
    (out / "_chunks/train-00001-of-00003.h5.json").unlink()
    res = _generate(root, out)
    assert res.exit_code == 0, res.output
    assert _jsonl(out) == reference[1]


def test_a_bad_input_failure_stays_recorded_until_its_files_change(release, reference,
                                                                   tmp_path):
    root = tmp_path / "release"
    shutil.copytree(release, root)
    agg = root / "scans/scene0002_00/scene0002_00.aggregation.json"
    saved = agg.read_bytes()
    agg.unlink()
    out = tmp_path / "ds"
    res = _generate(root, out)
    assert res.exit_code == 3 and "MissingDataError" in res.output, res.output
    assert "-> download it with download-scannet.py" in res.output  # the FAILED line's hint
    res = _generate(root, out)  # unchanged input: the failure stays, nothing is redone
    assert res.exit_code == 3 and "retrying" not in res.output and "4 resumed" in res.output
    agg.write_bytes(saved)
    res = _generate(root, out)
    assert res.exit_code == 0, res.output
    assert "retrying scene0002_00: its input files changed since it failed" in res.output
    assert _jsonl(out) == reference[1]


def test_a_permission_failure_is_retried_by_the_next_run(release, reference, tmp_path):
    root = tmp_path / "release"
    shutil.copytree(release, root)
    folder = root / "scans/scene0001_00"
    out = tmp_path / "ds"
    folder.chmod(0)
    try:
        first = subprocess.run(without_privileges(_command(root, out)), capture_output=True,
                               text=True)
        assert first.returncode == 3, first.stdout + first.stderr
        assert "FAILED scene0001_00" in first.stderr and "PermissionError" in first.stderr
        assert "this may pass" in first.stderr and "Traceback" not in first.stderr
        again = subprocess.run(without_privileges(_command(root, out)), capture_output=True,
                               text=True)
        assert again.returncode == 3
        assert "retrying scene0001_00: it failed for a cause that may pass" in again.stderr
    finally:
        folder.chmod(0o755)
    res = _generate(root, out)
    assert res.exit_code == 0 and "retrying scene0001_00" in res.output, res.output
    assert _jsonl(out) == reference[1]
