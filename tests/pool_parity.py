"""One check shared by the reader tests: a scene's frames read, checked and labelled by the
worker of a ScenePool (its store travels pickled) give exactly what one process gives."""

from __future__ import annotations

import dataclasses

import numpy as np

from mosaic.config import MosaicConfig
from mosaic.pipeline import label_views
from mosaic.scene_pool import ScenePool
from mosaic.structures import Scene


def assert_pool_labels_match(scenes: list[Scene]) -> None:
    """Every frame labelled (batches of 2 at 64 px, so the worker takes some), with the
    pose checks, rejections and labels of one process."""
    cfg = MosaicConfig()
    cfg = dataclasses.replace(
        cfg, visibility=dataclasses.replace(cfg.visibility, batch_views=2, max_side=64),
        viewsets=dataclasses.replace(cfg.viewsets, frame_step=1))
    with ScenePool(2) as pool:
        for scene in scenes:
            one = label_views(scene, cfg)
            two = label_views(scene, cfg, pool=pool)
            assert one.sampled == two.sampled and one.rejected == two.rejected
            assert repr(one.pose_checks) == repr(two.pose_checks)  # repr: NaN equals NaN
            assert [v.frame_id for v in one.views] == [v.frame_id for v in two.views]
            assert len(one.views) >= 2, scene.scene_id
            for a, b in zip(one.views, two.views, strict=True):
                assert repr(a.objects) == repr(b.objects)
                assert np.array_equal(a.face_buffer, b.face_buffer)
                assert np.array_equal(a.depth, b.depth)
