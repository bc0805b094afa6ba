"""Scene commands: synth, scenes, scene-info, manifest."""

from __future__ import annotations

from pathlib import Path

import click

from . import friendly_errors, main
from .run_config import build_config, config_options


@main.command()
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="dataset root to write (ScanNet v2 release layout)")
@click.option("--scenes", "n_scenes", type=int, default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--frames", "n_frames", type=int, default=None,
              help="frames per scene (default: the synthetic spec's)")
@click.option("--size", default=None, help="colour size WxH, e.g. 640x480")
@click.option("--no-quirks", is_flag=True, help="write clean scenes without the real-data quirks")
@click.option("--workers", type=int, default=2, show_default=True,
              help="processes writing scenes (output is identical for any count)")
@friendly_errors
def synth(out, n_scenes, seed, n_frames, size, no_quirks, workers):
    """Write built-in synthetic scenes in the exact ScanNet v2 release layout."""
    import dataclasses
    import time

    from ..synthetic.world import SynthSpec, write_synthetic_dataset

    spec = SynthSpec()
    if n_frames:
        spec = dataclasses.replace(spec, n_frames=n_frames)
    if size:
        try:
            w, h = (int(x) for x in size.lower().split("x"))
        except ValueError:
            raise click.BadParameter(f"--size {size!r}: use WxH, e.g. 640x480") from None
        spec = dataclasses.replace(spec, color_size=(w, h), depth_size=(w // 2, h // 2))
    t0 = time.perf_counter()
    summary = write_synthetic_dataset(Path(out), n_scenes=n_scenes, seed=seed, spec=spec,
                                      quirks=not no_quirks, workers=workers)
    click.echo(f"wrote {n_scenes} synthetic scenes to {out} in {time.perf_counter() - t0:.1f} s")
    click.echo(str(summary))


@main.command()
@config_options
@click.option("--split", default=None, help="train, val (alias bench) or test")
@friendly_errors
def scenes(config_path, overrides, source, root, split):
    """List scene ids with their split and whether their files are complete."""
    from ..sources import list_scenes

    src = build_config(config_path, overrides, source=source, root=root).source
    entries, warnings = list_scenes(src.root, source=src.name, split=split, config=src)
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    for e in entries:
        state = "complete" if e.complete else "missing " + ", ".join(e.missing)
        click.echo(f"{e.scene_id}\t{e.split or '-'}\t{state}")
    n_ok = sum(e.complete for e in entries)
    click.echo(f"{len(entries)} scenes, {n_ok} complete", err=True)


@main.command("scene-info")
@config_options
@click.argument("scene_id")
@friendly_errors
def scene_info(config_path, overrides, source, root, scene_id):
    """Objects, frames, skipped frames and alignment of one scene."""
    import numpy as np

    from ..sources import load_scene_of

    s = load_scene_of(build_config(config_path, overrides, source=source, root=root), scene_id)
    click.echo(f"scene {s.scene_id} ({s.source}, split {s.split or '-'})")
    click.echo(f"mesh: {len(s.vertices)} vertices, {len(s.faces)} faces; "
               f"annotated faces {int((s.face_instance > 0).sum())}")
    lo, hi = s.vertices.min(0), s.vertices.max(0)
    lo, hi = np.round(lo, 2).tolist(), np.round(hi, 2).tolist()
    click.echo(f"extent (aligned world, m): {lo} .. {hi}")
    aligned = not np.allclose(s.axis_alignment, np.eye(4))
    click.echo(f"axis alignment: {'applied' if aligned else 'identity'}")
    if s.frames:
        f0 = s.frames[0]
        click.echo(f"frames: {len(s.frames)} usable ({f0.width}x{f0.height}), "
                   f"{len(s.skipped_frames)} skipped")
    else:
        click.echo(f"frames: none usable, {len(s.skipped_frames)} skipped")
    reasons: dict[str, list[int]] = {}
    for sk in s.skipped_frames:
        reasons.setdefault(sk.reason, []).append(sk.frame_id)
    for reason, ids in reasons.items():
        shown = ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else "")
        click.echo(f"  skipped ({reason}): {shown}")
    click.echo(f"objects: {len(s.objects)}")
    for o in s.objects:
        size = np.round(o.obb.extent, 2).tolist()
        tag = " [structural]" if o.structural else ""
        click.echo(f"  {o.instance_id:4d} {o.category:20s} nyu40={o.nyu40_id} size={size}{tag}")
    for w in s.warnings:
        click.echo(f"warning: {w}")


@main.command()
@config_options
@click.option("--split", default=None)
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="default: data_manifests/<source>/<split or all>.json")
@friendly_errors
def manifest(config_path, overrides, source, root, split, out):
    """Write a pinned manifest: sorted scene ids, split, file sizes and sha256."""
    from ..sources import write_manifest

    src = build_config(config_path, overrides, source=source, root=root).source
    out = out or f"data_manifests/{src.name}/{split or 'all'}.json"
    path = write_manifest(src.root, out, source=src.name, split=split, config=src)
    click.echo(f"wrote {path}")
