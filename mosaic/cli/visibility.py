"""Visibility commands: backends, visibility."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from . import friendly_errors, main


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
@click.option("--source", default="scannet", show_default=True, help="scene source")
@click.option("--root", required=True, type=click.Path(file_okay=False), help="dataset root")
@click.argument("scene_id")
@click.option("--frames", help="frame ids: '0,10,20' or '0:300:10' (default: every usable frame)")
@click.option("--step", type=click.IntRange(min=1), default=None,
              help="keep every n-th usable frame")
@click.option("--backend", default="embree", show_default=True)
@click.option("--device", default="cpu", show_default=True, help="warp device: cpu or cuda:N")
@click.option("--max-side", type=int, default=320, show_default=True)
@click.option("--amodal", type=click.Choice(["pruned", "exact"]), default="pruned",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="labels.json or labels.h5")
@friendly_errors
def visibility(source, root, scene_id, frames, step, backend, device, max_side, amodal, out):
    """Compute per-view visibility labels for one scene."""
    import dataclasses

    from tqdm import tqdm

    from ..config import VisibilityConfig
    from ..io.labels_file import SUFFIXES
    from ..sources import load_scene
    from ..visibility import compute_visibility

    if out and Path(out).suffix.lower() not in SUFFIXES:  # before the casting, not after
        raise click.BadParameter(f"{out}: use a .json or .h5 file name", param_hint="--out")
    scene = load_scene(root, scene_id, source=source)
    ids = parse_frames(frames)
    if ids is None:
        ids = [f.frame_id for f in scene.frames]
        if step:
            ids = ids[::step]
    else:
        check_usable_frames(scene, ids)
    cfg = dataclasses.replace(
        VisibilityConfig(), backend=backend, device=device, max_side=max_side,
        amodal_method=amodal,
    )
    with tqdm(total=len(ids), unit="view", desc=scene_id) as bar:
        views = compute_visibility(scene, ids, config=cfg, progress=bar.update)
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
