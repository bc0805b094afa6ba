"""Inspection images: visibility figures of views and QA cards of generated questions.

Pure rendering on matplotlib's Agg canvas (no GUI); every function takes data and writes PNGs.

Public API:
    render_visibility_figure(view, frame, out, image=..., categories=...) -> VisibilityFigure
    write_view_figures(scene, views, out_dir) -> list[VisibilityFigure]
    render_qa_card(item, frames, out, categories=...) -> QACard
    card_frames_from_dataset(ds, item) -> list[CardFrame]
"""

from .qa_card import (
    CardFrame,
    QACard,
    card_frames_from_dataset,
    dataset_categories,
    diagnostics_text,
    option_lines,
    render_qa_card,
)
from .visibility_figure import (
    STATE_COLORS,
    DrawnObject,
    VisibilityFigure,
    decode_image,
    figure_size,
    label_text,
    objects_to_draw,
    render_visibility_figure,
    write_view_figures,
)

__all__ = [
    "STATE_COLORS",
    "CardFrame",
    "DrawnObject",
    "QACard",
    "VisibilityFigure",
    "card_frames_from_dataset",
    "dataset_categories",
    "decode_image",
    "diagnostics_text",
    "figure_size",
    "label_text",
    "objects_to_draw",
    "option_lines",
    "render_qa_card",
    "render_visibility_figure",
    "write_view_figures",
]
