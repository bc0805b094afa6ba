"""Per-scene processing: read, subsample, pose check, visibility, QA, frame extraction.

``process_scene`` returns a ``SceneRecord`` ready for the shard writer plus per-scene stats.
Images of the frames that questions use are written to ``<out>/images/<scene>/<frame>.jpg``
(the colour bytes exactly as the source stores them) or kept for embedding.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import MosaicConfig
from ..io.shard_writer import SceneRecord, write_bytes_atomic
from .usable import require_usable

STAGES = ("read", "pose", "visibility", "qa", "write")


@dataclass
class SceneStats:
    """What one scene contributed, for the run summary.

    Attributes:
        scene_id: the scene.
        n_frames: usable frames (finite pose).
        skipped: frames dropped while reading: reason -> count.
        n_sampled: frames kept by subsampling.
        rejected: pose-check rejections: reason (measured number left out) -> count.
        unchecked: sampled frames kept without a pose check: reason -> count (e.g.
            "pose not checked: no depth" for colour-only exports).
        n_views: views labelled (sampled minus rejected).
        n_views_stored: views used by at least one question.
        qa_per_type: question type -> count.
        timings: stage -> wall seconds (stages of ``STAGES``); on several scene workers the
            pose and decode checks run inside the labelling batches and count as
            "visibility" ("pose" is then 0).
    """

    scene_id: str
    n_frames: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    n_sampled: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    unchecked: dict[str, int] = field(default_factory=dict)
    n_views: int = 0
    n_views_stored: int = 0
    qa_per_type: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class StageTimer:
    """Accumulates wall time per named stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def image_name(scene_id: str, frame_id: int, data: bytes) -> str:
    """Relative image path; the extension follows the stored encoding (JPEG for ScanNet)."""
    ext = "png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "jpg"
    return f"images/{scene_id}/{frame_id}.{ext}"


def _reason_key(reason: str) -> str:
    """Group reasons that differ only in the measured number ("depth error 0.31 m > 0.10 m")."""
    if reason.startswith("depth error"):
        tail = reason.split(">", 1)[-1].strip()
        return f"depth error > {tail}"
    return reason


def process_scene(
    scene_id: str,
    config: MosaicConfig,
    out_dir: str | Path,
    embed_images: bool = False,
    scene_workers: int = 1,
) -> tuple[SceneRecord, SceneStats]:
    """Run the per-scene pipeline (``mosaic.pipeline``) on one scene of the config's source,
    timing each step, then extract the frames questions use; raises on a broken scene (the
    chunk records it)."""
    from ..pipeline import label_views, questions_of
    from ..scene_pool import ScenePool
    from ..sources import load_scene_of

    timer = StageTimer()
    # started first: the workers import their modules while this process reads the scene
    with ScenePool(scene_workers) as pool:
        with timer.stage("read"):
            scene = load_scene_of(config, scene_id)
        labelled = label_views(scene, config, timer.stage, pool=pool)
        qa = questions_of(scene, labelled.views, config, timer.stage, pool=pool)
    require_usable(scene, labelled, len(qa))
    used = sorted({int(f) for q in qa for f in q.frame_ids})
    used_set = set(used)
    stored = [v for v in labelled.views if int(v.frame_id) in used_set]
    image_paths: dict[int, str] = {}
    images: dict[int, bytes] = {}
    with timer.stage("write"):
        # an in-memory scene (no frame store) has no images to extract
        for fid in used if scene.store is not None else ():
            data = scene.read_color(fid)
            rel = image_name(scene.scene_id, fid, data)
            image_paths[fid] = rel
            if embed_images:
                images[fid] = data
            else:
                target = Path(out_dir) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(target, data)
    rejected = [
        {"frame_id": r.frame_id, "error_m": r.error_m, "reason": r.reason,
         **({"detail": r.detail} if r.detail else {})}
        for r in labelled.rejected
    ]
    unchecked = [{"frame_id": int(c.frame_id), "reason": c.reason} for c in labelled.unchecked]
    record = SceneRecord(
        scene=scene,
        n_sampled=len(labelled.sampled),
        rejected=rejected,
        unchecked=unchecked,
        views=stored,
        pose_errors={int(c.frame_id): float(c.error_m) for c in labelled.pose_checks},
        image_paths=image_paths,
        images=images,
        qa=list(qa),
    )
    stats = SceneStats(
        scene_id=scene.scene_id,
        n_frames=len(scene.frames),
        skipped=dict(Counter(s.reason for s in scene.skipped_frames)),
        n_sampled=len(labelled.sampled),
        rejected=dict(Counter(_reason_key(r["reason"]) for r in rejected)),
        unchecked=dict(Counter(r["reason"] for r in unchecked)),
        n_views=len(labelled.views),
        n_views_stored=len(stored),
        qa_per_type=dict(Counter(q.question_type for q in qa)),
        timings=dict(timer.seconds),
    )
    return record, stats
