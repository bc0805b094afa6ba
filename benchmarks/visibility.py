"""Visibility benchmark: raw first-hit cast vs full labelling, per usable backend.

Usage: .venv/bin/python benchmarks/visibility.py [--faces 200000] [--views 100] [--max-side 320]

Prints, per backend: raw cast throughput (Mrays/s) at the labelling resolution, full labelling
time per view (first-hit cast + exact amodal footprints + labels), and the ratio full / raw.
BVH construction is per-scene setup, outside both timings (the raw cast's BVH is built before
its clock starts too); it is printed separately, with the ratio it gives when amortised over
the benchmark's views.
Target (issue 3): ratio <= 1.5 on the default backend. Also prints the amodal accuracy of the
default method against the exact per-object render, and peak memory.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import numpy as np

from mosaic.config import VisibilityConfig
from mosaic.synthetic.world import SynthSpec, make_scene
from mosaic.visibility import available_backends, compute_visibility, get_backend
from mosaic.visibility.engine import ViewLabeller, _view_geometry


def raw_cast_seconds(scene, backend: str, max_side: int, device: str) -> tuple[float, int]:
    options = {"device": device} if backend == "warp" else {}
    caster = get_backend(backend, **options).build(scene.vertices, scene.faces)
    geos = [_view_geometry(f, max_side) for f in scene.frames]
    origins = np.concatenate(
        [np.broadcast_to(g.frame.cam_to_world[:3, 3].astype(np.float32), g.dirs.shape)
         for g in geos]
    )
    dirs = np.concatenate([g.dirs for g in geos])
    caster.cast(origins[:1000], dirs[:1000])  # warm-up (Warp compiles its kernel)
    t0 = time.perf_counter()
    step = 8 * geos[0].w * geos[0].h  # the same batching as the labeller
    for s in range(0, len(dirs), step):
        caster.cast(origins[s : s + step], dirs[s : s + step])
    return time.perf_counter() - t0, len(dirs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=200_000)
    ap.add_argument("--views", type=int, default=100)
    ap.add_argument("--max-side", type=int, default=320)
    ap.add_argument("--device", default="cpu", help="warp device (cpu or cuda:0)")
    ap.add_argument("--accuracy-views", type=int, default=20)
    args = ap.parse_args()

    t0 = time.perf_counter()
    scene = make_scene(0, SynthSpec(n_frames=args.views, target_faces=args.faces))
    print(f"machine: {platform.machine()}, {platform.python_version()}, "
          f"numpy {np.__version__}")
    print(f"scene: {len(scene.faces)} faces, {len(scene.objects)} instances, "
          f"{len(scene.frames)} views, built in {time.perf_counter() - t0:.1f} s")

    for name, status in available_backends().items():
        if status != "ok":
            print(f"{name:9s} unavailable: {status}")
            continue
        if name == "reference":
            print(f"{name:9s} skipped (rays x triangles; for tiny parity scenes only)")
            continue
        raw_s, n_rays = raw_cast_seconds(scene, name, args.max_side, args.device)
        cfg = VisibilityConfig(backend=name, device=args.device, max_side=args.max_side)
        frames = list(scene.frames)
        t1 = time.perf_counter()
        labeller = ViewLabeller(scene, cfg)  # per-scene setup: the full-scene BVH
        setup_s = time.perf_counter() - t1
        t1 = time.perf_counter()
        labeller.label(frames)  # first pass also builds the per-object BVHs it needs
        first_s = time.perf_counter() - t1
        t1 = time.perf_counter()
        for s in range(0, len(frames), cfg.batch_views):
            labeller.label(frames[s : s + cfg.batch_views])
        full_s = time.perf_counter() - t1
        n = len(frames)
        print(
            f"{name:9s} raw {n_rays / raw_s / 1e6:6.2f} Mrays/s ({1e3 * raw_s / n:6.1f} ms/view)"
            f"  full {1e3 * full_s / n:6.1f} ms/view  ratio full/raw {full_s / raw_s:5.2f}"
            f"  | per-scene setup {1e3 * setup_s:6.0f} ms + object BVHs "
            f"{1e3 * (first_s - full_s):6.0f} ms"
            f" (all included, over {n} views: {(setup_s + first_s) / raw_s:4.2f}x raw)"
        )

    # accuracy of the default amodal method against the exact per-object render
    ids = [f.frame_id for f in scene.frames[: args.accuracy_views]]
    t2 = time.perf_counter()
    exact = compute_visibility(scene, ids, amodal_method="exact")
    exact_s = time.perf_counter() - t2
    pruned = compute_visibility(scene, ids)
    d_occ, d_trunc = [], []
    for a, b in zip(pruned, exact, strict=True):
        for oa in a.objects:
            ob = b.get(oa.instance_id)
            if ob is None or oa.amodal_px_in == 0:
                continue
            d_occ.append(abs(oa.occlusion - ob.occlusion))
            d_trunc.append(abs(oa.truncation - ob.truncation))
    d_occ, d_trunc = np.array(d_occ), np.array(d_trunc)
    print(f"amodal accuracy vs exact render over {len(d_occ)} (view, object) pairs: "
          f"occlusion MAE {d_occ.mean():.4f} p99 {np.percentile(d_occ, 99):.4f}; "
          f"truncation MAE {d_trunc.mean():.4f} p99 {np.percentile(d_trunc, 99):.4f}; "
          f"exact method {1e3 * exact_s / len(ids):.1f} ms/view")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
