"""Checks shared by the reader and labelling tests: two labellings agree exactly, and a
scene's frames read, checked and labelled by the worker of a ScenePool (its store travels
pickled) give exactly what one process gives."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from mosaic.config import MosaicConfig
from mosaic.pipeline import label_views
from mosaic.scene_pool import ScenePool
from mosaic.structures import Scene


def assert_same_labels(a, b) -> None:
    """Two labellings of the same views agree exactly, field by field (NaN equal to NaN)."""
    assert len(a) == len(b)
    for va, vb in zip(a, b, strict=True):
        assert va.frame_id == vb.frame_id and va.scale == vb.scale
        assert np.array_equal(va.instance_buffer, vb.instance_buffer)
        assert np.array_equal(va.face_buffer, vb.face_buffer)
        assert np.array_equal(va.depth, vb.depth)
        assert np.array_equal(va.visible_faces, vb.visible_faces)
        assert [o.instance_id for o in va.objects] == [o.instance_id for o in vb.objects]
        for oa, ob in zip(va.objects, vb.objects, strict=True):
            for name in oa.__dataclass_fields__:
                x, y = getattr(oa, name), getattr(ob, name)
                if isinstance(x, float) and np.isnan(x):
                    assert isinstance(y, float) and np.isnan(y), (va.frame_id, oa, name)
                else:
                    assert x == y, (va.frame_id, oa.instance_id, name, x, y)


@contextmanager
def pool_used() -> Iterator[list[int]]:
    """The sizes of the pools whose work reached a worker while the block ran."""
    used: list[int] = []
    real = ScenePool._write_job

    def spy(self, job):
        used.append(self.workers)
        return real(self, job)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ScenePool, "_write_job", spy)
        yield used


def assert_pool_labels_match(scenes: list[Scene]) -> list:
    """Every frame labelled (batches of 2 at 64 px, so the worker takes some), with the
    pose checks, rejections and labels of one process; returns the rejections (so a caller
    can check that its scenes had some)."""
    cfg = MosaicConfig()
    cfg = dataclasses.replace(
        cfg, visibility=dataclasses.replace(cfg.visibility, batch_views=2, max_side=64),
        viewsets=dataclasses.replace(cfg.viewsets, frame_step=1))
    rejected = []
    with ScenePool(2) as pool:
        for scene in scenes:
            one = label_views(scene, cfg)
            with pool_used() as used:
                two = label_views(scene, cfg, pool=pool)
            assert used == [2], scene.scene_id  # the worker took batches
            assert one.sampled == two.sampled
            # repr: NaN equals NaN (an undecodable frame has no pose error)
            assert repr(one.rejected) == repr(two.rejected)
            assert repr(one.pose_checks) == repr(two.pose_checks)
            rejected += one.rejected
            assert [v.frame_id for v in one.views] == [v.frame_id for v in two.views]
            assert len(one.views) >= 2, scene.scene_id
            assert_same_labels(two.views, one.views)
    return rejected
