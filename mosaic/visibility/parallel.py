"""Labelling one scene's views in several processes, with the labels of one process.

``embreex`` holds the GIL while it casts, so threads would not overlap: ``label_in_processes``
spawns workers that build their own BVHs (``spawn``, as the local executor).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from ..config import VisibilityConfig
from ..structures import Frame, Scene, ViewVisibility
from .engine import SceneCasters, ViewLabeller


def label_in_processes(
    scene: Scene,
    batches: Sequence[Sequence[Frame]],
    config: VisibilityConfig,
    workers: int,
    progress: Callable[[int], None] | None = None,
    casters: SceneCasters | None = None,
) -> list[ViewVisibility]:
    """Label batches of views of one scene with ``workers`` processes: this one and
    ``workers - 1`` spawned ones; the same labels as one ``ViewLabeller`` labelling them in
    turn, in the order given.

    The ray caster holds the GIL while it casts (``embreex``), so threads would not run in
    parallel. Spawned workers (``spawn``, as the local executor) get the scene's geometry
    once, build their own BVHs and label whole batches, each returning its views' labels with
    their face and depth buffers (the instance buffer and visible faces are derived from the
    face buffer here, as the labeller derives them). This process labels batches too, with
    ``casters`` when given, taking the next batch whenever the workers have enough queued:
    the split follows their speed, start-up included.
    """
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    labeller = ViewLabeller(scene, config, casters)
    geometry = dataclasses.replace(scene, frames=(), skipped_frames=(), store=None, meta={})
    results: list[list[ViewVisibility]] = [[] for _ in batches]
    queued: dict[Future, int] = {}
    next_batch = 0

    def finished(i: int, views: list[ViewVisibility]) -> None:
        results[i] = views
        if progress is not None:
            progress(len(views))

    with ProcessPoolExecutor(workers - 1, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker, initargs=(geometry, config)) as pool:
        while next_batch < len(batches) or queued:
            while next_batch < len(batches) and len(queued) < 2 * (workers - 1):
                queued[pool.submit(_label_batch, batches[next_batch])] = next_batch
                next_batch += 1
            for fut in [f for f in queued if f.done()]:
                finished(queued.pop(fut), _views_of(fut.result(), labeller))
            if next_batch < len(batches):
                next_batch += 1
                finished(next_batch - 1, labeller.label(batches[next_batch - 1]))
            elif queued:
                wait(queued, return_when=FIRST_COMPLETED)
    return [v for views in results for v in views]


def _views_of(labelled: list[tuple], labeller: ViewLabeller) -> list[ViewVisibility]:
    """Views from a worker's (frame id, face buffer, depth, scale, objects) tuples."""
    return [labeller.view_of(*item) for item in labelled]


_WORKER_LABELLER: ViewLabeller | None = None  # per worker process (set by its initializer)


def _init_worker(scene: Scene, config: VisibilityConfig) -> None:
    global _WORKER_LABELLER
    _WORKER_LABELLER = ViewLabeller(scene, config)


def _label_batch(frames: Sequence[Frame]) -> list[tuple]:
    assert _WORKER_LABELLER is not None
    return [(v.frame_id, v.face_buffer, v.depth, v.scale, v.objects)
            for v in _WORKER_LABELLER.label(frames)]
