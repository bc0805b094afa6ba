"""View-dependent relations and the scene-level spatial graph (annotation API)."""

from .spatial_graph import GraphNode, SpatialGraph, build_spatial_graph
from .view_relations import (
    AXES,
    DIRECTIONS,
    ViewRelations,
    axis_coordinate,
    axis_margin,
    relation_sign,
    sign_matrix,
    too_wide,
    view_relations,
)

__all__ = [
    "AXES",
    "DIRECTIONS",
    "GraphNode",
    "SpatialGraph",
    "ViewRelations",
    "axis_coordinate",
    "axis_margin",
    "build_spatial_graph",
    "relation_sign",
    "sign_matrix",
    "too_wide",
    "view_relations",
]
