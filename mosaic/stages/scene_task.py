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
from ..errors import SceneDataError
from ..io.shard_writer import SceneRecord, write_bytes_atomic
from ..structures import Scene
from .frame_checks import check_color_frames, require_usable

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
        n_views: views labelled (sampled minus rejected).
        n_views_stored: views used by at least one question.
        qa_per_type: question type -> count.
        timings: stage -> seconds (stages of ``STAGES``).
    """

    scene_id: str
    n_frames: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    n_sampled: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
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


def label_scene(scene: Scene, config: MosaicConfig, timer: StageTimer) -> tuple[Any, ...]:
    """Subsample frames, reject bad poses, label visibility.

    Returns (sampled frame ids, kept views, rejected records, pose errors by frame).
    """
    from ..tasks.viewsets import subsample_frames
    from ..visibility import SceneCasters, check_poses, compute_visibility

    vcfg = config.visibility
    sampled = subsample_frames(scene, config.viewsets.frame_step)
    if not sampled:
        raise SceneDataError(
            scene.scene_id, None, "no usable frames (every pose is non-finite or missing)",
            "check the scene's .sens poses",
        )
    rejected: list[dict[str, Any]] = []
    pose_errors: dict[int, float] = {}
    kept = list(sampled)
    casters = SceneCasters(scene, vcfg.backend, vcfg.device)  # one scene BVH for both steps
    if vcfg.pose_check and scene.store is not None:
        with timer.stage("pose"):
            checks = check_poses(scene, sampled, vcfg.pose_max_error, caster=casters.full)
        bad = set()
        for c in checks:
            pose_errors[int(c.frame_id)] = float(c.error_m)
            if c.rejected:
                bad.add(int(c.frame_id))
                rejected.append(
                    {"frame_id": int(c.frame_id), "error_m": float(c.error_m), "reason": c.reason}
                )
        kept = [f for f in sampled if f not in bad]
    with timer.stage("read"):
        kept, undecodable = check_color_frames(scene, kept)
        rejected += undecodable
    with timer.stage("visibility"):
        views = compute_visibility(scene, kept, config=vcfg, casters=casters) if kept else []
    return sampled, views, rejected, pose_errors


def process_scene(
    root: str | Path,
    source: str,
    scene_id: str,
    config: MosaicConfig,
    out_dir: str | Path,
    embed_images: bool = False,
) -> tuple[SceneRecord, SceneStats]:
    """Run the whole per-scene pipeline; raises on a broken scene (the chunk records it)."""
    from ..sources import load_scene, source_options
    from ..tasks import generate_qa

    timer = StageTimer()
    with timer.stage("read"):
        scene = load_scene(root, scene_id, source=source,
                           **source_options(source, config.source))
    sampled, views, rejected, pose_errors = label_scene(scene, config, timer)
    with timer.stage("qa"):
        qa = generate_qa(scene, visibility=views, seed=config.seed, config=config) if views else []
    require_usable(scene, sampled, len(views), rejected, len(qa))
    used = sorted({int(f) for q in qa for f in q.frame_ids})
    used_set = set(used)
    stored = [v for v in views if int(v.frame_id) in used_set]
    image_paths: dict[int, str] = {}
    images: dict[int, bytes] = {}
    with timer.stage("write"):
        for fid in used:
            try:
                data = scene.read_color(fid)
            except KeyError:
                continue  # in-memory scene without a frame store: no image to extract
            rel = image_name(scene.scene_id, fid, data)
            image_paths[fid] = rel
            if embed_images:
                images[fid] = data
            else:
                target = Path(out_dir) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(target, data)
    record = SceneRecord(
        scene=scene,
        n_sampled=len(sampled),
        rejected=rejected,
        views=stored,
        pose_errors=pose_errors,
        image_paths=image_paths,
        images=images,
        qa=list(qa),
    )
    stats = SceneStats(
        scene_id=scene.scene_id,
        n_frames=len(scene.frames),
        skipped=dict(Counter(s.reason for s in scene.skipped_frames)),
        n_sampled=len(sampled),
        rejected=dict(Counter(_reason_key(r["reason"]) for r in rejected)),
        n_views=len(views),
        n_views_stored=len(stored),
        qa_per_type=dict(Counter(q.question_type for q in qa)),
        timings=dict(timer.seconds),
    )
    return record, stats
