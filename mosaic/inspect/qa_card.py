"""QA cards: one PNG per question with its frames, question, options, answer and diagnostics.

A card shows the question's frames in the order given ("Frame 1" first) with each target's
visible box in the frames where the target is visible, the question text, the options with
their letters (the correct one highlighted), the answer for open-answer types, and the item's
diagnostics. For localization questions the frame the question names is framed in colour, and
every option's point ``(x,y)`` is marked in it with its letter.

The renderer takes plain inputs (``CardFrame`` per frame and the ``QAItem``) so it can be used
without a dataset; ``card_frames_from_dataset`` builds those inputs from a generated dataset.
Rendering uses matplotlib's Agg canvas directly (no pyplot, no GUI).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..structures import OPTION_LETTERS, QAItem
from .visibility_figure import decode_image

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..io.reader import DatasetItem, MosaicDataset

_CORRECT = "#1a7f37"
_NAMED_FRAME = "#d62728"
_MARGIN = 12  # px
_CAPTION = 22  # px band above each frame
_FONT_PT = 11.0
_LINE_PX = 20  # px per text line at _FONT_PT and 100 dpi
_SEP = "  |  "
# qualitative colours that stay readable on indoor frames (matplotlib tab10 subset)
_TARGET_COLORS = ("#17becf", "#ff7f0e", "#e377c2", "#bcbd22", "#9467bd", "#8c564b")
_POINT_RE = re.compile(r"\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)")


@dataclass(frozen=True)
class CardFrame:
    """One frame of a question as the card shows it.

    Attributes:
        frame_id: source frame number.
        width, height: original colour image size (pixels); boxes are in these coordinates.
        image: (H, W, 3) uint8 RGB, or None to draw a grey frame (e.g. images not extracted).
        boxes: target instance id -> visible box (x0, y0, x1, y1) in original-frame pixels,
            only for targets visible in this frame.
    """

    frame_id: int
    width: int
    height: int
    image: np.ndarray | None = None
    boxes: Mapping[int, tuple[float, float, float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class QACard:
    """A written card.

    Attributes:
        path: the PNG.
        size: (width, height) in pixels.
        marked: (frame index k from 0, instance id, box) of every target box drawn.
        option_lines: the option texts as drawn, e.g. ``"B. 3"``; the correct one first
            flagged in ``correct_index`` (None for open-answer items).
        points: (frame index, letter or "", x, y) of localization points drawn.
    """

    path: Path
    size: tuple[int, int]
    marked: tuple[tuple[int, int, tuple[float, float, float, float]], ...]
    option_lines: tuple[str, ...]
    correct_index: int | None
    points: tuple[tuple[int, str, float, float], ...]


def target_color(item: QAItem, instance_id: int) -> str:
    """Box colour of a target: by its position in ``item.targets`` (distinct within a card)."""
    if instance_id in item.targets:
        return _TARGET_COLORS[item.targets.index(instance_id) % len(_TARGET_COLORS)]
    return "#bbbbbb"


def option_lines(item: QAItem) -> tuple[tuple[str, ...], int | None]:
    """("A. text", ...) and the index of the correct option (None for open-answer items)."""
    lines = tuple(f"{OPTION_LETTERS[i]}. {text}" for i, text in enumerate(item.options))
    if not item.options:
        return lines, None
    idx = OPTION_LETTERS.find(item.answer.strip().upper()[:1]) if item.answer else -1
    return lines, (idx if 0 <= idx < len(lines) else None)


def diagnostics_parts(item: QAItem) -> list[str]:
    """The item's diagnostics as short ``"name value"`` strings (as stored, not recomputed)."""
    parts = [
        f"type {item.question_type}",
        f"template {item.template_id}",
        f"overlap_avg {item.overlap_avg:.1f}% ({item.overlap_level})",
        f"occlusion_avg {item.occlusion_avg:.3f} ({item.occ_level})",
        f"vis_level {item.vis_level}",
        f"coverage {item.coverage}",
        "targets " + (",".join(str(t) for t in item.targets) or "-"),
    ]
    if item.bbox_2d is not None:
        x0, y0, x1, y1 = item.bbox_2d
        parts.append(f"bbox_2d ({x0:.0f},{y0:.0f},{x1:.0f},{y1:.0f}) diag {item.bbox_2d_diag}")
    return parts


def diagnostics_text(item: QAItem) -> str:
    """One line of the item's diagnostics."""
    return _SEP.join(diagnostics_parts(item))


def _pack(parts: Sequence[str], cols: int) -> list[str]:
    """Join parts with separators into lines of at most ``cols`` characters (never split)."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + len(_SEP) + len(part) <= cols:
            lines[-1] += _SEP + part
        else:
            lines.append(part)
    return lines


def named_frame_index(item: QAItem) -> int | None:
    """Index (from 0) of the frame the question names ("Frame j"), from the evidence."""
    fid = item.evidence.get("named_frame") if item.evidence else None
    if fid is None or int(fid) not in item.frame_ids:
        return None
    return item.frame_ids.index(int(fid))


def _localization_points(item: QAItem) -> list[tuple[str, float, float, bool]]:
    """(letter or "", x, y, is_correct) of every point the item's answer options carry."""
    out: list[tuple[str, float, float, bool]] = []
    if item.options:
        _, correct = option_lines(item)
        for i, text in enumerate(item.options):
            m = _POINT_RE.search(text)
            if m:
                out.append((OPTION_LETTERS[i], float(m.group(1)), float(m.group(2)), i == correct))
    else:
        m = _POINT_RE.search(item.ground_truth or "")
        if m:
            out.append(("", float(m.group(1)), float(m.group(2)), True))
    return out


def _wrap(text: str, width_px: float, font_px: float, char_em: float = 0.6) -> list[str]:
    """Word-wrap to the width; ``char_em`` is a generous mean glyph width in font sizes."""
    cols = max(20, int(width_px / (font_px * char_em)))
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        lines.extend(textwrap.wrap(para, cols) or [""])
    return lines


@dataclass(frozen=True)
class _CardLayout:
    """Pixel geometry and wrapped text of one card (pixels from the card's top-left corner).

    Attributes:
        width, height: card size.
        cell_w, cell_h: size of one frame panel; ``top`` is the y of the panels' top edge.
        line_px: height of one text line.
        q_lines, opt_lines, answer_text, diag_lines: the text block as drawn, line by line
            (``opt_lines`` holds the wrapped lines of each option).
        opts, correct: the option texts ("A. text", ...) and the correct one's index.
    """

    width: int
    height: int
    cell_w: float
    cell_h: int
    top: int
    line_px: float
    q_lines: list[str]
    opt_lines: list[list[str]]
    answer_text: str
    diag_lines: list[str]
    opts: tuple[str, ...]
    correct: int | None

    def fy(self, px_from_top: float) -> float:
        """Figure y coordinate (0 bottom, 1 top) of a pixel row counted from the top."""
        return 1.0 - px_from_top / self.height


def _card_layout(item: QAItem, frames: Sequence[CardFrame], width: int, dpi: int) -> _CardLayout:
    """Frame panel size, wrapped text and card height: frames side by side, text below."""
    k = max(1, len(frames))
    cell_w = (width - (k + 1) * _MARGIN) / k
    aspect = max((f.height / f.width for f in frames), default=0.75)
    cell_h = int(round(cell_w * aspect))
    scale = dpi / 100.0
    font_px = _FONT_PT * dpi / 72.0
    line_px = _LINE_PX * scale
    text_w = width - 2 * _MARGIN

    q_lines = _wrap(item.question, text_w, font_px)
    opts, correct = option_lines(item)
    opt_lines = [_wrap(o, text_w - 30, font_px) for o in opts]
    answer_text = (
        f"Answer: {item.answer}   (ground truth: {item.ground_truth})"
        if correct is not None
        else f"Answer: {item.ground_truth}"
    )
    # monospace glyphs are 0.6 em wide; 0.62 leaves room for rounding
    diag_lines = _pack(diagnostics_parts(item), max(20, int(text_w / (font_px * 0.85 * 0.62))))
    header_px = 28
    n_text = len(q_lines) + sum(len(o) for o in opt_lines) + 1 + len(diag_lines)
    text_px = int(round((n_text + 0.8) * line_px))
    height = int(header_px + _CAPTION + cell_h + _MARGIN + text_px + _MARGIN)
    return _CardLayout(width=width, height=height, cell_w=cell_w, cell_h=cell_h,
                       top=header_px + _CAPTION, line_px=line_px, q_lines=q_lines,
                       opt_lines=opt_lines, answer_text=answer_text, diag_lines=diag_lines,
                       opts=opts, correct=correct)


def _draw_frame_panel(
    fig: Figure, layout: _CardLayout, i: int, fr: CardFrame, is_named: bool
) -> Axes:
    """Draw frame ``i`` (its image, or grey) with its caption above; named frames in red.

    Returns the panel's axes, in the frame's original pixel coordinates (x right, y down).
    """
    width, height, cell_w, cell_h, top = (layout.width, layout.height, layout.cell_w,
                                          layout.cell_h, layout.top)
    left = _MARGIN + i * (cell_w + _MARGIN)
    ax = fig.add_axes((left / width, layout.fy(top + cell_h), cell_w / width, cell_h / height))
    ax.set_xlim(0, fr.width)
    ax.set_ylim(fr.height, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    if fr.image is None:
        img = np.full((8, 8, 3), 150, np.uint8)
    else:
        img = _thumbnail(fr.image, int(cell_w), cell_h)
    ax.imshow(img, extent=(0, fr.width, fr.height, 0), aspect="auto",
              interpolation="bilinear")
    for spine in ax.spines.values():
        spine.set_edgecolor(_NAMED_FRAME if is_named else "black")
        spine.set_linewidth(3.0 if is_named else 0.8)
    caption = f"Frame {i + 1}  (#{fr.frame_id})" + ("  - named" if is_named else "")
    fig.text((left + 2) / width, layout.fy(top - 4), caption, fontsize=10, va="bottom",
             ha="left", fontweight="bold" if is_named else "normal",
             color=_NAMED_FRAME if is_named else "black")
    return ax


def _draw_target_boxes(
    ax: Axes, item: QAItem, i: int, fr: CardFrame, categories: Mapping[int, str]
) -> list[tuple[int, int, tuple[float, float, float, float]]]:
    """Draw each target's visible box in frame ``i`` with an ``"<id> <category>"`` tag.

    Returns (frame index, instance id, box) of every box drawn, in instance id order.
    """
    from matplotlib.patches import Rectangle

    marked: list[tuple[int, int, tuple[float, float, float, float]]] = []
    for iid, box in sorted(fr.boxes.items()):
        x0, y0, x1, y1 = box
        color = target_color(item, int(iid))
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color,
                               linewidth=2.0))
        name = categories.get(int(iid))
        # above the box, or just inside it when the box touches the top border
        inside = y0 < 0.08 * fr.height
        ax.text(x0, y0, f"{iid} {name}" if name else str(iid), fontsize=8,
                va="top" if inside else "bottom", ha="left", color="black", clip_on=True,
                bbox={"facecolor": color, "alpha": 0.8, "edgecolor": "none",
                      "boxstyle": "square,pad=0.1"})
        marked.append((i, int(iid), (float(x0), float(y0), float(x1), float(y1))))
    return marked


def _draw_localization_points(
    ax: Axes, i: int, fr: CardFrame, points: Sequence[tuple[str, float, float, bool]]
) -> list[tuple[int, str, float, float]]:
    """Mark each option's point (x, y) in frame ``i`` with its letter, the correct one green.

    Returns (frame index, letter or "", x, y) of every point drawn.
    """
    drawn: list[tuple[int, str, float, float]] = []
    for letter, x, y, ok in points:
        c = _CORRECT if ok else "white"
        ax.plot([x], [y], marker="o", markersize=7, markerfacecolor=c,
                markeredgecolor="black", linestyle="none")
        if letter:
            ax.text(x + 0.012 * fr.width, y, letter, fontsize=9, color="black",
                    va="center", ha="left", fontweight="bold",
                    bbox={"facecolor": c, "alpha": 0.85, "edgecolor": "none",
                          "boxstyle": "round,pad=0.15"})
        drawn.append((i, letter, x, y))
    return drawn


def _draw_text_block(fig: Figure, layout: _CardLayout) -> None:
    """Draw the question, the options (correct one boxed green), the answer and diagnostics."""
    width, line_px, correct, fy = layout.width, layout.line_px, layout.correct, layout.fy
    y = layout.top + layout.cell_h + _MARGIN + 0.3 * line_px
    for line in layout.q_lines:
        fig.text(_MARGIN / width, fy(y), line, fontsize=_FONT_PT, va="top", ha="left",
                 fontweight="bold")
        y += line_px
    for j, wrapped in enumerate(layout.opt_lines):
        ok = j == correct
        for n, line in enumerate(wrapped):
            fig.text((_MARGIN + 18) / width, fy(y), line, fontsize=_FONT_PT, va="top",
                     ha="left", color=_CORRECT if ok else "black",
                     fontweight="bold" if ok else "normal",
                     bbox={"facecolor": "#d7f5dd", "edgecolor": _CORRECT,
                           "boxstyle": "round,pad=0.2"} if ok and n == 0 else None)
            y += line_px
    fig.text(_MARGIN / width, fy(y), layout.answer_text,
             fontsize=_FONT_PT, va="top", ha="left", color=_CORRECT, fontweight="bold")
    y += line_px
    for line in layout.diag_lines:
        fig.text(_MARGIN / width, fy(y), line, fontsize=_FONT_PT * 0.85, va="top", ha="left",
                 color="#444444", family="monospace")
        y += line_px


def render_qa_card(
    item: QAItem,
    frames: Sequence[CardFrame],
    out: str | Path,
    *,
    categories: Mapping[int, str] | None = None,
    width: int = 1200,
    dpi: int = 100,
) -> QACard:
    """Draw one QA item as a card and save it as a PNG.

    Args:
        item: the question (frames in ``item.frame_ids`` order).
        frames: one ``CardFrame`` per entry of ``item.frame_ids``, same order.
        out: PNG path (parent folders are created).
        categories: instance id -> category, to name the marked targets.
        width: card width in pixels; the height follows from the frames and the text.
        dpi: point-to-pixel ratio of text.

    Returns:
        The written card: path, pixel size and what was drawn.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if len(frames) != len(item.frame_ids):
        raise ValueError(
            f"item {item.id}: {len(item.frame_ids)} frame ids but {len(frames)} card frames"
        )
    categories = categories or {}
    layout = _card_layout(item, frames, width, dpi)
    fig = Figure(figsize=(width / dpi, layout.height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    fig.text(_MARGIN / width, layout.fy(6), f"{item.id}   ({item.scene_id}, {item.family})",
             fontsize=9, va="top", ha="left", color="#444444")

    named = named_frame_index(item)
    points = _localization_points(item) if item.family == "object_localization" else []
    marked: list[tuple[int, int, tuple[float, float, float, float]]] = []
    drawn_points: list[tuple[int, str, float, float]] = []
    for i, fr in enumerate(frames):
        ax = _draw_frame_panel(fig, layout, i, fr, named == i)
        marked += _draw_target_boxes(ax, item, i, fr, categories)
        if named == i:
            drawn_points += _draw_localization_points(ax, i, fr, points)
    _draw_text_block(fig, layout)

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return QACard(path=path, size=(width, layout.height), marked=tuple(marked),
                  option_lines=layout.opts, correct_index=layout.correct,
                  points=tuple(drawn_points))


def _thumbnail(image: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    image = np.asarray(image, np.uint8)
    if image.shape[1] <= width and image.shape[0] <= height:
        return image
    return np.asarray(Image.fromarray(image).resize((max(1, width), max(1, height)),
                                                    Image.BILINEAR))


def card_frames_from_dataset(ds: MosaicDataset, item: DatasetItem) -> list[CardFrame]:
    """The card inputs of one dataset item: images (grey when absent) and target boxes.

    A target is boxed in a frame when its visibility row there says it is visible; the box is
    that row's ``bbox_visible``.
    """
    frames = []
    for k, view in enumerate(item.views):
        try:
            image: np.ndarray | None = decode_image(ds.image_bytes(item, k))
        except FileNotFoundError:
            image = None  # images not extracted: the card still shows boxes and text
        boxes = {
            iid: rec.bbox_visible
            for iid, rec in item.visibility[k].items()
            if rec.visible and rec.bbox_visible is not None
        }
        frames.append(CardFrame(view.frame_id, view.width, view.height, image, boxes))
    return frames


def dataset_categories(ds: MosaicDataset, item: DatasetItem) -> dict[int, str]:
    """Instance id -> category of the item's scene, from the shard's ``objects/`` table."""
    shard = ds.shards[ds.shard_names.index(item.shard)]
    scene_row = int(shard.column("qa", "scene_row")[item.row])
    rows = np.flatnonzero(shard.column("objects", "scene_row") == scene_row)
    ids = shard.column("objects", "instance_id")
    cats = shard.column("objects", "category")
    return {int(ids[r]): str(cats[r]) for r in rows}
