"""End-to-end throughput of the default pipeline on built-in synthetic scenes.

Reports scenes/hour, views/s and the share of time per stage:

* read: loading the scene (mesh, annotations, .sens index);
* cast: every ray cast (first hit, exact amodal footprints, pose-check depth renders);
* label: visibility labelling minus its casts (buffers -> per-object labels);
* sample: view overlap matrix and view-set sampling;
* QA: question generation minus sampling;
* write: frame extraction and shard writing.

Stage shares come from an instrumented in-process run (timing wrappers around the ray caster,
the overlap matrix and the view-set sampler; the computation itself is the real pipeline).
With ``--workers N > 1`` a second, uninstrumented run measures wall-clock throughput.

    .venv/bin/python benchmarks/end_to_end.py --scenes 4 --workers 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from mosaic.config import load_config
from mosaic.executors import get_executor
from mosaic.run import generate_dataset, resolve_scenes
from mosaic.synthetic.world import SynthSpec, write_synthetic_dataset

REPO = Path(__file__).resolve().parents[1]
CLOCK: dict[str, float] = {"cast": 0.0, "sample": 0.0}


class _TimedCaster:
    def __init__(self, inner: Any):
        self.inner = inner

    def cast(self, origins: Any, directions: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.inner.cast(origins, directions)
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


def run(root: Path, out: Path, workers: int, config_path: Path, chunk_size: int
        ) -> tuple[Any, float]:
    config = load_config(config_path, [f"source.root={root}"])
    plan = resolve_scenes(config.source, None)
    start = time.perf_counter()
    summary = generate_dataset(plan, config, out, get_executor("local", workers=workers),
                               chunk_size=chunk_size)
    return summary, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scenes", type=int, default=4, help="synthetic train/val scenes")
    ap.add_argument("--frames", type=int, default=100,
                    help="frames per walk-through (100, as `make dataset` writes them)")
    ap.add_argument("--size", default="640x480", help="colour size WxH")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--chunk-size", type=int, default=4, help="scenes per shard (CLI default)")
    ap.add_argument("--config", type=Path, default=REPO / "pipelines" / "synthetic.yaml")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    spec = dataclasses.replace(SynthSpec(), n_frames=args.frames, color_size=(w, h),
                               depth_size=(w // 2, h // 2))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "release"
        t0 = time.perf_counter()
        write_synthetic_dataset(root, n_scenes=args.scenes, seed=0, spec=spec,
                                workers=args.workers)
        synth_s = time.perf_counter() - t0

        instrument()
        summary, wall = run(root, Path(tmp) / "instrumented", 1, args.config,
                           args.chunk_size)
        st = summary.stage_seconds
        vis_cast_free = st.get("visibility", 0.0) + st.get("pose", 0.0) - CLOCK["cast"]
        stages = {
            "read": st.get("read", 0.0),
            "cast": CLOCK["cast"],
            "label": max(0.0, vis_cast_free),
            "sample": CLOCK["sample"],
            "QA": max(0.0, st.get("qa", 0.0) - CLOCK["sample"]),
            "write": st.get("write", 0.0),
        }
        total = sum(stages.values())
        result: dict[str, Any] = {
            "scenes": summary.scenes_done,
            "frames_per_scene": args.frames,
            "colour_size": [w, h],
            "views_labelled": summary.views_labelled,
            "qa": summary.qa_total,
            "synthetic_write_s": round(synth_s, 2),
            "one_worker": {
                "wall_s": round(wall, 2),
                "scenes_per_hour": round(3600 * summary.scenes_done / wall, 1),
                "views_per_s": round(summary.views_labelled / wall, 2),
            },
            "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
            "stage_share": {k: round(v / total, 3) for k, v in stages.items()},
        }
        if args.workers > 1:
            summary_n, wall_n = run(root, Path(tmp) / "parallel", args.workers, args.config,
                                   args.chunk_size)
            result[f"{args.workers}_workers"] = {
                "wall_s": round(wall_n, 2),
                "scenes_per_hour": round(3600 * summary_n.scenes_done / wall_n, 1),
                "views_per_s": round(summary_n.views_labelled / wall_n, 2),
            }
    print(f"{result['scenes']} scenes x {args.frames} frames at {w}x{h}: "
          f"{result['views_labelled']} views labelled, {result['qa']} questions")
    print(f"{'stage':<8}{'seconds':>10}{'share':>8}")
    for k, v in stages.items():
        print(f"{k:<8}{v:>10.2f}{v / total:>8.1%}")
    for key in ("one_worker", f"{args.workers}_workers"):
        if key in result:
            r = result[key]
            print(f"{key}: {r['wall_s']} s wall, {r['scenes_per_hour']} scenes/h, "
                  f"{r['views_per_s']} views/s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
