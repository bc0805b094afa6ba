"""Cluster executors on one machine: submitit's local executor standing in for SLURM, a local
Ray instance and an existing Ray cluster give the same QA as the local pool; resubmission runs
only missing chunks (deleted, killed); a pre-empted array task is requeued; sbatch parameters
are rendered without SLURM; ``mosaic status``; GPU placement and CPU fallback."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mosaic.cli import main
from mosaic.config import load_config
from mosaic.errors import ConfigError
from mosaic.executors import get_executor
from mosaic.executors.gpu import place_task, select_device
from mosaic.executors.local import LocalExecutor
from mosaic.executors.run_state import (
    append_job_record,
    job_log_path,
    read_job_records,
    run_status,
)
from mosaic.executors.slurm import SlurmExecutor, load_resources, render_sbatch
from mosaic.run import ScenePlan, generate_dataset, plan_chunks, resolve_scenes
from mosaic.synthetic.world import SynthSpec, write_synthetic_dataset

REPO = Path(__file__).resolve().parents[1]
CPU_YAML = REPO / "pipelines" / "slurm" / "scannet-cpu.yaml"
GPU_YAML = REPO / "pipelines" / "slurm" / "scannet-gpu.yaml"
SPEC = SynthSpec(n_frames=18, color_size=(128, 96), depth_size=(64, 48), n_objects=10,
                 target_faces=3000)
OVERRIDES = ["viewsets.frame_step=3", "visibility.max_side=64", "qa.per_type_per_scene=3"]
CHUNK = 2  # two chunks: train (2 scenes) and bench (1 scene)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """Three scenes: two train and one bench (= ScanNet val); the test scene is skipped."""
    root = tmp_path_factory.mktemp("release")
    write_synthetic_dataset(root, n_scenes=3, seed=11, spec=SPEC)
    return root


def _config(release: Path, *extra: str):
    return load_config(None, [*OVERRIDES, f"source.root={release}", *extra])


def _generate(release: Path, out: Path, executor, scene_ids=None, config=None, chunk=CHUNK):
    cfg = config or _config(release)
    plan = resolve_scenes(cfg.source, None, scene_ids)
    return generate_dataset(plan, cfg, out, executor, chunk_size=chunk)


def _qa_lines(out: Path) -> list[str]:
    """Every item's JSON line, from the per-split export files."""
    res = CliRunner().invoke(main, ["export", str(out), "--format", "jsonl",
                                    "--out-dir", str(out / "all")])
    assert res.exit_code == 0, res.output
    lines = [ln for f in sorted((out / "all").glob("jsonl_*.jsonl"))
             for ln in f.read_text().splitlines()]
    return sorted(lines, key=lambda line: json.loads(line)["id"])


def _submitit_local(**kw) -> SlurmExecutor:
    return SlurmExecutor(CPU_YAML, cluster="local", poll_s=0.2, **kw)


@pytest.fixture(scope="module")
def reference(release, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "ds"
    summary = _generate(release, out, LocalExecutor(workers=1))
    assert summary.ok and summary.chunks_total == 2 and summary.qa_total > 0
    return out


@pytest.fixture(scope="module")
def submitit_run(release, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("submitit") / "ds"
    events: list[dict] = []
    cfg = _config(release)
    plan = resolve_scenes(cfg.source, None)
    summary = generate_dataset(plan, cfg, out, _submitit_local(), chunk_size=CHUNK,
                               on_event=events.append)
    assert summary.ok, summary.chunk_errors
    assert sorted(e["scene"] for e in events if e["event"] == "scene") == [
        "scene0000_00", "scene0001_00", "scene0002_00"]
    return out


def test_submitit_local_matches_local_executor(reference, submitit_run):
    assert _qa_lines(submitit_run) == _qa_lines(reference)
    records = read_job_records(submitit_run)
    submitted = [r for r in records if r["event"] == "submitted"]
    assert sorted(r["shard"] for r in submitted) == [
        "bench-00000-of-00001.h5", "train-00000-of-00001.h5"]
    assert all(r["executor"] == "slurm" and r["cluster"] == "local" for r in submitted)
    assert sum(r["event"] == "finished" for r in records) == 2
    for r in submitted:  # submitit's logs land under OUT/_logs/
        assert Path(r["stdout"]).parent == submitit_run / "_logs" / "submitit"
        assert "chunk " + r["shard"] + ": finished" in Path(r["stderr"]).read_text()
    res = CliRunner().invoke(main, ["status", str(submitit_run)])
    assert res.exit_code == 0, res.output
    assert "2 chunks: 2 done, 0 running, 0 failed, 0 pending" in res.output
    assert "merged" in res.output and "not merged" not in res.output


def test_resubmission_runs_only_the_missing_chunk(release, reference, submitit_run, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(submitit_run, out)
    lost = "bench-00000-of-00001.h5"
    (out / lost).unlink()
    (out / "_chunks" / f"{lost}.json").unlink()
    (out / "index.json").unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("*.h5")}
    n_before = len(read_job_records(out))
    ex = _submitit_local()
    cfg = _config(release)
    tasks = plan_chunks(resolve_scenes(cfg.source, None), cfg, out, CHUNK)
    assert "#SBATCH --array=0-0%1" in ex.dry_run(tasks)  # one array task: the lost chunk
    summary = _generate(release, out, ex)
    assert summary.ok and summary.chunks_resumed == 1
    new = read_job_records(out)[n_before:]
    assert [r["shard"] for r in new if r["event"] == "submitted"] == [lost]
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.h5") if p.name in kept} == kept
    assert _qa_lines(out) == _qa_lines(reference)


def test_ray_local_instance_matches_local_executor(release, reference, tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'mosaic[ray]'")
    out = tmp_path / "ds"
    executor = get_executor("ray", workers=2)
    summary = _generate(release, out, executor)
    assert summary.ok, summary.chunk_errors
    assert _qa_lines(out) == _qa_lines(reference)
    records = read_job_records(out)
    assert sorted(r["shard"] for r in records if r["event"] == "finished") == sorted(
        p.name for p in out.glob("*.h5"))
    st = run_status(out)
    assert st.counts()["done"] == 2 and {c.executor for c in st.chunks} == {"ray"}


def test_sbatch_parameters_rendered_without_slurm(tmp_path):
    cpu, gpu = load_resources(CPU_YAML), load_resources(GPU_YAML)
    script = render_sbatch(cpu, 379, tmp_path / "logs")
    flags = {ln.split("=", 1)[0]: ln.split("=", 1)[1] for ln in script.splitlines()
             if ln.startswith("#SBATCH --") and "=" in ln}
    assert flags["#SBATCH --array"] == f"0-378%{cpu.array_parallelism}"
    assert flags["#SBATCH --partition"] == cpu.partition
    assert flags["#SBATCH --time"] == str(cpu.timeout_min)
    assert flags["#SBATCH --mem"] == f"{int(cpu.mem_gb)}GB"
    assert flags["#SBATCH --cpus-per-task"] == str(cpu.cpus_per_task)
    assert flags["#SBATCH --signal"] == f"USR2@{cpu.signal_delay_s}"  # checkpoint + requeue
    assert "#SBATCH --gpus-per-node" not in flags
    assert flags["#SBATCH --output"] == str(tmp_path / "logs" / "%A_%a_0_log.out")
    script = render_sbatch(gpu, 5, tmp_path / "logs")
    assert f"#SBATCH --gpus-per-node={gpu.gpus_per_node}" in script
    assert f"#SBATCH --array=0-4%{min(5, gpu.array_parallelism)}" in script
    assert "submitit.core._submit" in script
    # the same parameters configure submitit's executor (max requeues after time-outs)
    ex = SlurmExecutor(gpu, cluster="local").make_executor(tmp_path / "sub")
    assert ex.cluster == "local" and ex._executor.max_num_timeout == gpu.retries
    assert ex.parameters["gpus_per_node"] == gpu.gpus_per_node
    assert ex.parameters["timeout_min"] == gpu.timeout_min


def test_resource_file_errors_name_the_key(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("partition: cpu\ncpus: 4\n")
    with pytest.raises(ConfigError, match="unknown keys cpus; valid: .*cpus_per_task"):
        load_resources(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_resources(tmp_path / "missing.yaml")
    bad.write_text("timeout_min: 0\n")
    with pytest.raises(ConfigError, match="timeout_min must be >= 1"):
        load_resources(bad)


def test_failed_chunk_and_failed_scene_in_status(release, tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    # Unknown scenes fail inside their chunk (recorded in its marker); a directory where
    # chunk 0's shard must go makes that chunk's job itself fail when it writes.
    blocked = out / "train-00000-of-00002.h5"
    blocked.mkdir()
    ids = ["scene9998_00", "scene9999_00"]
    cfg = load_config(None, [*OVERRIDES, "visibility.backend=warp"])
    first = _generate(release, out, LocalExecutor(workers=1), scene_ids=ids, config=cfg, chunk=1)
    assert len(first.chunk_errors) == 1 and first.chunks_total == 2
    local = run_status(out).chunks[0]  # the local pool's crash, from failures.json
    assert local.state == "failed" and "failures.json" in local.cause and local.scenes == 1
    # Resubmit chunk 0 as a GPU array task (the GPU resource file) on submitit's local
    # executor; this machine has no GPU, so the task must fall back to the CPU and say so.
    gpu = SlurmExecutor(GPU_YAML, cluster="local", poll_s=0.2)
    summary = _generate(release, out, gpu, scene_ids=ids, config=cfg, chunk=1)
    assert summary.chunks_resumed == 1 and len(summary.chunk_errors) == 1
    st = {c.shard: c for c in run_status(out).chunks}
    bad = st[blocked.name]
    assert bad.state == "failed" and bad.executor == "slurm" and len(bad.logs) == 2
    assert "IsADirectoryError" in bad.cause or "Is a directory" in bad.cause
    assert "visibility on the CPU: no GPU visible" in Path(bad.logs[1]).read_text()
    done = st["train-00001-of-00002.h5"]
    assert done.state == "done" and done.failed_scenes[0]["scene"] == "scene9999_00"
    res = CliRunner().invoke(main, ["status", str(out)])
    assert res.exit_code == 3, res.output
    assert "1 done, 0 running, 1 failed, 0 pending; 1 scenes failed" in res.output
    assert f"failed   {blocked.name} job " in res.output and bad.cause in res.output
    assert "scene scene9999_00" in res.output and f"log: {bad.logs[1]}" in res.output
    # without the driver's outcome record, the cause comes from submitit's result pickle
    log = job_log_path(out)
    log.write_text("".join(ln + "\n" for ln in log.read_text().splitlines()
                           if json.loads(ln)["event"] != "failed"))
    again = run_status(out).chunks[0]
    assert again.state == "failed" and again.cause == bad.cause
    as_json = json.loads(CliRunner().invoke(main, ["status", str(out), "--json"]).output)
    assert as_json["counts"] == {"done": 1, "failed": 1, "pending": 0, "running": 0}


def test_status_running_interrupted_and_pending(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    append_job_record(out, {"event": "submitted", "executor": "ray", "job_id": "a1",
                            "shard": "train-00000-of-00003.h5"})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    append_job_record(out, {"event": "submitted", "executor": "ray", "job_id": "b2",
                            "shard": "train-00001-of-00003.h5"})
    log = job_log_path(out)
    lines = log.read_text().splitlines()
    rec = json.loads(lines[-1])
    rec["driver_pid"] = dead.pid  # submitted by a driver that has since ended
    log.write_text(lines[0] + "\n" + json.dumps(rec) + "\n")
    st = {c.shard: c for c in run_status(out).chunks}
    assert st["train-00000-of-00003.h5"].state == "running"  # this process is its driver
    assert st["train-00001-of-00003.h5"].state == "failed"
    assert "interrupted" in st["train-00001-of-00003.h5"].cause
    assert st["train-00002-of-00003.h5"].state == "pending"  # never submitted


def test_gpu_placement_by_local_rank_and_cpu_fallback(caplog):
    assert select_device(env={"SLURM_LOCALID": "2"}, n_devices=4).device == "cuda:2"
    one = select_device(env={"SLURM_LOCALID": "3", "CUDA_VISIBLE_DEVICES": "5"}, n_devices=1)
    assert one.device == "cuda:0"  # SLURM bound one GPU to this task
    off = select_device(env={"CUDA_VISIBLE_DEVICES": ""}, n_devices=None)
    assert off.device == "cpu" and "CUDA_VISIBLE_DEVICES" in off.reason
    # this machine has no GPU: warp itself reports none
    assert select_device(env={}).device == "cpu"
    cfg = load_config(None, ["visibility.backend=warp"])
    task = plan_chunks(ScenePlan({"train": ["s"]}), cfg, "/o", 1)[0]
    with caplog.at_level(logging.INFO, logger="mosaic"):
        placed = place_task(task, env={"SLURM_LOCALID": "1"}, n_devices=2)
        fallback = place_task(task, env={"CUDA_VISIBLE_DEVICES": "-1"})
    assert placed.config.visibility.device == "cuda:1"
    assert fallback.config.visibility.device == "cpu"
    assert any(r.levelno == logging.WARNING and "no GPU visible" in r.getMessage()
               for r in caplog.records)
    embree = plan_chunks(ScenePlan({"train": ["s"]}), load_config(None, []), "/o", 1)[0]
    assert place_task(embree, env={}, n_devices=2) is embree  # only warp uses a GPU


def test_checkpoint_requeues_the_same_chunk_and_a_done_chunk_is_not_redone(release, tmp_path):
    from mosaic.executors.slurm import ChunkJob
    from mosaic.stages.chunk import run_chunk

    out = tmp_path / "ds"
    plan = ScenePlan({"train": ["scene9999_00"]})  # fails fast inside the chunk: no scene data
    task = plan_chunks(plan, _config(release), out, 1)[0]
    job = ChunkJob(run_chunk, task)
    requeued = job.checkpoint()  # what submitit pickles and requeues on SIGUSR2 / preemption
    assert requeued.function is not job and requeued.function.task == task
    marker, events = requeued.result()
    assert marker["failed"][0]["scene"] == "scene9999_00" and task.is_done()
    assert events == [{"event": "scene", "scene": "scene9999_00", "ok": False, "views": 0}]
    stamp = task.marker_path.stat().st_mtime_ns
    again, events = job()  # a requeued task whose chunk already finished does nothing
    assert again == marker and events == [] and task.marker_path.stat().st_mtime_ns == stamp


def _chunk_after_go_file(task, emit):
    """run_chunk once ``<out>/go`` exists: holds the job so the test can pre-empt it."""
    import time

    from mosaic.stages.chunk import run_chunk

    go = Path(task.out_dir) / "go"
    while not go.exists():
        time.sleep(0.05)
    return run_chunk(task, emit)


def test_preempted_array_task_is_requeued_and_finishes(release, tmp_path):
    import time

    import cloudpickle

    from mosaic.executors.slurm import ChunkJob

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # jobs cannot import tests/
    out = tmp_path / "ds"
    plan = ScenePlan({"train": ["scene9999_00"]})
    task = plan_chunks(plan, _config(release), out, 1)[0]
    ex = _submitit_local().make_executor(out / "_logs" / "submitit")
    (job,) = ex.submit_array([ChunkJob(_chunk_after_go_file, task)])
    err, log = Path(str(job.paths.stderr)), Path(str(job.paths.stdout))
    deadline = time.monotonic() + 60
    started = re.compile(r"chunk " + re.escape(task.shard_name) + r": start \(pid (\d+)")
    while not (m := started.search(err.read_text() if err.exists() else "")):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.1)
    try:
        os.kill(int(m.group(1)), signal.SIGUSR2)  # what SLURM sends before pre-empting a task
        while "Requeued job" not in log.read_text() + err.read_text():
            assert time.monotonic() < deadline, "the job was not requeued"
            time.sleep(0.1)
    finally:
        (out / "go").touch()  # never leave the job waiting
    marker, _events = job.result()
    assert "this job is preempted" in log.read_text() + err.read_text()
    assert len(started.findall(err.read_text())) == 2  # the same chunk ran again
    assert marker["failed"][0]["scene"] == "scene9999_00" and task.is_done()


def test_killed_task_shows_as_failed_and_resubmission_runs_only_it(release, tmp_path):
    import threading
    import time

    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # jobs cannot import tests/
    out = tmp_path / "ds"
    ids = ["scene9998_00", "scene9999_00"]  # no data: each chunk records its scene as failed
    tasks = plan_chunks(ScenePlan({"train": ids}), _config(release), out, 1)
    results: dict[str, object] = {}

    def drive() -> None:
        for task, result in _submitit_local().run(_chunk_after_go_file, tasks):
            results[task.shard_name] = result

    driver = threading.Thread(target=drive)
    driver.start()
    victim = tasks[1].shard_name
    started = re.compile(r"chunk " + re.escape(victim) + r": start \(pid (\d+)")
    deadline = time.monotonic() + 60
    try:
        while True:
            recs = {r["shard"]: r for r in read_job_records(out) if r["event"] == "submitted"}
            err = Path(recs[victim]["stderr"]) if victim in recs else None
            if err is not None and err.exists() and (m := started.search(err.read_text())):
                break
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.1)
        os.kill(int(m.group(1)), signal.SIGKILL)  # the node dies under the task
    finally:
        (out / "go").touch()
        driver.join(60)
    assert tasks[0].is_done() and not tasks[1].is_done()
    assert isinstance(results[victim], Exception)
    st = {c.shard: c for c in run_status(out).chunks}
    assert st[victim].state == "failed" and "has not produced any output" in st[victim].cause
    assert st[tasks[0].shard_name].state == "done"
    # resubmitting through the driver runs the killed chunk only
    n_before = len(read_job_records(out))
    summary = _generate(release, out, _submitit_local(), scene_ids=ids, chunk=1)
    assert summary.chunks_resumed == 1 and not summary.chunk_errors
    new = [r for r in read_job_records(out)[n_before:] if r["event"] == "submitted"]
    assert [r["shard"] for r in new] == [victim]
    assert {c.state for c in run_status(out).chunks} == {"done"}


def test_short_causes_of_failed_jobs():
    from submitit.core.utils import FailedJobError, UncompletedJobError

    from mosaic.executors.base import failure_cause

    oom = UncompletedJobError("Job 12_3 (task: 0) with path /o/12_3_0_result.pkl\n"
                              "has not produced any output (state: OUT_OF_MEMORY)\n"
                              "Error stream produced:\n" + "-" * 40 + "\noom-kill event")
    assert failure_cause(oom).endswith("has not produced any output (state: OUT_OF_MEMORY)")
    trace = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: bad mesh"
    failed = FailedJobError(f"Job (task=0) failed during processing with trace:\n{'-' * 22}\n"
                            f"{trace}\n{'-' * 22}\nYou can check full logs at paths:\n  - /a.err")
    assert failure_cause(failed) == "ValueError: bad mesh"


def test_ray_executor_on_an_existing_cluster_address(release, reference, tmp_path):
    """A Ray instance started here stands in for a cluster; a separate driver process
    connects to it by address (``--ray-address``) and must give the reference content."""
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'mosaic[ray]'")
    out = tmp_path / "ds"
    ctx = ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        address = ctx.address_info["gcs_address"]
        driver = (
            "from mosaic.config import load_config\n"
            "from mosaic.executors import get_executor\n"
            "from mosaic.run import generate_dataset, resolve_scenes\n"
            f"cfg = load_config(None, {[*OVERRIDES, f'source.root={release}']!r})\n"
            "plan = resolve_scenes(cfg.source, None)\n"
            f"ex = get_executor('ray', address={address!r})\n"
            f"s = generate_dataset(plan, cfg, {str(out)!r}, ex, chunk_size={CHUNK})\n"
            "assert s.ok, s.chunk_errors\n"
        )
        done = subprocess.run([sys.executable, "-c", driver], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        ray.shutdown()
    assert _qa_lines(out) == _qa_lines(reference)
    records = [r for r in read_job_records(out) if r["event"] == "submitted"]
    assert {r["address"] for r in records} == {address} and len(records) == 2
