"""mosaic: multi-view spatial-reasoning QA datasets from 3D scenes with exact visibility.

The annotation API (pure core; no printing, no file writing):

>>> import mosaic
>>> scene = mosaic.load_scene(root, "scene0000_00")          # doctest: +SKIP
>>> views = mosaic.compute_visibility(scene)                 # doctest: +SKIP
>>> items = mosaic.generate_qa(scene, views, seed=0)         # doctest: +SKIP
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
    backend: str | None = None,
    max_side: int | None = None,
    **kwargs: Any,
) -> list[ViewVisibility]:
    """Per-view visibility labels (see ``mosaic.visibility.compute_visibility``).

    ``backend`` and ``max_side`` override ``config`` only when given (defaults: the config's,
    i.e. embree and 320 px).
    """
    from .visibility import compute_visibility as _cv

    return _cv(scene, frame_ids=frame_ids, backend=backend, max_side=max_side, **kwargs)


def generate_qa(
    scene: Scene,
    visibility: list[ViewVisibility] | None = None,
    seed: int = 0,
    config: MosaicConfig | None = None,
) -> list[QAItem]:
    """Questions over low-overlap view sets (see ``mosaic.tasks.generate_qa``)."""
    from .tasks import generate_qa as _gq

    return _gq(scene, visibility=visibility, seed=seed, config=config)


def open_dataset(path: Any, split: str | None = None, allow_incomplete: bool = False) -> Any:
    """Open a generated dataset directory for reading, optionally one output split (``train``,
    ``bench``); its shards are verified first, and ``allow_incomplete`` reads only the valid
    ones of an incomplete or altered dataset; see ``mosaic.io.reader``."""
    from .io.reader import open_dataset as _od

    return _od(path, split=split, allow_incomplete=allow_incomplete)
