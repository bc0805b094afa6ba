"""The task families and their question types: one registration each (``mosaic.registry``).

SpatialMosaic's six families, plus ``numeric``: its numeric extras (camera and object distances,
object size), which are not one of the six but are registered, selected and reported the same
way, as a seventh group. ``mosaic.structures.FAMILIES`` / ``QA_TYPES`` / ``FAMILY_OF`` derive
from this registry.

A family's module (``mosaic/tasks/<family>.py``) defines ``candidates(ctx, viewset, qtype,
rng) -> list[Draft]`` and may define ``CLASS_CYCLES`` (answer-class balancing per type),
``POOL_FACTOR`` (candidate pool size) and ``arrange`` (reordering of the chosen drafts); see
docs/adding_a_task_family.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from .registry import Registry, Spec


@dataclass(frozen=True)
class FamilySpec(Spec):
    """A task family: ``types`` are its question types, in report order."""

    types: tuple[str, ...] = ()


FAMILY_SPECS: Registry[FamilySpec] = Registry("task family", [
    FamilySpec("object_count", "mosaic.tasks.count",
               types=("obj_count_occ", "obj_count_occ_na")),
    FamilySpec("best_view", "mosaic.tasks.bestview", types=("bestview_count_occ",)),
    FamilySpec("object_localization", "mosaic.tasks.localization",
               types=("obj_localization_occ", "obj_localization_occ_na")),
    FamilySpec("object_existence", "mosaic.tasks.existence",
               types=("obj_existence_occ_ab", "obj_existence_occ_fb", "obj_existence_occ_lr")),
    FamilySpec("object_attribute", "mosaic.tasks.attribute",
               types=("obj_attribute_occ_ab", "obj_attribute_occ_fb", "obj_attribute_occ_lr")),
    FamilySpec("object_relation", "mosaic.tasks.relation",
               types=("obj_spatial_occ_ab", "obj_spatial_occ_fb", "obj_spatial_occ_lr")),
    FamilySpec("numeric", "mosaic.tasks.numeric",
               types=("obj_distance_occ_na", "obj_obj_distance_occ_na", "obj_size_occ_na")),
])
