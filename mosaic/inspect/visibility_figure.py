"""Visibility inspection figure: one view's objects coloured by visibility state.

Left panel: the colour frame (grey when the scene has no colour) with every object that is
visible or has an amodal footprint inside the image: visible pixels tinted by state, visible box
solid, amodal box (clipped to the image) dashed, and a label ``"<id> <category> occ 0.42 trunc
0.10"``. Right panel: the first-hit instance buffer in pseudo-colour (black = miss, dark grey =
unannotated). Both panels are drawn in original-frame pixel coordinates (x right, y down), so the
boxes of ``ObjectVisibility`` are drawn as stored, with no rescaling.

Rendering uses matplotlib's Agg canvas directly (no pyplot, no GUI); the figure's pixel size is
fixed by the layout, so the PNG is exactly ``VisibilityFigure.size``.
"""

from __future__ import annotations

import colorsys
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..structures import Frame, ObjectVisibility, Scene, ViewVisibility

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# One colour per state, shared by the legend, the tint and the box outlines.
STATE_COLORS: dict[str, str] = {
    "full": "#2ca02c",
    "occluded": "#ff7f0e",
    "truncated": "#1f77b4",
    "occluded+truncated": "#d62728",
    "invisible": "#8c8c8c",
}
_GREY_BACKGROUND = 150  # uint8 level of the stand-in frame when there is no colour image
_TINT_ALPHA = 0.40
_MARGIN = 8  # px between panels and around the figure
_HEADER = 30  # px title band
_LEGEND_ROW = 18  # px per legend row
_LEGEND_ITEMS = 7  # five states and two line styles
_LABEL_PT = 7.0  # label font size in points


@dataclass(frozen=True)
class DrawnObject:
    """What the figure shows for one object (values copied from its ``ObjectVisibility``).

    Attributes:
        instance_id, category, state: as in the record and the scene.
        occlusion, truncation, visible_ratio: the record's values (the label rounds them).
        bbox_visible, bbox_amodal: (x0, y0, x1, y1) original-frame pixels, or None.
        label: the text drawn next to the object.
        color: the state colour used for tint and outlines.
    """

    instance_id: int
    category: str
    state: str
    occlusion: float
    truncation: float
    visible_ratio: float
    bbox_visible: tuple[float, float, float, float] | None
    bbox_amodal: tuple[float, float, float, float] | None
    label: str
    color: str


@dataclass(frozen=True)
class VisibilityFigure:
    """A written figure: its path, pixel size (width, height) and the annotations drawn."""

    path: Path
    size: tuple[int, int]
    drawn: tuple[DrawnObject, ...]


def label_text(instance_id: int, category: str, occlusion: float, truncation: float) -> str:
    """The label drawn next to an object, e.g. ``"12 chair occ 0.42 trunc 0.10"``."""
    return f"{instance_id} {category} occ {occlusion:.2f} trunc {truncation:.2f}"


def objects_to_draw(view: ViewVisibility) -> list[ObjectVisibility]:
    """Records shown in the figure: visible, or with an amodal footprint inside the image."""
    return [o for o in view.objects if o.visible or o.bbox_amodal is not None]


def decode_image(data: bytes) -> np.ndarray:
    """Encoded image bytes (JPEG, PNG) -> (H, W, 3) uint8 RGB."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def instance_color(instance_id: int) -> tuple[float, float, float]:
    """A stable, well-spread RGB colour (0..1) per instance id (golden-ratio hue steps)."""
    hue = (instance_id * 0.618033988749895) % 1.0
    sat = 0.55 + 0.35 * ((instance_id * 7) % 3) / 2.0
    return colorsys.hsv_to_rgb(hue, sat, 0.95)


def instance_buffer_rgb(buffer: np.ndarray) -> np.ndarray:
    """(h, w) int32 instance buffer -> (h, w, 3) uint8 pseudo-colour.

    -1 (miss) is black, 0 (unannotated geometry) dark grey, ids >= 1 get ``instance_color``.
    """
    ids, inverse = np.unique(buffer, return_inverse=True)
    lut = np.zeros((len(ids), 3), np.float64)
    for k, iid in enumerate(ids):
        if iid == -1:
            lut[k] = 0.0
        elif iid == 0:
            lut[k] = 0.3
        else:
            lut[k] = instance_color(int(iid))
    return (lut[inverse.reshape(buffer.shape)] * 255).round().astype(np.uint8)


def _resize_for_display(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Downscale a colour image to the panel size (keeps PNGs small, drawing fast)."""
    from PIL import Image

    if image.shape[1] <= width and image.shape[0] <= height:
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def _hex_rgb(color: str) -> tuple[float, float, float]:
    c = color.lstrip("#")
    return tuple(int(c[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


class _LabelPlacer:
    """Greedy placement of label boxes so labels do not sit on top of each other.

    Works in panel pixels. A label is tried just above its anchor box, then one label height
    higher at a time, then just below the box and lower; the first free slot wins (else the
    slot above the box is used anyway).
    """

    def __init__(self, panel_w: float, panel_h: float, font_px: float):
        self.w, self.h = panel_w, panel_h
        self.line_h = font_px * 1.45
        self.char_w = font_px * 0.58
        self.placed: list[tuple[float, float, float, float]] = []

    def place(self, text: str, box: Sequence[float]) -> tuple[float, float]:
        """(x, y) top-left of the label of an anchor box (x0, y0, x1, y1), panel pixels."""
        tw = len(text) * self.char_w + 4
        x = min(max(0.0, box[0]), max(0.0, self.w - tw))
        above = [box[1] - (k + 1) * self.line_h for k in range(int(self.h / self.line_h))]
        below = [box[3] + k * self.line_h for k in range(int(self.h / self.line_h))]
        slots = [y for y in above if y >= 0] + [y for y in below if y + self.line_h <= self.h]
        first = min(max(0.0, box[1] - self.line_h), self.h - self.line_h)
        chosen = first
        for y in slots:
            if not any(_overlap((x, y, x + tw, y + self.line_h), b) for b in self.placed):
                chosen = y
                break
        self.placed.append((x, chosen, x + tw, chosen + self.line_h))
        return x, chosen


def _overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _legend_columns(fig_w: int) -> int:
    """Legend entries per row: all in one row on wide figures, fewer on narrow ones."""
    return max(2, min(_LEGEND_ITEMS, int(fig_w // 135)))


def footer_height(fig_w: int) -> int:
    """Pixels of the legend band under the panels of a figure this wide."""
    rows = -(-_LEGEND_ITEMS // _legend_columns(fig_w))
    return 10 + rows * _LEGEND_ROW


def figure_size(frame: Frame, panel_width: int) -> tuple[int, int]:
    """(width, height) in pixels of the figure for a frame of this aspect ratio."""
    panel_h = int(round(panel_width * frame.height / frame.width))
    fig_w = 2 * panel_width + 3 * _MARGIN
    return fig_w, _HEADER + panel_h + footer_height(fig_w)


def _panel_axes(fig: Figure, frame: Frame, panel_width: int, panel_h: int) -> tuple[Axes, Axes]:
    """The two panels side by side above the legend band, in original-frame pixels.

    Both axes span x 0..frame.width, y frame.height..0 (y down) with no ticks.
    """
    fig_w, fig_h = figure_size(frame, panel_width)
    footer = footer_height(fig_w)
    axes = []
    for k in range(2):
        left = (_MARGIN + k * (panel_width + _MARGIN)) / fig_w
        ax = fig.add_axes((left, footer / fig_h, panel_width / fig_w, panel_h / fig_h))
        ax.set_xlim(0, frame.width)
        ax.set_ylim(frame.height, 0)
        ax.set_aspect("auto")
        ax.set_xticks([])
        ax.set_yticks([])
        axes.append(ax)
    return axes[0], axes[1]


def _draw_tinted_frame(
    ax: Axes, view: ViewVisibility, records: Sequence[ObjectVisibility], frame: Frame,
    image: np.ndarray | None, panel_width: int, panel_h: int,
) -> None:
    """Draw the colour frame (grey without one) and tint each drawn object's visible pixels
    with its state colour (the instance buffer stretched over the frame)."""
    W, H = frame.width, frame.height
    if image is None:
        shown = np.full((panel_h, panel_width, 3), _GREY_BACKGROUND, np.uint8)
    else:
        shown = _resize_for_display(np.asarray(image, np.uint8), panel_width, panel_h)
    ax.imshow(shown, extent=(0, W, H, 0), interpolation="bilinear", aspect="auto")
    buf = view.instance_buffer
    tint = np.zeros((*buf.shape, 4), np.float32)
    for rec in records:
        r, g, b = _hex_rgb(STATE_COLORS[rec.state])
        tint[buf == rec.instance_id] = (r, g, b, _TINT_ALPHA)
    ax.imshow(tint, extent=(0, W, H, 0), interpolation="nearest", aspect="auto")


def _draw_label(
    ax: Axes, placer: _LabelPlacer, text: str, anchor: Sequence[float], color: str,
    to_panel: float,
) -> None:
    """Draw an object's label where ``placer`` finds room near its anchor box (x0, y0, x1,
    y1, original-frame pixels), with a leader line to the box when it had to move away."""
    px, py = placer.place(text, [c * to_panel for c in anchor])
    if py + placer.line_h < anchor[1] * to_panel - 1 or py > anchor[3] * to_panel + 1:
        # label slid away from its box: a leader line keeps the pairing readable
        ly = py + placer.line_h if py < anchor[1] * to_panel else py
        ax.plot([px / to_panel + 4 / to_panel, anchor[0]],
                [ly / to_panel, anchor[1] if py < anchor[1] * to_panel else anchor[3]],
                color=color, linewidth=0.7, alpha=0.9)
    ax.text(px / to_panel + 2 / to_panel, py / to_panel, text, fontsize=_LABEL_PT,
            color="black", va="top", ha="left", clip_on=True,
            bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": color,
                  "boxstyle": "square,pad=0.15", "linewidth": 0.8})


def _draw_objects(
    ax: Axes, records: Sequence[ObjectVisibility], categories: Mapping[int, str],
    frame: Frame, panel_width: int, panel_h: int, dpi: int,
) -> list[DrawnObject]:
    """Draw each record's amodal box (dashed), visible box (solid) and label in its state
    colour; returns what was drawn, in the order of ``records``."""
    from matplotlib.patches import Rectangle

    placer = _LabelPlacer(panel_width, panel_h, _LABEL_PT * dpi / 72.0)
    to_panel = panel_width / frame.width
    drawn: list[DrawnObject] = []
    for rec in records:
        color = STATE_COLORS[rec.state]
        cat = categories.get(rec.instance_id, "?")
        text = label_text(rec.instance_id, cat, rec.occlusion, rec.truncation)
        for bbox, style, lw in ((rec.bbox_amodal, "--", 1.0), (rec.bbox_visible, "-", 1.6)):
            if bbox is None:
                continue
            x0, y0, x1, y1 = bbox
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False,
                                   edgecolor=color, linestyle=style, linewidth=lw))
        # objects_to_draw keeps only records with at least one box
        anchor = rec.bbox_visible if rec.bbox_visible is not None else rec.bbox_amodal
        _draw_label(ax, placer, text, anchor, color, to_panel)
        drawn.append(DrawnObject(
            instance_id=rec.instance_id, category=cat, state=rec.state,
            occlusion=rec.occlusion, truncation=rec.truncation,
            visible_ratio=rec.visible_ratio, bbox_visible=rec.bbox_visible,
            bbox_amodal=rec.bbox_amodal, label=text, color=color,
        ))
    return drawn


def _draw_instance_buffer(
    ax: Axes, buf: np.ndarray, records: Sequence[ObjectVisibility], frame: Frame
) -> None:
    """Draw the (h, w) instance buffer in pseudo-colour, each drawn object's id at its visible
    centre, and a caption explaining black and grey."""
    ax.imshow(instance_buffer_rgb(buf), extent=(0, frame.width, frame.height, 0),
              interpolation="nearest", aspect="auto")
    for rec in records:
        if rec.center_visible is None:
            continue
        cx, cy = rec.center_visible
        ax.text(cx, cy, str(rec.instance_id), fontsize=_LABEL_PT, color="white",
                ha="center", va="center", fontweight="bold",
                bbox={"facecolor": "black", "alpha": 0.5, "edgecolor": "none",
                      "boxstyle": "round,pad=0.1"})
    ax.text(0.01, 0.01, "instance buffer (black = miss, grey = unannotated)",
            transform=ax.transAxes, fontsize=7.5, color="white", va="bottom",
            ha="left", bbox={"facecolor": "black", "alpha": 0.6, "edgecolor": "none"})


def _draw_legend(fig: Figure, drawn: Sequence[DrawnObject], fig_w: int) -> None:
    """Draw the legend band: each state's colour with its count, and the two box styles."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    counts = {s: sum(d.state == s for d in drawn) for s in STATE_COLORS}
    handles = [Patch(facecolor=c, edgecolor=c, alpha=0.8, label=f"{s} ({counts[s]})")
               for s, c in STATE_COLORS.items()]
    handles += [Line2D([], [], color="black", linestyle="-", label="visible box"),
                Line2D([], [], color="black", linestyle="--", label="amodal box")]
    fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(_MARGIN / fig_w, 0.0),
               ncol=_legend_columns(fig_w), fontsize=7.5, frameon=False, handlelength=1.6,
               columnspacing=1.2)


def render_visibility_figure(
    view: ViewVisibility,
    frame: Frame,
    out: str | Path,
    *,
    image: np.ndarray | None = None,
    categories: Mapping[int, str] | None = None,
    title: str | None = None,
    panel_width: int = 640,
    dpi: int = 100,
) -> VisibilityFigure:
    """Draw one view's visibility labels next to its instance buffer and save a PNG.

    Args:
        view: the view's labels from ``compute_visibility``.
        frame: the matching frame (its width/height define the original pixel coordinates).
        out: PNG path to write (parent folders are created).
        image: (H, W, 3) uint8 RGB colour frame; None draws a grey frame instead. Any size is
            stretched onto the frame's (width, height) coordinates.
        categories: instance id -> category name for labels (missing ids show ``"?"``).
        title: header text (default: frame id, labelling size, object counts).
        panel_width: width in pixels of each of the two panels.
        dpi: only sets the point-to-pixel ratio of text; the PNG size does not depend on it.

    Returns:
        The written figure with its size and the list of drawn objects, in the order of
        ``view.objects`` (instance id).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    categories = categories or {}
    fig_w, fig_h = figure_size(frame, panel_width)
    panel_h = fig_h - _HEADER - footer_height(fig_w)
    fig = Figure(figsize=(fig_w / dpi, fig_h / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax_img, ax_buf = _panel_axes(fig, frame, panel_width, panel_h)

    # left: colour frame, state tint of visible pixels, boxes, labels
    records = objects_to_draw(view)
    _draw_tinted_frame(ax_img, view, records, frame, image, panel_width, panel_h)
    drawn = _draw_objects(ax_img, records, categories, frame, panel_width, panel_h, dpi)
    # right: instance buffer, ids written at the visible centres of drawn objects
    _draw_instance_buffer(ax_buf, view.instance_buffer, records, frame)

    if title is None:
        n_vis = sum(o.visible for o in view.objects)
        h_lab, w_lab = view.instance_buffer.shape
        title = (f"frame {view.frame_id}  |  {len(records)} objects drawn, {n_vis} visible  |  "
                 f"labelling {w_lab}x{h_lab}")
    fig.text(_MARGIN / fig_w, 1 - 7 / fig_h, title, fontsize=9, va="top", ha="left")
    _draw_legend(fig, drawn, fig_w)

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return VisibilityFigure(path=path, size=(fig_w, fig_h), drawn=tuple(drawn))


def write_view_figures(
    scene: Scene,
    views: Sequence[ViewVisibility],
    out_dir: str | Path,
    *,
    panel_width: int = 640,
) -> list[VisibilityFigure]:
    """One figure per view of a scene, named ``<scene>_frame<frame id, 6 digits>.png``.

    Colour comes from ``scene.read_color`` (grey frames when the scene has no store);
    labels use the scene objects' categories.
    """
    categories = {o.instance_id: o.category for o in scene.objects}
    out = []
    for view in views:
        frame = scene.frame(view.frame_id)
        image = None if scene.store is None else decode_image(scene.read_color(view.frame_id))
        n_vis = sum(o.visible for o in view.objects)
        h, w = view.instance_buffer.shape
        title = (f"{scene.scene_id} frame {view.frame_id}  |  {len(objects_to_draw(view))} "
                 f"objects drawn, {n_vis} visible  |  labelling {w}x{h}")
        path = Path(out_dir) / f"{scene.scene_id}_frame{view.frame_id:06d}.png"
        out.append(render_visibility_figure(view, frame, path, image=image,
                                            categories=categories, title=title,
                                            panel_width=panel_width))
    return out
