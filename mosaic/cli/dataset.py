"""Dataset commands: generate, dataset, validate, stats, export, evaluate.

Exit codes: 0 success; 3 generation finished but some scenes failed (failures.json lists
them); 1 a mosaic error or an invalid dataset; 2 usage errors (click, or missing ScanNet root).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from . import EXIT_ERROR, EXIT_PARTIAL, friendly_errors, main
from .reading import allow_incomplete_option, report_left_out, writing_to

EXIT_USAGE = 2
SCANNET_HELP = """\
ScanNet is not bundled with mosaic: its terms of use require each user to request access.

  1. Read the ScanNet terms of use and fill in the request form linked from the ScanNet
     GitHub page (https://github.com/ScanNet/ScanNet#scannet-data); you will receive the
     download script download-scannet.py by e-mail.
  2. Download the v2 release, e.g.:
       python download-scannet.py -o /data/scannet --type .sens
       python download-scannet.py -o /data/scannet --type _vh_clean_2.ply
       python download-scannet.py -o /data/scannet --type _vh_clean_2.0.010000.segs.json
       python download-scannet.py -o /data/scannet --type .aggregation.json
       python download-scannet.py -o /data/scannet --type .txt
     plus scannetv2-labels.combined.tsv and the split lists (scannetv2_train/val/test.txt).
  3. Point ROOT at the folder that holds scans/ (and scans_test/):
       make dataset SCENES=scannet ROOT=/data/scannet
     or: mosaic generate --source scannet --root /data/scannet --split train --out out/train

Without ScanNet, `make dataset` (SCENES=synthetic) builds a dataset from built-in scenes."""


def _pipelines_dir() -> Path:
    """``pipelines/`` of the working directory, else of the source checkout."""
    cwd = Path.cwd() / "pipelines"
    if cwd.is_dir():
        return cwd
    return Path(__file__).resolve().parents[2] / "pipelines"


class _Progress:
    """tqdm progress bar over scenes fed by executor events (CLI only)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar: Any = None
        self.failed = 0

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] == "note":  # e.g. scenes retried: shown with or without a bar
            click.echo(f"note: {event['text']}", err=True)
            return
        if not self.enabled:
            return
        from tqdm import tqdm

        if event["event"] == "start":
            self.bar = tqdm(total=event["total"], initial=event["done"], unit="scene",
                            desc="scenes", file=sys.stderr, dynamic_ncols=True)
        elif event["event"] == "scene" and self.bar is not None:
            self.failed += 0 if event["ok"] else 1
            self.bar.set_postfix_str(f"{event['scene']}" + (f" failed={self.failed}"
                                                           if self.failed else ""))
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _print_summary(s: Any) -> None:
    echo = click.echo
    echo("")
    echo(f"dataset: {s.out_dir}")
    echo(f"scenes: {s.scenes_done} done, {s.scenes_failed} failed, {s.scenes_skipped} skipped "
         f"(of {s.scenes_total}); chunks {s.chunks_total} ({s.chunks_resumed} resumed)")
    echo(f"frames: {s.frames_usable} usable, {s.frames_sampled} sampled, "
         f"{s.views_labelled} labelled, {s.views_stored} stored with questions")
    for reason, n in sorted(s.frames_skipped.items()):
        echo(f"  skipped while reading: {n} ({reason})")
    for reason, n in sorted(s.frames_rejected.items()):
        echo(f"  rejected by pose check: {n} ({reason})")
    echo(f"questions: {s.qa_total}")
    for t, n in s.qa_per_type.items():
        echo(f"  {t:<26}{n:>7}")
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in s.stage_seconds.items())
    echo(f"time: {s.wall_seconds:.1f} s wall, {s.views_per_second:.1f} views/s; "
         f"per stage (summed over workers): {stages}")
    for f in s.failures:
        where = f" [{f['file']}]" if f.get("file") else ""
        hint = f" -> {f['hint']}" if f.get("hint") else ""
        echo(f"FAILED {f['scene']}{where}: {f['type']}: {f['cause']}{hint}", err=True)
    for e in s.chunk_errors:
        echo(f"CHUNK FAILED {e} (rerun to retry)", err=True)
    if s.failures:
        echo(f"see {Path(s.out_dir) / 'failures.json'}", err=True)


def run_generate(
    source: str,
    root: str,
    split: str | None,
    scene_ids: list[str] | None,
    config_path: str | None,
    overrides: list[str],
    out: str,
    workers: int,
    chunk_size: int,
    embed_images: bool,
    executor_name: str = "local",
    progress: bool = True,
    executor_options: dict[str, Any] | None = None,
) -> int:
    """Shared body of ``generate`` and ``dataset``; returns the exit code."""
    from ..config import load_config
    from ..executors import get_executor
    from ..run import generate_dataset, resolve_scenes

    config = load_config(config_path, overrides)
    plan = resolve_scenes(root, source, split, scene_ids)
    for s in plan.skipped:
        click.echo(f"skipping {s['scene']}: {s['reason']}", err=True)
    bar = _Progress(progress)
    try:
        summary = generate_dataset(
            plan, root, source, config, out,
            get_executor(executor_name, workers=workers, **(executor_options or {})),
            chunk_size=chunk_size, embed_images=embed_images, on_event=bar,
        )
    finally:
        bar.close()
    _print_summary(summary)
    return 0 if summary.ok else EXIT_PARTIAL


def _common_generate_options(fn: Any) -> Any:
    opts = [
        click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                     help="worker processes"),
        click.option("--seed", type=int, default=None, help="global seed (overrides config)"),
        click.option("--chunk-size", type=click.IntRange(min=1), default=4, show_default=True,
                     help="scenes per shard (the unit of work)"),
        click.option("--embed-images", is_flag=True,
                     help="store frames in the shards instead of images/"),
        click.option("--no-progress", is_flag=True, help="no progress bar"),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


@main.command()
@click.option("--source", default="scannet", show_default=True, help="scene source")
@click.option("--root", required=True, type=click.Path(file_okay=False),
              help="source dataset root (the folder holding scans/)")
@click.option("--split", default=None,
              help="train, bench (ScanNet val), or a file with one scene id per line")
@click.option("--scenes", "scene_list", default=None, help="comma-separated scene ids")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="pipeline YAML, e.g. pipelines/scannet.yaml")
@click.option("--set", "overrides", multiple=True, help="override, e.g. viewsets.frame_step=5")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="output directory")
@click.option("--executor", "executor_name", type=click.Choice(["local", "slurm", "ray"]),
              default="local", show_default=True,
              help="local process pool, SLURM job array (submitit) or Ray tasks")
@click.option("--resources", type=click.Path(dir_okay=False), default=None,
              help="SLURM resources YAML, e.g. pipelines/slurm/scannet-cpu.yaml")
@click.option("--ray-address", default=None, help="existing Ray cluster address (default: local)")
@_common_generate_options
@friendly_errors
def generate(source, root, split, scene_list, config_path, overrides, out, executor_name,
             resources, ray_address, workers, seed, chunk_size, embed_images, no_progress):
    """Generate (or resume) a sharded QA dataset from a scene source."""
    overrides = list(overrides) + ([f"seed={seed}"] if seed is not None else [])
    ids = [s.strip() for s in scene_list.split(",") if s.strip()] if scene_list else None
    options: dict[str, Any] = {}
    if executor_name == "slurm":
        options["resources"] = resources
    elif resources:
        raise click.BadParameter("--resources applies to --executor slurm only")
    if executor_name == "ray":
        options["address"] = ray_address
    elif ray_address:
        raise click.BadParameter("--ray-address applies to --executor ray only")
    code = run_generate(source, root, split, ids, config_path, overrides, out, workers,
                        chunk_size, embed_images, executor_name, not no_progress, options)
    sys.exit(code)


# Frames per synthetic walk-through for `make dataset`: the camera loop is the same for any
# count, so 100 frames with pipelines/synthetic.yaml's frame_step 3 give the views of 300
# frames at step 10 while rendering a third of the frames.
SYNTHETIC_FRAMES = 100


def ensure_synthetic_cache(cache: Path, n_scenes: int, seed: int, workers: int = 1) -> Path:
    """Write the built-in scenes once; reuse them when the completion stamp matches.

    A non-empty folder without the stamp was not written here (e.g. a real ScanNet root given
    as ``--cache`` by mistake) and is never written into: ``ConfigError``.
    """
    import dataclasses

    from ..errors import ConfigError
    from ..io.shard_writer import write_bytes_atomic
    from ..stages.output_lock import LOCK_FILES, OutputLock
    from ..synthetic.world import SynthSpec, write_synthetic_dataset

    stamp = cache / ".mosaic-synthetic.json"
    want = {"n_scenes": n_scenes, "seed": seed, "n_frames": SYNTHETIC_FRAMES}
    if stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == want:
                return cache
        except json.JSONDecodeError:
            pass
    elif cache.is_dir() and any(p.name not in LOCK_FILES for p in cache.iterdir()):
        raise ConfigError(
            f"--cache {cache} is not empty and holds no {stamp.name}, so it was not written by "
            "`mosaic dataset`; writing synthetic scenes there would overwrite its files. "
            "Choose an empty or new folder"
        )
    cache.mkdir(parents=True, exist_ok=True)
    with OutputLock(cache):  # two `mosaic dataset` runs must not write one cache at once
        if stamp.is_file() and stamp.read_text() == json.dumps(want):
            return cache  # another run finished writing it since the check above
        # stamp first (an interrupted write leaves a mismatching stamp: redone, not refused)
        write_bytes_atomic(stamp, json.dumps({"writing": want}).encode())
        spec = dataclasses.replace(SynthSpec(), n_frames=SYNTHETIC_FRAMES)
        write_synthetic_dataset(cache, n_scenes=n_scenes, seed=seed, spec=spec, workers=workers)
        write_bytes_atomic(stamp, json.dumps(want).encode())
    return cache


def _obtain_hint(kind: str) -> str:
    """How to get a source's data, shown when `make dataset SCENES=<kind>` has no ROOT."""
    if kind == "scannet":
        return SCANNET_HELP
    from ..sources import arkitscenes, mesh, scannetpp

    hint = {
        "scannetpp": scannetpp.OBTAIN_HINT,
        "arkitscenes": arkitscenes.OBTAIN_HINT,
        "mesh": mesh.SCHEMA_HINT,
    }[kind]
    return f"{kind} needs ROOT=<dataset root>.\n{hint}"


def _source_config(kind: str) -> Path:
    """pipelines/<kind>.yaml when shipped, else the ScanNet settings."""
    own = _pipelines_dir() / f"{kind}.yaml"
    return own if own.is_file() else _pipelines_dir() / "scannet.yaml"


@main.command()
@click.option("--scenes", "kind",
              type=click.Choice(["synthetic", "scannet", "scannetpp", "arkitscenes", "mesh"]),
              default="synthetic", show_default=True)
@click.option("--root", default="", help="dataset root (for every kind but synthetic)")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--n-scenes", type=click.IntRange(min=1), default=8, show_default=True,
              help="built-in scenes to write (synthetic)")
@click.option("--cache", type=click.Path(file_okay=False), default=None,
              help="where synthetic scenes are written (default <out>/../cache/synthetic)")
@click.option("--split", default=None,
              help="ScanNet split (default: all; train -> train, val -> bench, test skipped)")
@_common_generate_options
@friendly_errors
def dataset(kind, root, out, n_scenes, cache, split, workers, seed, chunk_size, embed_images,
            no_progress):
    """Build a dataset end to end (what `make dataset` runs)."""
    seed = 0 if seed is None else seed
    overrides = [f"seed={seed}"]
    if kind != "synthetic":
        if not root:
            click.echo(_obtain_hint(kind), err=True)
            sys.exit(EXIT_USAGE)
        code = run_generate(kind, root, split, None, str(_source_config(kind)), overrides, out,
                            workers, chunk_size, embed_images, progress=not no_progress)
    else:
        cache_dir = Path(cache) if cache else Path(out).resolve().parent / "cache" / "synthetic"
        t0 = time.perf_counter()
        ensure_synthetic_cache(cache_dir, n_scenes, seed, workers)
        click.echo(f"synthetic scenes in {cache_dir} ({time.perf_counter() - t0:.1f} s)",
                   err=True)
        from ..sources import list_scenes

        # scenes of an earlier, larger cache stay on disk but are in no split list now
        entries, _ = list_scenes(cache_dir, source="scannet")
        ids = [e.scene_id for e in entries if e.split is not None]
        config = _pipelines_dir() / "synthetic.yaml"
        code = run_generate("scannet", str(cache_dir), None, ids, str(config), overrides, out,
                            workers, chunk_size, embed_images, progress=not no_progress)
    if code in (0, EXIT_PARTIAL):
        from ..io.validate import validate_dataset

        report = validate_dataset(out)
        click.echo("validate: ok" if report.ok else "validate: FAILED", err=True)
        for p in report.problems:
            click.echo(f"  {p}", err=True)
        if not report.ok:
            code = EXIT_ERROR
    sys.exit(code)


@main.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option("--no-images", is_flag=True, help="skip checking that image files exist")
@friendly_errors
def validate(out, no_images):
    """Check schema, counts and checksums of every shard; name corrupt shards."""
    from ..io.validate import validate_dataset

    report = validate_dataset(out, check_images=not no_images)
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    for p in report.problems:
        click.echo(f"error: {p}", err=True)
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
    if report.ok:
        click.echo(f"ok: {len(report.shards_checked)} shards ({counts})")
        return
    bad = report.bad_shards()
    click.echo(f"INVALID: {len(report.problems)} problems"
               + (f"; corrupt shards: {', '.join(bad)}" if bad else ""), err=True)
    sys.exit(EXIT_ERROR)


@main.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option("--plots", type=click.Path(file_okay=False), default=None,
              help="folder for stats.json and PNG plots (default <out>/stats)")
@allow_incomplete_option
@friendly_errors
def stats(out, plots, allow_incomplete):
    """Tables and plots: QA per type, answer balance, occlusion/overlap, categories."""
    from ..io.reader import open_dataset
    from ..reports.stats import dataset_stats, format_stats, write_stats

    with open_dataset(out, allow_incomplete=allow_incomplete) as ds:
        report_left_out(ds)
        st = dataset_stats(ds)
    click.echo(format_stats(st))
    folder = plots or Path(out) / "stats"
    with writing_to(folder):
        paths = write_stats(st, folder)
    click.echo("wrote " + ", ".join(str(p) for p in paths))


@main.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "llava", "spatialmosaic"]),
              required=True)
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="file to write (default <out>/exports/<format>.json[l])")
@click.option("--split", default=None, help="only this output split")
@allow_incomplete_option
@friendly_errors
def export(out, fmt, output, split, allow_incomplete):
    """Export QA items as JSON lines, LLaVA conversations or SpatialMosaic test JSON."""
    from ..io.exports import export_dataset
    from ..io.reader import open_dataset

    ext = "jsonl" if fmt == "jsonl" else "json"
    target = Path(output) if output else Path(out) / "exports" / f"{fmt}.{ext}"
    with open_dataset(out, split=split, allow_incomplete=allow_incomplete) as ds:
        report_left_out(ds)
        with writing_to(target):
            path = export_dataset(ds, fmt, target)
        n = len(ds)
    click.echo(f"wrote {n} items to {path}")


@main.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option("--pred", required=True, type=click.Path(exists=True, dir_okay=False),
              help='JSONL with {"id": ..., "prediction": ...} per line')
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="also write the scores as JSON")
@click.option("--split", default=None, help="only this output split")
@allow_incomplete_option
@friendly_errors
def evaluate(out, pred, json_out, split, allow_incomplete):
    """Score predictions: per type, per family, overall and per diagnostic level."""
    from ..evaluation import evaluate as score
    from ..evaluation import load_predictions
    from ..io.reader import open_dataset

    preds = load_predictions(pred)
    with open_dataset(out, split=split, allow_incomplete=allow_incomplete) as ds:
        report_left_out(ds)
        report = score(ds.iter_qa(), preds)
    click.echo(f"{'question type':<28}{'n':>6}{'score':>8}")
    for t, r in report.per_type.items():
        click.echo(f"{t:<28}{r['n']:>6}{r['score']:>8.1f}")
    click.echo("")
    for f, r in report.per_family.items():
        click.echo(f"{f:<28}{r['n']:>6}{r['score']:>8.1f}")
    click.echo("")
    for fld, levels in report.per_level.items():
        click.echo(f"{fld}: " + ", ".join(f"{lv} {r['score']:.1f} (n={r['n']})"
                                         for lv, r in levels.items()))
    click.echo(f"overall {report.overall:.1f}  (scored {report.n_scored}, "
               f"missing {report.n_missing}, unknown ids {report.n_unknown})")
    if json_out:
        with writing_to(json_out):
            Path(json_out).write_text(json.dumps(report.to_dict(), indent=1, sort_keys=True))
