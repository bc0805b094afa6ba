"""Checks on a scene's frames and outcome before its rows are written.

* ``check_color_frames``: every frame about to be labelled must have a colour image that
  decodes at the frame's size; a corrupt one is rejected with the decoder's message (and
  recorded with the scene), so no question shows a broken image.
* ``require_usable``: a scene that yields no labelled view or no question is a failure with
  its cause, never a success that silently contributes nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from ..errors import SceneDataError
from ..io.image_check import decode_problem
from ..structures import Scene

DECODE_REASON = "colour image does not decode"


def check_color_frames(
    scene: Scene, frame_ids: list[int]
) -> tuple[list[int], list[dict[str, Any]]]:
    """(frames whose colour image decodes at the frame's size, rejection records of the rest).

    A record is ``{"frame_id", "error_m": NaN, "reason": DECODE_REASON, "detail": why}``, the
    shape of the pose check's records. Scenes without a frame store (built in memory) have
    no images to check: every frame is kept.
    """
    kept: list[int] = []
    rejected: list[dict[str, Any]] = []
    for fid in frame_ids:
        try:
            data = scene.read_color(fid)
        except KeyError:
            return list(frame_ids), []  # in-memory scene: no image store
        frame = scene.frame(fid)
        why = decode_problem(data, (int(frame.width), int(frame.height)))
        if why is None:
            kept.append(fid)
        else:
            rejected.append({"frame_id": int(fid), "error_m": math.nan, "reason": DECODE_REASON,
                             "detail": f"frame {fid} colour image {why}"})
    return kept, rejected


def require_usable(
    scene: Scene, sampled: list[int], n_views: int, rejected: list[dict[str, Any]], n_qa: int
) -> None:
    """Raise ``SceneDataError`` when the scene contributes nothing, saying why.

    Every sampled frame rejected (reasons counted), or views but no question (too few
    objects seen in low-overlap view sets under the current settings).
    """
    where = scene.meta.get("folder") if isinstance(scene.meta, dict) else None
    if n_views == 0:
        reasons = Counter(r.get("reason", "?") for r in rejected)
        listed = ", ".join(f"{n} x {why}" for why, n in reasons.most_common(3))
        details = [r["detail"] for r in rejected if r.get("detail")][:2]
        raise SceneDataError(
            scene.scene_id, where,
            f"all {len(sampled)} sampled frames were rejected ({listed})"
            + (f"; e.g. {'; '.join(details)}" if details else ""),
            "check the scene's poses and images; the failure stays recorded until its input "
            "files change",
        )
    if n_qa == 0:
        raise SceneDataError(
            scene.scene_id, where,
            f"no question could be drawn from its {n_views} labelled views "
            f"({sum(not o.structural for o in scene.objects)} non-structural objects)",
            "a scene needs several objects seen partly in low-overlap views; lower "
            "viewsets.frame_step to label more views, or leave the scene out",
        )
