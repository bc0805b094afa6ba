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

from ..config import override
from ..executors import EXECUTORS
from ..sources import SOURCES
from . import EXIT_ERROR, EXIT_PARTIAL, friendly_errors, main
from .reading import allow_incomplete_option, progress_bar, report_left_out, writing_to
from .run_config import build_config, config_options

EXIT_USAGE = 2
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
        echo(f"  rejected: {n} ({reason})")
    for reason, n in sorted(s.frames_unchecked.items()):
        echo(f"  kept, {reason}: {n}")
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
    config: Any,
    split: str | None,
    scene_ids: list[str] | None,
    out: str,
    workers: int,
    chunk_size: int,
    embed_images: bool,
    executor_name: str = "local",
    progress: bool = True,
    executor_options: dict[str, Any] | None = None,
) -> int:
    """Shared body of ``generate`` and ``dataset``; returns the exit code."""
    from ..executors import get_executor
    from ..run import generate_dataset, resolve_scenes

    plan = resolve_scenes(config.source, split, scene_ids)
    for s in plan.skipped:
        click.echo(f"skipping {s['scene']}: {s['reason']}", err=True)
    bar = _Progress(progress)
    try:
        summary = generate_dataset(
            plan, config, out,
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
@config_options
@click.option("--split", default=None,
              help="train, bench (ScanNet val), or a file with one scene id per line")
@click.option("--scenes", "scene_list", default=None, help="comma-separated scene ids")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="output directory")
@click.option("--executor", "executor_name", type=click.Choice(EXECUTORS.names()),
              default="local", show_default=True,
              help="local process pool, SLURM job array (submitit) or Ray tasks")
@click.option("--resources", type=click.Path(dir_okay=False), default=None,
              help="SLURM resources YAML, e.g. pipelines/slurm/scannet-cpu.yaml")
@click.option("--ray-address", default=None, help="existing Ray cluster address (default: local)")
@_common_generate_options
@friendly_errors
def generate(config_path, overrides, source, root, split, scene_list, out, executor_name,
             resources, ray_address, workers, seed, chunk_size, embed_images, no_progress):
    """Generate (or resume) a sharded QA dataset from a scene source."""
    config = build_config(config_path, overrides, source=source, root=root, seed=seed)
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
    code = run_generate(config, split, ids, out, workers, chunk_size, embed_images,
                        executor_name, not no_progress, options)
    sys.exit(code)


# Frames per synthetic walk-through for `make dataset`: the camera loop is the same for any
# count, so 100 frames with pipelines/synthetic.yaml's frame_step 3 give the views of 300
# frames at step 10 while rendering a third of the frames.
SYNTHETIC_FRAMES = 100


def synthetic_cache_dir(out: str | Path, n_scenes: int, seed: int) -> Path:
    """Default cache of built-in scenes, beside the output and named by what it holds, so runs
    with other scene counts or seeds never overwrite each other's scenes."""
    return Path(out).resolve().parent / "cache" / f"synthetic-{n_scenes}-seed{seed}"


def ensure_synthetic_cache(cache: Path, n_scenes: int, seed: int, workers: int = 1,
                           progress: bool = True) -> Path:
    """Write the built-in scenes once; reuse them when the completion stamp matches.

    A non-empty folder without the stamp was not written here (e.g. a real ScanNet root given
    as ``--cache`` by mistake) and is never written into: ``ConfigError``. A stamp of other
    contents (another scene count or seed given as ``--cache``) is refused too, so a cache is
    never rewritten under another run.
    """
    import dataclasses

    from tqdm import tqdm

    from ..errors import ConfigError
    from ..io.shard_writer import write_bytes_atomic
    from ..stages.output_lock import LOCK_FILES, OutputLock
    from ..synthetic.world import SynthSpec, write_synthetic_dataset

    stamp = cache / ".mosaic-synthetic.json"
    want = {"n_scenes": n_scenes, "seed": seed, "n_frames": SYNTHETIC_FRAMES}
    if stamp.is_file():
        try:
            held = json.loads(stamp.read_text())
        except json.JSONDecodeError:
            held = None
        if held == want:
            return cache
        if isinstance(held, dict) and set(held) == set(want):
            raise ConfigError(
                f"--cache {cache} holds other built-in scenes ({held['n_scenes']} scenes, seed "
                f"{held['seed']}); leave --cache out (each scene count and seed gets its own "
                "cache) or choose a new folder"
            )
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
        with tqdm(total=n_scenes + 1, unit="scene", desc="writing built-in scenes",
                  file=sys.stderr, dynamic_ncols=True, disable=not progress) as bar:
            write_synthetic_dataset(cache, n_scenes=n_scenes, seed=seed, spec=spec,
                                    workers=workers, progress=lambda _sid: bar.update(1))
        write_bytes_atomic(stamp, json.dumps(want).encode())
    return cache


def _obtain_hint(kind: str) -> str:
    """How to get a source's data, shown when `make dataset SCENES=<kind>` has no ROOT."""
    return f"{kind} needs ROOT=<dataset root>.\n{SOURCES[kind].obtain_hint()}"


@main.command()
@click.option("--scenes", "kind", type=click.Choice(["synthetic", *SOURCES.names()]),
              default="synthetic", show_default=True,
              help="built-in scenes, or a source read from --root with its preset")
@click.option("--root", default="", help="dataset root (for every kind but synthetic)")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--n-scenes", type=click.IntRange(min=1), default=8, show_default=True,
              help="built-in scenes to write (synthetic)")
@click.option("--cache", type=click.Path(file_okay=False), default=None,
              help="where synthetic scenes are written "
                   "(default <out>/../cache/synthetic-<n-scenes>-seed<seed>)")
@click.option("--split", default=None,
              help="ScanNet split (default: all; train -> train, val -> bench, test skipped)")
@click.option("--config", "config_path", default=None,
              help="YAML file or preset name (default: the preset of --scenes)")
@click.option("--set", "overrides", multiple=True,
              help="change one setting, e.g. visibility.max_side=160 (repeatable)")
@_common_generate_options
@friendly_errors
def dataset(kind, root, out, n_scenes, cache, split, config_path, overrides, workers, seed,
            chunk_size, embed_images, no_progress):
    """Build a dataset end to end (what `make dataset` runs)."""
    from ..config import PRESETS_DIR

    if config_path is None:
        config_path = kind if (PRESETS_DIR / f"{kind}.yaml").is_file() else "scannet"
    ids = None
    if kind != "synthetic":
        if not root:
            click.echo(_obtain_hint(kind), err=True)
            sys.exit(EXIT_USAGE)
        config = build_config(config_path, overrides, source=kind, root=root, seed=seed)
    else:
        # the seed may come from --seed, --set seed=N or the config file: read it from the config
        config = build_config(config_path, overrides, source="scannet", seed=seed,
                              need_root=False)
        cache_dir = (Path(cache) if cache
                     else synthetic_cache_dir(out, n_scenes, config.seed))
        t0 = time.perf_counter()
        ensure_synthetic_cache(cache_dir, n_scenes, config.seed, workers,
                               progress=not no_progress)
        click.echo(f"synthetic scenes in {cache_dir} ({time.perf_counter() - t0:.1f} s)",
                   err=True)
        from ..sources import list_scenes

        # scenes of an earlier, larger cache stay on disk but are in no split list now
        entries, _ = list_scenes(cache_dir, source="scannet")
        ids = [e.scene_id for e in entries if e.split is not None]
        config = override(config, "source.root", str(cache_dir))
    code = run_generate(config, None if kind == "synthetic" else split, ids, out, workers,
                        chunk_size, embed_images, progress=not no_progress)
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

    with progress_bar(len(list(Path(out).glob("*.h5"))), "shard", "validate") as progress:
        report = validate_dataset(out, check_images=not no_images, progress=progress)
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
        with progress_bar(len(ds.shards), "shard", "stats") as progress:
            st = dataset_stats(ds, progress=progress)
    click.echo(format_stats(st))
    folder = plots or Path(out) / "stats"
    with writing_to(folder):
        paths = write_stats(st, folder)
    click.echo("wrote " + ", ".join(str(p) for p in paths))


@main.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt",
              type=click.Choice(["jsonl", "llava", "spatialmosaic", "spatialmosaic-train"]),
              required=True)
@click.option("--split", default=None,
              help="only this output split (default: every split, one file each)")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="folder of the files <format>_<split>.json[l] (default <out>/exports)")
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="file to write when a single split is exported (with --split)")
@allow_incomplete_option
@friendly_errors
def export(out, fmt, split, out_dir, output, allow_incomplete):
    """Export QA items, one file per split: JSON lines, LLaVA, SpatialMosaic test or train."""
    from ..io.exports import export_dataset
    from ..io.reader import open_dataset

    target_dir = Path(out_dir) if out_dir else Path(out) / "exports"
    with open_dataset(out, split=split, allow_incomplete=allow_incomplete) as ds:
        report_left_out(ds)
        total = len(ds)
        per_split = {s: ds.split_count(s) for s in ds.splits}
    with writing_to(output or target_dir), progress_bar(total, "item", "export") as progress:
        written = export_dataset(out, fmt, target_dir, split=split, output=output,
                                 progress=progress, allow_incomplete=allow_incomplete)
    for s, path in written.items():
        click.echo(f"wrote {per_split[s]} items of split {s} to {path}")


@main.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option("--pred", required=True, type=click.Path(exists=True, dir_okay=False),
              help='JSONL with {"id": ..., "prediction": ...} per line')
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="also write the scores as JSON")
@click.option("--split", default=None, help="only this output split (e.g. bench)")
@click.option("--allow-missing", is_flag=True,
              help="score only the items that have a prediction (default: a missing "
                   "prediction is a wrong answer)")
@allow_incomplete_option
@friendly_errors
def evaluate(out, pred, json_out, split, allow_missing, allow_incomplete):
    """Score predictions as SpatialMosaic's evaluation does: per type, family, level, overall."""
    from ..evaluation import evaluate as score
    from ..evaluation import load_predictions
    from ..io.reader import open_dataset

    preds = load_predictions(pred)
    with open_dataset(out, split=split, allow_incomplete=allow_incomplete) as ds:
        report_left_out(ds)
        report = score(ds.iter_qa(), preds, allow_missing=allow_missing)
    click.echo(f"{'question type':<28}{'n':>6}{'score':>8}")
    for t, r in report.per_type.items():
        click.echo(f"{t:<28}{r['n']:>6}{r['score']:>8.2f}")
    click.echo("")
    for f, r in report.per_family.items():
        click.echo(f"{f:<28}{r['n']:>6}{r['score']:>8.2f}")
    click.echo("")
    for fld, levels in report.per_level.items():
        click.echo(f"{fld}: " + ", ".join(f"{lv} {r['score']:.2f} (n={r['n']})"
                                         for lv, r in levels.items()))
    what = f"split {split}" if split else "all splits"
    if report.n_missing and allow_missing:
        click.echo(f"SUBSET: --allow-missing scored only the {report.n_scored} of "
                   f"{report.n_items} items ({what}) that have a prediction; "
                   f"{report.n_missing} without one (e.g. "
                   f"{', '.join(report.missing_examples)}) are left out")
    elif report.n_missing:
        click.echo(f"warning: {report.n_missing} of {report.n_items} items ({what}) have no "
                   f"prediction and score 0 (e.g. {', '.join(report.missing_examples)}); "
                   "--allow-missing scores only the items present", err=True)
    fate = "" if not report.n_missing else ", left out" if allow_missing else ", scored 0"
    click.echo(f"overall {report.overall:.2f}  ({what}: {report.n_items} items, "
               f"{report.n_scored} scored, {report.n_missing} without a prediction{fate})")
    if json_out:
        with writing_to(json_out):
            Path(json_out).write_text(json.dumps(report.to_dict(), indent=1, sort_keys=True))
