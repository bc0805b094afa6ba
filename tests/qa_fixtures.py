"""Shared, cached inputs of the QA tests: small synthetic scenes and their visibility.

Scenes are small (few frames, 160 px labelling) so each test file stays fast; the cache lives
for the whole session so the three QA test files share one ray-casting pass per scene.
"""

from __future__ import annotations

import dataclasses
from functools import cache

from mosaic.config import MosaicConfig, QAConfig, ViewSetConfig, VisibilityConfig
from mosaic.structures import QAItem, Scene, ViewVisibility

SCENE_SEEDS = (0, 1, 2)
QA_SEEDS = (0, 7)
N_FRAMES = 100
COLOR_SIZE = (480, 360)

TEST_CONFIG = MosaicConfig(
    visibility=VisibilityConfig(max_side=160),
    viewsets=ViewSetConfig(frame_step=5, sets_per_scene=80),
    qa=QAConfig(per_type_per_scene=8, per_category_per_type=3),
)


@cache
def scene(seed: int) -> Scene:
    from mosaic.synthetic.world import SynthSpec, make_scene

    spec = SynthSpec(n_frames=N_FRAMES, color_size=COLOR_SIZE)
    return make_scene(seed, spec=spec, scene_id=f"synth{seed:04d}_00")


@cache
def views(seed: int) -> tuple[ViewVisibility, ...]:
    from mosaic.pipeline import label_views

    return label_views(scene(seed), TEST_CONFIG).views


@cache
def items(scene_seed: int, qa_seed: int) -> tuple[QAItem, ...]:
    from mosaic.tasks import generate_qa

    config = dataclasses.replace(TEST_CONFIG, seed=qa_seed)
    return tuple(generate_qa(scene(scene_seed), list(views(scene_seed)), config))


def config_with(**qa_changes) -> MosaicConfig:
    return dataclasses.replace(TEST_CONFIG, qa=dataclasses.replace(TEST_CONFIG.qa, **qa_changes))
