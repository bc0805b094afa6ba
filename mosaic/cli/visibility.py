"""Visibility commands: backends, visibility."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from . import friendly_errors, main
from .run_config import build_config, config_options


def parse_frames(text: str | None) -> list[int] | None:
    """'0,10,20' or 'start:stop:step' (or a mix, comma separated) -> frame ids."""
    if not text:
        return None
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if ":" in part:
                bits = [int(b) if b else None for b in part.split(":")]
                if len(bits) > 3:
                    raise ValueError(part)
                start, stop = bits[0] or 0, bits[1]
                step = bits[2] if len(bits) > 2 and bits[2] is not None else 1
                if stop is None:
                    raise click.BadParameter(f"range {part!r} needs an end, e.g. 0:300:10",
                                             param_hint="--frames")
                if step < 1:
                    raise click.BadParameter(f"range {part!r}: the step must be >= 1",
                                             param_hint="--frames")
                out.extend(range(start, stop, step))
            elif part:
                out.append(int(part))
        except ValueError:
            raise click.BadParameter(
                f"{part!r} is not a frame id or a range; use '0,10,20' or '0:300:10'",
                param_hint="--frames",
            ) from None
    return out


def check_usable_frames(scene: Any, ids: list[int]) -> None:
    """Refuse frame ids without a usable pose, naming why each one is missing."""
    usable = {fr.frame_id for fr in scene.frames}
    missing = [f for f in ids if f not in usable]
    if missing:
        skipped = {s.frame_id: s.reason for s in scene.skipped_frames}
        why = ", ".join(f"{f} ({skipped.get(f, 'not in the scene')})" for f in missing)
        raise click.BadParameter(f"frames without a usable pose: {why}", param_hint="--frames")


@main.command()
def backends() -> None:
    """List ray-casting backends and whether each is usable here."""
    from ..visibility import available_backends

    for name, status in available_backends().items():
        click.echo(f"{name:10s} {status}")


@main.command()
@config_options
@click.argument("scene_id")
@click.option("--frames", help="frame ids: '0,10,20' or '0:300:10' (default: every usable frame)")
@click.option("--step", type=click.IntRange(min=1), default=None,
              help="keep every n-th usable frame")
@click.option("--out", type=click.Path(dir_okay=False), help="labels.json or labels.h5")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="processes labelling the views side by side (same labels)")
@friendly_errors
def visibility(config_path, overrides, source, root, scene_id, frames, step, out, workers):
    """Compute per-view visibility labels for one scene (settings: the config's visibility
    section, e.g. --set visibility.backend=warp --set visibility.max_side=160)."""
    from tqdm import tqdm

    from ..io.labels_file import SUFFIXES
    from ..sources import load_scene_of
    from ..visibility import compute_visibility

    if out and Path(out).suffix.lower() not in SUFFIXES:  # before the casting, not after
        raise click.BadParameter(f"{out}: use a .json or .h5 file name", param_hint="--out")
    config = build_config(config_path, overrides, source=source, root=root)
    scene = load_scene_of(config, scene_id)
    ids = parse_frames(frames)
    if ids is None:
        ids = [f.frame_id for f in scene.frames]
        if step:
            ids = ids[::step]
    else:
        check_usable_frames(scene, ids)
    cfg = config.visibility
    with tqdm(total=len(ids), unit="view", desc=scene_id) as bar:
        views = compute_visibility(scene, ids, config=cfg, progress=bar.update, workers=workers)
    states: dict[str, int] = {}
    for v in views:
        for o in v.objects:
            states[o.state] = states.get(o.state, 0) + 1
    click.echo(f"{scene_id}: {len(views)} views, {sum(states.values())} (view, object) records")
    for s, n in sorted(states.items()):
        click.echo(f"  {s:20s} {n}")
    if out:
        from ..io.labels_file import write_labels

        click.echo(f"wrote {write_labels(out, scene_id, views, cfg)}")
