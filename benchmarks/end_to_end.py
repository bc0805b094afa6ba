"""End-to-end throughput of the default pipeline on synthetic scenes in the ScanNet layout.

Scenes (``--scene``):

* ``builtin``: the built-in synthetic scenes (``--scenes`` train/val rooms of ``--frames``
  frames, as ``mosaic dataset`` writes them), pipelines/synthetic.yaml;
* ``scannet-size``: one real-size scan (``SCANNET_SIZE_SPEC``: ~160k faces, 100 objects, a
  5,500-frame hand-held walk; every 10th frame labelled), pipelines/scannet.yaml. Writing it
  renders 5,500 frames (about 6 CPU-minutes): give ``--cache DIR`` to keep it between runs.

Reports the share of time per stage:

* read: loading the scene (mesh, annotations, .sens index);
* cast: every ray cast (first hit, exact amodal footprints, pose-check depth renders);
* label: visibility labelling minus its casts (buffers -> per-object labels);
* sample: view overlap matrix and view-set sampling;
* QA: question generation minus sampling;
* write: frame extraction and shard writing.

Stage shares come from an instrumented run (timing wrappers around the ray caster, the overlap
matrix and the view-set sampler; the computation itself is the real pipeline). Then
uninstrumented runs with 1 and ``--workers`` workers measure wall-clock time per scan and peak
memory (each run in a fresh process, so the peaks do not mix: the calling process's own peak
and its largest worker's).

    .venv/bin/python benchmarks/end_to_end.py --scenes 8 --workers 2
    .venv/bin/python benchmarks/end_to_end.py --scene scannet-size --cache out/scannet-size
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import resource
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from mosaic.config import load_config
from mosaic.executors import get_executor
from mosaic.run import generate_dataset, resolve_scenes
from mosaic.synthetic.world import (
    SCANNET_SIZE_SPEC,
    SynthSpec,
    write_scannet_size_scan,
    write_synthetic_dataset,
)

REPO = Path(__file__).resolve().parents[1]
CLOCK: dict[str, float] = {"cast": 0.0, "sample": 0.0}
STAMP = ".mosaic-scannet-size.json"
SEED = 0  # of the synthetic scenes written


class _TimedCaster:
    def __init__(self, inner: Any):
        self.inner = inner

    def cast(self, origins: Any, directions: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.inner.cast(origins, directions)
        finally:
            CLOCK["cast"] += time.perf_counter() - start

    def hits(self, origins: Any, directions: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.inner.hits(origins, directions)
        finally:
            CLOCK["cast"] += time.perf_counter() - start


class _TimedBackend:
    def __init__(self, inner: Any):
        self.inner = inner
        self.name = getattr(inner, "name", "?")

    def build(self, vertices: Any, faces: Any) -> _TimedCaster:
        return _TimedCaster(self.inner.build(vertices, faces))


def _timed(fn: Any, key: str) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            CLOCK[key] += time.perf_counter() - start

    return wrapper


def instrument() -> None:
    """Wrap the caster factory, the overlap matrix and the sampler with timers."""
    import mosaic.tasks.generate as gen
    import mosaic.visibility as vis
    import mosaic.visibility.engine as engine
    import mosaic.visibility.pose_check as pose

    def get_backend(name: str, **options: Any) -> _TimedBackend:
        from mosaic.visibility.base import get_backend as real

        return _TimedBackend(real(name, **options))

    engine.get_backend = get_backend
    pose.get_backend = get_backend
    vis.overlap_matrix = _timed(vis.overlap_matrix, "sample")
    gen.sample_view_sets = _timed(gen.sample_view_sets, "sample")


def measured_run(root: Path, out: Path, workers: int, config_path: Path, chunk_size: int,
                 instrumented: bool) -> dict[str, Any]:
    """One ``generate_dataset`` run (meant for a fresh process): summary figures, wall time,
    peak RSS of this process and of its largest worker (MiB)."""
    if instrumented:
        instrument()
    config = load_config(config_path, [f"source.root={root}"])
    plan = resolve_scenes(config.source, None)
    start = time.perf_counter()
    summary = generate_dataset(plan, config, out, get_executor("local", workers=workers),
                               chunk_size=chunk_size)
    wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "scenes": summary.scenes_done,
        "views_labelled": summary.views_labelled,
        "qa": summary.qa_total,
        "stage_seconds": dict(summary.stage_seconds),
        "clock": dict(CLOCK),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_worker_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def in_fresh_process(*args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(measured_run, *args).result()


def scannet_size_release(cache: Path | None, tmp: Path, workers: int) -> tuple[Path, float]:
    """The real-size scan's release (reused from ``cache`` when its stamp matches) and the
    seconds spent writing it (0 when reused)."""
    root = cache if cache is not None else tmp / "scannet-size"
    want = {"seed": SEED, "spec": repr(SCANNET_SIZE_SPEC)}
    stamp = root / STAMP
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return root, 0.0
    t0 = time.perf_counter()
    write_scannet_size_scan(root, seed=SEED, workers=workers)
    stamp.write_text(json.dumps(want))
    return root, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scene", choices=("builtin", "scannet-size"), default="builtin")
    ap.add_argument("--scenes", type=int, default=4, help="builtin: synthetic train/val scenes")
    ap.add_argument("--frames", type=int, default=100,
                    help="builtin: frames per walk-through (100, as `make dataset` writes them)")
    ap.add_argument("--size", default="640x480", help="builtin: colour size WxH")
    ap.add_argument("--cache", type=Path, default=None,
                    help="scannet-size: keep the written scan here and reuse it")
    ap.add_argument("--workers", type=int, default=2, help="workers of the parallel run")
    ap.add_argument("--repeats", type=int, default=1, help="uninstrumented runs per setting")
    ap.add_argument("--chunk-size", type=int, default=4, help="scenes per shard (CLI default)")
    ap.add_argument("--config", type=Path, default=None,
                    help="pipeline (default: synthetic.yaml / scannet.yaml by --scene)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()
    config = args.config or REPO / "pipelines" / (
        "synthetic.yaml" if args.scene == "builtin" else "scannet.yaml")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        if args.scene == "builtin":
            w, h = (int(v) for v in args.size.lower().split("x"))
            spec = dataclasses.replace(SynthSpec(), n_frames=args.frames, color_size=(w, h),
                                       depth_size=(w // 2, h // 2))
            root = tmp / "release"
            write_synthetic_dataset(root, n_scenes=args.scenes, seed=SEED, spec=spec,
                                    workers=args.workers)
            synth_s = time.perf_counter() - t0
            what = f"{args.scenes} built-in scenes x {args.frames} frames at {w}x{h}"
        else:
            root, synth_s = scannet_size_release(args.cache, tmp, args.workers)
            cw, ch = SCANNET_SIZE_SPEC.color_size
            what = f"1 ScanNet-size scan ({SCANNET_SIZE_SPEC.n_frames:,} frames at {cw}x{ch})"

        inst = in_fresh_process(root, tmp / "instrumented", 1, config, args.chunk_size, True)
        st, clock = inst["stage_seconds"], inst["clock"]
        stages = {
            "read": st.get("read", 0.0),
            "cast": clock["cast"],
            "label": max(0.0, st.get("visibility", 0.0) + st.get("pose", 0.0) - clock["cast"]),
            "sample": clock["sample"],
            "QA": max(0.0, st.get("qa", 0.0) - clock["sample"]),
            "write": st.get("write", 0.0),
        }
        total = sum(stages.values())
        runs: dict[int, list[dict[str, Any]]] = {}
        for n in sorted({1, args.workers}):
            runs[n] = [in_fresh_process(root, tmp / f"w{n}-{r}", n, config, args.chunk_size,
                                        False)
                       for r in range(args.repeats)]
    result: dict[str, Any] = {
        "scene": args.scene,
        "what": what,
        "scenes": inst["scenes"],
        "views_labelled": inst["views_labelled"],
        "qa": inst["qa"],
        "synthetic_write_s": round(synth_s, 2),
        "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
        "stage_share": {k: round(v / total, 3) for k, v in stages.items()},
        "instrumented_peak_rss_mib": round(inst["peak_rss_mib"]),
    }
    for n, rs in runs.items():
        wall = statistics.median(r["wall_s"] for r in rs)
        result[f"{n}_workers"] = {
            "wall_s": round(wall, 2),
            "wall_s_per_scan": round(wall / max(1, rs[0]["scenes"]), 2),
            "scenes_per_hour": round(3600 * rs[0]["scenes"] / wall, 1),
            "views_per_s": round(rs[0]["views_labelled"] / wall, 2),
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in rs)),
            "peak_worker_rss_mib": round(max(r["peak_worker_rss_mib"] for r in rs)),
            "runs_wall_s": [round(r["wall_s"], 2) for r in rs],
        }
    if args.workers > 1:
        result["speed_up"] = round(result["1_workers"]["wall_s"]
                                   / result[f"{args.workers}_workers"]["wall_s"], 2)
    print(f"{what}: {result['views_labelled']} views labelled, {result['qa']} questions "
          f"(writing the scenes took {synth_s:.0f} s)")
    print(f"{'stage':<8}{'seconds':>10}{'share':>8}   (instrumented run, 1 worker, "
          f"peak RSS {result['instrumented_peak_rss_mib']} MiB)")
    for k, v in stages.items():
        print(f"{k:<8}{v:>10.2f}{v / total:>8.1%}")
    for n in runs:
        r = result[f"{n}_workers"]
        print(f"{n} worker(s): {r['wall_s']} s wall ({r['wall_s_per_scan']} s per scan), "
              f"{r['scenes_per_hour']} scenes/h, {r['views_per_s']} views/s; peak RSS "
              f"{r['peak_rss_mib']} MiB in the driver, {r['peak_worker_rss_mib']} MiB in a "
              f"worker process")
    if "speed_up" in result:
        print(f"speed-up with {args.workers} workers: {result['speed_up']}x")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
