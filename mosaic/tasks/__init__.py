"""Question generation: view sets, six task families plus numeric extras, 17 question types
(the annotation API)."""

from ..structures import FAMILIES, QA_TYPES
from .generate import build_context, generate_qa
from .viewsets import ViewSet, overlap_level, sample_view_sets, subsample_frames

__all__ = [
    "FAMILIES",
    "QA_TYPES",
    "ViewSet",
    "build_context",
    "generate_qa",
    "overlap_level",
    "sample_view_sets",
    "subsample_frames",
]
