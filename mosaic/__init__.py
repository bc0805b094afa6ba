"""mosaic: multi-view spatial-reasoning QA datasets from 3D scenes with exact visibility.

The annotation API (pure core; no printing, no file writing):

>>> import mosaic
>>> scene = mosaic.load_scene(root, "scene0000_00")          # doctest: +SKIP
>>> views = mosaic.compute_visibility(scene)                 # doctest: +SKIP
>>> items = mosaic.generate_qa(scene, views)                 # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .config import MosaicConfig, load_config
from .errors import MosaicError
from .structures import (
    FAMILIES,
    QA_TYPES,
    Frame,
    ObjectVisibility,
    QAItem,
    Scene,
    SceneObject,
    ViewVisibility,
)

__version__ = "0.1.0"

__all__ = [
    "FAMILIES",
    "QA_TYPES",
    "Frame",
    "MosaicConfig",
    "MosaicError",
    "ObjectVisibility",
    "QAItem",
    "Scene",
    "SceneObject",
    "ViewVisibility",
    "compute_visibility",
    "generate_qa",
    "load_config",
    "load_scene",
    "open_dataset",
]


def load_scene(root: Any, scene_id: str, source: str = "scannet", **kwargs: Any) -> Scene:
    """Load one scene from a dataset root (see ``mosaic.sources.load_scene``)."""
    from .sources import load_scene as _load

    return _load(root, scene_id, source=source, **kwargs)


def compute_visibility(
    scene: Scene,
    frame_ids: Any = None,
    config: Any = None,
    **overrides: Any,
) -> list[ViewVisibility]:
    """Per-view visibility labels (see ``mosaic.visibility.compute_visibility``).

    ``config`` is a ``MosaicConfig`` or its ``VisibilityConfig`` section (defaults when None);
    keyword overrides (``backend=``, ``max_side=``, ``device=``, ``amodal_method=``) replace
    those fields of it.
    """
    from .visibility import compute_visibility as _cv

    if isinstance(config, MosaicConfig):
        config = config.visibility
    return _cv(scene, frame_ids=frame_ids, config=config, **overrides)


def generate_qa(
    scene: Scene,
    visibility: list[ViewVisibility] | None = None,
    config: MosaicConfig | None = None,
    seed: int | None = None,
    workers: int = 1,
) -> list[QAItem]:
    """Questions over low-overlap view sets of one scene.

    Args:
        scene: the scene.
        visibility: labelled views of this scene to use as they are (another scene's views
            raise ``SceneDataError``); None labels every
            ``viewsets.frame_step``-th usable frame and drops pose-rejected frames
            (``mosaic.pipeline.label_views``).
        config: the run configuration (defaults when None).
        seed: replaces ``config.seed`` when given (the seed comes from the config otherwise).
        workers: processes that label the views and generate the question types side by
            side; the items do not depend on it. With ``visibility`` given, a pool is started
            for the questions alone only from ``tasks.generate.PARALLEL_MIN_ITEMS`` requested
            items. The extra processes are spawned, so a script that passes workers > 1 runs
            it under ``if __name__ == "__main__":``.
    """
    import dataclasses

    from .pipeline import label_views, questions_of
    from .scene_pool import ScenePool

    cfg = config or MosaicConfig()
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=int(seed))
    if visibility is not None:
        from .tasks.generate import generate_qa as questions
        from .visibility.consistency import check_views_belong

        views = list(visibility)
        check_views_belong(scene, views)  # another scene's views are refused
        return questions(scene, views, cfg, workers=workers)
    with ScenePool(workers) as pool:  # one start-up for labelling and questions
        views = list(label_views(scene, cfg, pool=pool).views)
        return questions_of(scene, views, cfg, pool=pool)


def open_dataset(path: Any, split: str | None = None, allow_incomplete: bool = False) -> Any:
    """Open a generated dataset directory for reading, optionally one output split (``train``,
    ``bench``); its shards are verified first, and ``allow_incomplete`` reads only the valid
    ones of an incomplete or altered dataset; see ``mosaic.io.reader``."""
    from .io.reader import open_dataset as _od

    return _od(path, split=split, allow_incomplete=allow_incomplete)
