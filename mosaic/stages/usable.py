"""A scene that yields no labelled view or no question is a failure with its cause, never a
success that silently contributes nothing to the dataset."""

from __future__ import annotations

from collections import Counter

from ..errors import SceneDataError
from ..pipeline import LabelledViews
from ..structures import Scene


def require_usable(scene: Scene, labelled: LabelledViews, n_qa: int) -> None:
    """Raise ``SceneDataError`` when the scene contributes nothing, saying why.

    Every sampled frame rejected (reasons counted), or views but no question (too few
    objects seen in low-overlap view sets under the current settings).
    """
    where = scene.meta.get("folder") if isinstance(scene.meta, dict) else None
    n_views = len(labelled.views)
    if n_views == 0:
        reasons = Counter(r.reason for r in labelled.rejected)
        listed = ", ".join(f"{n} x {why}" for why, n in reasons.most_common(3))
        details = [r.detail for r in labelled.rejected if r.detail][:2]
        raise SceneDataError(
            scene.scene_id, where,
            f"all {len(labelled.sampled)} sampled frames were rejected ({listed})"
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
