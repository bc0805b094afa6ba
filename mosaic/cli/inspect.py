"""Inspection commands: ``mosaic inspect visibility`` and ``mosaic inspect qa``."""

from __future__ import annotations

from pathlib import Path

import click

from ..structures import QA_TYPES
from . import friendly_errors, main
from .reading import allow_incomplete_option, report_left_out
from .run_config import build_config, config_options


@main.group()
def inspect() -> None:
    """Inspection images: visibility figures of frames, QA cards of a dataset."""


@inspect.command("visibility")
@config_options
@click.argument("scene_id")
@click.option("--frames", required=True, help="frame ids: '0,10,20' or '0:300:100'")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="output folder")
@click.option("--panel-width", type=int, default=640, show_default=True,
              help="width of each of the two panels of a figure (pixels)")
@friendly_errors
def visibility_cmd(config_path, overrides, source, root, scene_id, frames, out, panel_width):
    """One PNG per frame: objects coloured by visibility state, and the instance buffer
    (labelled with the config's visibility section, e.g. --set visibility.max_side=160)."""
    from ..inspect import objects_to_draw, write_view_figures
    from ..sources import load_scene_of
    from ..visibility import compute_visibility
    from .visibility import check_usable_frames, parse_frames

    config = build_config(config_path, overrides, source=source, root=root)
    scene = load_scene_of(config, scene_id)
    ids = parse_frames(frames) or []
    check_usable_frames(scene, ids)
    views = compute_visibility(scene, ids, config=config.visibility)
    figures = write_view_figures(scene, views, out, panel_width=panel_width)
    for view, fig in zip(views, figures, strict=True):
        states: dict[str, int] = {}
        for d in fig.drawn:
            states[d.state] = states.get(d.state, 0) + 1
        counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"
        click.echo(f"frame {view.frame_id}: {len(objects_to_draw(view))} objects ({counts}) "
                   f"-> {fig.path}")


@inspect.command("qa")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--id", "item_id", help="the id of one QA item")
@click.option("--type", "qtype", type=click.Choice(QA_TYPES), help="question type")
@click.option("--n", type=click.IntRange(min=1), default=8, show_default=True,
              help="cards of --type to draw (the first n items of that type)")
@click.option("--split", default=None, help="only this split's shards (train, bench)")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="output folder")
@click.option("--width", type=int, default=1200, show_default=True, help="card width (pixels)")
@allow_incomplete_option
@friendly_errors
def qa_cmd(dataset, item_id, qtype, n, split, out, width, allow_incomplete):
    """QA cards of a generated dataset: frames, question, options, answer, diagnostics."""
    from ..inspect import card_frames_from_dataset, dataset_categories, render_qa_card
    from ..io.reader import open_dataset

    if (item_id is None) == (qtype is None):
        raise click.UsageError("give exactly one of --id ID or --type TYPE")
    with open_dataset(dataset, split=split, allow_incomplete=allow_incomplete) as ds:
        report_left_out(ds)
        indices = []
        for i, qa in enumerate(ds.iter_qa()):
            if (item_id is not None and qa.id == item_id) or (
                qtype is not None and qa.question_type == qtype
            ):
                indices.append(i)
                if item_id is not None or len(indices) >= n:
                    break
        if not indices:
            what = f"item {item_id}" if item_id else f"items of type {qtype}"
            raise click.ClickException(f"no {what} in {dataset}")
        for i in indices:
            item = ds[i]
            frames = card_frames_from_dataset(ds, item)
            card = render_qa_card(item.qa, frames, Path(out) / f"{item.qa.id}.png",
                                  categories=dataset_categories(ds, item), width=width)
            missing = sum(f.image is None for f in frames)
            note = f" ({missing} frames without image)" if missing else ""
            click.echo(f"{item.qa.id}: {item.qa.question_type} -> {card.path}{note}")
