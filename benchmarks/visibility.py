"""Visibility benchmark: full labelling against the raw first-hit cast of the same views.

Usage:
    .venv/bin/python benchmarks/visibility.py                      # built-in-size room
    .venv/bin/python benchmarks/visibility.py --scene scannet-size # real-size scan, 550 views

Scenes: ``room`` is one synthetic room (``--faces``, ``--views``: every frame of a
``--views``-frame walk); ``scannet-size`` is the real-size scan of
``mosaic.synthetic.room.SCANNET_SIZE_SPEC`` (~160k faces, 100 objects, a 5,500-frame hand-held
walk) labelled every ``--frame-step`` (10, as pipelines/scannet.yaml) frames.

Per usable backend and repeat, in one process and back to back on the same views:

* raw: build the scene BVH, then cast one first-hit ray per pixel in batches of
  ``batch_views`` views (each batch's rays generated off the clock), twice: cold (BVH + first
  pass) and warm (second pass);
* labelling: ``ViewLabeller`` set-up (scene BVH) plus a first pass that also builds every
  per-object BVH and hull it needs (cold), then a second pass (warm).

It prints per-view times (wall clock and process CPU time: on a shared machine the CPU figures
are the steadier), the ratios labelling/raw cold-to-cold, cold-to-warm and warm-to-warm, medians
over ``--repeats``. The target is labelling/raw <= 1.5 cold on the default backend. Also: objects
with a footprint per view, the amodal accuracy of the default method against the exact
per-object render, optionally (``--reference``) the per-object reference labeller's time and
(``--workers N``) the wall-clock speed-up of ``compute_visibility`` labelling in N processes,
and peak memory.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mosaic.config import VisibilityConfig
from mosaic.structures import Frame, Scene
from mosaic.synthetic.world import SCANNET_SIZE_SPEC, SynthSpec, make_scene
from mosaic.visibility import available_backends, compute_visibility, get_backend
from mosaic.visibility.engine import ViewLabeller, batch_rays


@dataclass
class Clock:
    """Wall-clock and process-CPU seconds of one timed block."""

    wall: float = 0.0
    cpu: float = 0.0

    def __add__(self, other: Clock) -> Clock:
        return Clock(self.wall + other.wall, self.cpu + other.cpu)


def timed(fn: Callable[[], object]) -> tuple[Clock, object]:
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return Clock(time.perf_counter() - w, time.process_time() - c), out


def raw_cast(scene: Scene, frames: Sequence[Frame], cfg: VisibilityConfig
             ) -> tuple[Clock, Clock, Clock]:
    """(BVH build, first pass, second pass) of the plain first-hit cast of every view."""
    options = {"device": cfg.device} if cfg.backend == "warp" else {}
    backend = get_backend(cfg.backend, **options)
    step = max(1, cfg.batch_views)
    build, caster = timed(lambda: backend.build(scene.vertices, scene.faces))
    if cfg.backend == "warp":  # Warp compiles its kernel once
        caster.cast(*(a[:1000] for a in batch_rays(frames[:1], cfg.max_side)[1:]))

    def cast_all() -> Clock:
        total = Clock()
        for s in range(0, len(frames), step):
            origins, dirs = batch_rays(frames[s : s + step], cfg.max_side)[1:]  # not timed
            total = total + timed(lambda o=origins, d=dirs: caster.cast(o, d))[0]
        return total

    first = cast_all()
    second = cast_all()
    return build, first, second


def labelling(scene: Scene, frames: Sequence[Frame], cfg: VisibilityConfig,
              reference: bool = False) -> tuple[Clock, Clock, Clock]:
    """(set-up, first pass with lazy per-object BVHs and hulls, second pass)."""
    setup, lab = timed(lambda: ViewLabeller(scene, cfg))
    label = lab.label_reference if reference else lab.label
    step = max(1, cfg.batch_views)

    def label_all() -> None:
        for s in range(0, len(frames), step):
            label(frames[s : s + step])

    first, _ = timed(label_all)
    second, _ = timed(label_all)
    return setup, first, second


def report_backend(scene: Scene, frames: Sequence[Frame], cfg: VisibilityConfig,
                   repeats: int, reference: bool) -> None:
    n = len(frames)
    rows: dict[str, dict[str, list[float]]] = {"wall": {}, "cpu": {}}
    for _ in range(repeats):
        r_build, r_first, r_second = raw_cast(scene, frames, cfg)
        l_setup, l_first, l_second = labelling(scene, frames, cfg)
        for kind in ("wall", "cpu"):
            clocks = {
                "raw_build": r_build, "raw_cold": r_build + r_first, "raw_warm": r_second,
                "lab_setup": l_setup, "lab_cold": l_setup + l_first, "lab_warm": l_second,
            }
            figures = {k: getattr(c, kind) for k, c in clocks.items()}
            figures["cold/cold"] = figures["lab_cold"] / figures["raw_cold"]
            figures["cold/warm"] = figures["lab_cold"] / figures["raw_warm"]
            figures["warm/warm"] = figures["lab_warm"] / figures["raw_warm"]
            for k, v in figures.items():
                rows[kind].setdefault(k, []).append(v)
    for kind in ("cpu", "wall"):
        m = {k: statistics.median(v) for k, v in rows[kind].items()}
        spread = rows[kind]["cold/cold"]
        print(
            f"{cfg.backend:9s} {kind:4s}  raw {1e3 * m['raw_warm'] / n:6.2f} ms/view "
            f"({1e3 * m['raw_build']:.0f} ms BVH)  labelling cold {1e3 * m['lab_cold'] / n:6.2f}"
            f" warm {1e3 * m['lab_warm'] / n:6.2f} ms/view  | labelling/raw"
            f" cold {m['cold/cold']:.2f}"
            f" (vs warm raw {m['cold/warm']:.2f}), warm {m['warm/warm']:.2f}"
            f"  [cold/cold over {repeats} runs: {min(spread):.2f}-{max(spread):.2f}]"
        )
    if reference:
        r = raw_cast(scene, frames, cfg)[2]
        setup, first, second = labelling(scene, frames, cfg, reference=True)
        print(f"{cfg.backend:9s} per-object reference labeller: warm {1e3 * second.cpu / n:.2f} "
              f"ms/view CPU, {second.cpu / r.cpu:.2f}x the raw cast")


def report_processes(scene: Scene, frames: Sequence[Frame], cfg: VisibilityConfig,
                     workers: int, repeats: int) -> None:
    """Wall time of ``compute_visibility`` (cold: it builds its BVHs) with 1 and ``workers``
    processes, and the CPU seconds each spends in all (this process and its workers)."""
    ids = [f.frame_id for f in frames]
    walls: dict[int, list[float]] = {1: [], workers: []}
    cpus: dict[int, list[float]] = {1: [], workers: []}
    for _ in range(repeats):
        for n in (1, workers):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            clock, _ = timed(lambda n=n: compute_visibility(scene, ids, config=cfg, workers=n))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            children = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            walls[n].append(clock.wall)
            cpus[n].append(clock.cpu + children)
    one, many = statistics.median(walls[1]), statistics.median(walls[workers])
    speed = [a / b for a, b in zip(walls[1], walls[workers], strict=True)]
    print(f"{cfg.backend:9s} compute_visibility cold, {len(ids)} views: 1 process {one:.2f} s "
          f"wall ({statistics.median(cpus[1]):.2f} s CPU), {workers} processes {many:.2f} s wall "
          f"({statistics.median(cpus[workers]):.2f} s CPU in all): speed-up {one / many:.2f}x "
          f"[over {repeats} runs: {min(speed):.2f}-{max(speed):.2f}]")


def accuracy(scene: Scene, frames: Sequence[Frame], n_views: int) -> None:
    """Occlusion/truncation of the default method against the exact per-object render."""
    ids = [f.frame_id for f in frames[:: max(1, len(frames) // n_views)][:n_views]]
    t0 = time.perf_counter()
    exact = compute_visibility(scene, ids, amodal_method="exact")
    exact_s = time.perf_counter() - t0
    pruned = compute_visibility(scene, ids)
    d_occ, d_trunc = [], []
    for a, b in zip(pruned, exact, strict=True):
        for oa in a.objects:
            ob = b.get(oa.instance_id)
            if ob is None or oa.amodal_px_in == 0:
                continue
            d_occ.append(abs(oa.occlusion - ob.occlusion))
            d_trunc.append(abs(oa.truncation - ob.truncation))
    occ, trunc = np.array(d_occ), np.array(d_trunc)
    print(f"amodal accuracy vs exact render over {len(occ)} (view, object) pairs of {len(ids)} "
          f"views: occlusion MAE {occ.mean():.4f} p99 {np.percentile(occ, 99):.4f}; "
          f"truncation MAE {trunc.mean():.4f} p99 {np.percentile(trunc, 99):.4f}; "
          f"exact method {1e3 * exact_s / len(ids):.1f} ms/view")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scene", choices=("room", "scannet-size"), default="room")
    ap.add_argument("--faces", type=int, default=200_000, help="room: target triangle count")
    ap.add_argument("--views", type=int, default=100, help="room: frames (all labelled)")
    ap.add_argument("--frame-step", type=int, default=10, help="scannet-size: label every n-th")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-side", type=int, default=320)
    ap.add_argument("--device", default="cpu", help="warp device (cpu or cuda:0)")
    ap.add_argument("--backends", default="embree",
                    help="comma-separated backends, or 'all' (every usable one)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--accuracy-views", type=int, default=20)
    ap.add_argument("--reference", action="store_true",
                    help="also time the per-object reference labeller (slow)")
    ap.add_argument("--workers", type=int, default=1,
                    help="also time compute_visibility with this many processes (> 1)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    if args.scene == "room":
        scene = make_scene(args.seed, SynthSpec(n_frames=args.views, target_faces=args.faces))
        frames = list(scene.frames)
    else:
        scene = make_scene(args.seed, SCANNET_SIZE_SPEC)
        frames = list(scene.frames)[:: args.frame_step]
    print(f"machine: {platform.machine()}, {platform.python_version()}, numpy {np.__version__}")
    probe = ViewLabeller(scene, VisibilityConfig(max_side=args.max_side))
    print(f"scene {args.scene}: {len(scene.faces)} faces, {len(probe.targets)} annotated "
          f"objects, {len(scene.frames)} frames, {len(frames)} views labelled at "
          f"{args.max_side} px, built in {time.perf_counter() - t0:.1f} s")
    per_view, visible = [], []
    for s in range(0, len(frames), probe.config.batch_views):
        for v in probe.label(frames[s : s + probe.config.batch_views]):
            per_view.append(len(v.objects))
            visible.append(sum(o.visible for o in v.objects))
    per_view, visible = np.array(per_view), np.array(visible)
    print(f"objects with a footprint per view: mean {per_view.mean():.1f}, max {per_view.max()}; "
          f"visible: mean {visible.mean():.1f}, max {visible.max()}")
    del probe

    status = available_backends()
    wanted = list(status) if args.backends == "all" else args.backends.split(",")
    for name in wanted:
        if status.get(name) != "ok":
            print(f"{name:9s} unavailable: {status.get(name, 'unknown backend')}")
            continue
        if name == "reference":
            print(f"{name:9s} skipped (rays x triangles; for tiny parity scenes only)")
            continue
        cfg = VisibilityConfig(backend=name, device=args.device, max_side=args.max_side)
        report_backend(scene, frames, cfg, args.repeats, args.reference)
        if args.workers > 1:
            report_processes(scene, frames, cfg, args.workers, args.repeats)
    accuracy(scene, frames, args.accuracy_views)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
