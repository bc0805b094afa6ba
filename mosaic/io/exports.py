"""Exports of a dataset, one file per output split (``docs/data_format.md``, "Exports").

Formats:

* ``jsonl``: every ``QAItem`` field plus ``split``, ``prompt`` (``mosaic.prompts``), image
  paths and camera data of the views.
* ``llava``: LLaVA-OneVision conversations, one ``"Frame k: <image>"`` line per frame (k as
  the question names it), then the prompt; the answer is the reply.
* ``spatialmosaic``: the flat test JSON SpatialMosaic's public lmms-eval task reads, with
  their field values (``GT Scenario`` = coverage, ``bbox_2d`` ``[]`` and ``bbox_2d_diag``
  ``"0"`` where not applicable).
* ``spatialmosaic-train``: records their LLaVA-Video training loader reads as they are
  (``frames`` tokens, ``scene_name``, ``conversations``), with the frames laid out where it
  looks for them: ``frames/<scene>/images/<token>.jpg`` beside the JSON file.

Image paths are relative to the dataset root (``images/<scene>/<frame>.jpg``); embedded images
are written out under ``images/`` first so the paths resolve. Train and bench items never share
a file: every record carries its ``split``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import MosaicError, UnknownNameError
from ..prompts import answer_text, build_prompt, option_strings
from .columns import json_default
from .progress import counted
from .reader import DatasetItem, MosaicDataset, open_dataset
from .shard_writer import replacing, write_bytes_atomic

FORMATS = ("jsonl", "llava", "spatialmosaic", "spatialmosaic-train")
FRAMES_DIR = "frames"  # spatialmosaic-train: <dir of the JSON>/frames/<scene>/images/<frame>.jpg
IMAGE_TOKEN = "<image>"
# SpatialMosaic's loader names sources scannet, scannetpp and arkit (its data_source field)
DATA_SOURCE = {"arkitscenes": "arkit"}

class ExportError(MosaicError):
    """An export cannot be written as asked."""


def export_file_name(fmt: str, split: str) -> str:
    """``<format>_<split>.jsonl`` for ``jsonl``, else ``<format>_<split>.json``."""
    return f"{fmt}_{split}.{'jsonl' if fmt == 'jsonl' else 'json'}"


def jsonl_record(d: DatasetItem) -> dict[str, Any]:
    """Every QAItem field plus split, prompt, image paths and camera data of the views."""
    rec = dataclasses.asdict(d.qa)
    rec["split"] = d.split
    rec["prompt"] = build_prompt(d.qa)
    rec["frames"] = [v.image_path for v in d.views]
    rec["views"] = [
        {
            "frame_id": v.frame_id,
            "K": v.K.tolist(),
            "cam_to_world": v.cam_to_world.tolist(),
            "width": v.width,
            "height": v.height,
        }
        for v in d.views
    ]
    return rec


def llava_record(d: DatasetItem) -> dict[str, Any]:
    """One LLaVA-OneVision conversation: ``Frame k: <image>`` per frame, then the prompt."""
    frames = "".join(f"Frame {k}: {IMAGE_TOKEN}\n" for k in range(1, len(d.views) + 1))
    return {
        "id": d.qa.id,
        "split": d.split,
        "image": [v.image_path for v in d.views],
        "conversations": [
            {"from": "human", "value": frames + build_prompt(d.qa)},
            {"from": "gpt", "value": answer_text(d.qa)},
        ],
    }


def spatialmosaic_record(d: DatasetItem, dataset_name: str) -> dict[str, Any]:
    """The flat SpatialMosaic test record (their fields and values) plus ours."""
    q = d.qa
    return {
        "dataset": dataset_name,
        "scene_name": q.scene_id,
        "question_type": q.question_type,
        "frames": [v.image_path for v in d.views],
        "question": q.question,
        "options": option_strings(q),
        "ground_truth": q.ground_truth,
        "mc_answer": q.answer if q.is_multiple_choice else "",
        "overlap_avg": q.overlap_avg,
        "occlusion_avg": q.occlusion_avg,
        "occ_level": q.occ_level,
        "overlap_level": q.overlap_level,
        "vis_level": q.vis_level,
        "GT Scenario": q.coverage,
        "id": q.id,
        # theirs are whole pixels; the diagonal is ours as stored (what scoring uses), as text
        "bbox_2d": [round(v) for v in q.bbox_2d] if q.bbox_2d is not None else [],
        "bbox_2d_diag": repr(float(q.bbox_2d_diag)) if q.bbox_2d_diag is not None else "0",
        "family": q.family,
        "split": d.split,
        "prompt": build_prompt(q),
        "provenance": {
            "frame_ids": list(q.frame_ids),
            "targets": list(q.targets),
            "template_id": q.template_id,
            "seed": q.seed,
        },
    }


def spatialmosaic_train_record(d: DatasetItem, data_source: str) -> dict[str, Any]:
    """A record of their LLaVA-Video loader's ``frames`` kind: one ``<image>`` for the clip."""
    q = d.qa
    return {
        "id": q.id,
        "scene_name": q.scene_id,
        "data_source": data_source,
        "question_type": q.question_type,
        "split": d.split,
        "frames": [str(v.frame_id) for v in d.views],
        "conversations": [
            {"from": "human", "value": f"{IMAGE_TOKEN}\n{build_prompt(q)}"},
            {"from": "gpt", "value": answer_text(q)},
        ],
    }


def materialize_images(ds: MosaicDataset) -> int:
    """Write embedded images to ``<root>/images/...`` so exported paths resolve.

    Returns the number of files written (0 when images are already files).
    """
    written = 0
    for shard in ds.shards:
        if not shard.has("views", "image"):
            continue
        for row in range(shard.n_rows("views")):
            rel = shard.text("views", "image_path", row)
            target = ds.root / rel
            if target.is_file():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(target, shard.blob("views", "image", row))
            written += 1
    return written


def lay_out_frames(d: DatasetItem, frames_root: Path) -> int:
    """Place the item's images at ``<frames_root>/<scene>/images/<frame>.jpg``.

    Hard links where the file system allows (no copy), else copies. Their loader always opens
    ``<token>.jpg``; PIL reads an image by its content, so a PNG-encoded source frame keeps its
    bytes under that name. Returns the number of files created.
    """
    made = 0
    for v in d.views:
        target = frames_root / d.qa.scene_id / "images" / f"{v.frame_id}.jpg"
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        source = d.root / v.image_path
        try:
            os.link(source, target)
        except OSError:
            with replacing(target) as tmp:
                shutil.copyfile(source, tmp)
        made += 1
    return made


def _write_json_array(fh: Any, records: Iterator[dict[str, Any]]) -> None:
    """Stream a JSON array, one record at a time (memory stays flat on 300k-item exports); the
    bytes equal ``json.dump(list(records), fh, indent=1)``."""
    first = True
    for rec in records:
        text = json.dumps(rec, indent=1, default=json_default)
        fh.write("[\n" if first else ",\n")
        fh.write("\n".join(" " + line for line in text.split("\n")))
        first = False
    fh.write("[]" if first else "\n]")


def _write_split(
    ds: MosaicDataset, fmt: str, out: Path, progress: Callable[[int], None] | None
) -> Path:
    """Write the items of one split (``ds`` opened on it) to ``out``."""
    source = str(ds.index.get("source", "scannet"))
    out.parent.mkdir(parents=True, exist_ok=True)

    def record(d: DatasetItem) -> dict[str, Any]:
        if fmt == "llava":
            return llava_record(d)
        if fmt == "spatialmosaic":
            return spatialmosaic_record(d, source)
        lay_out_frames(d, out.parent / FRAMES_DIR)
        return spatialmosaic_train_record(d, DATA_SOURCE.get(source, source))

    with replacing(out) as tmp, tmp.open("w", encoding="utf-8") as fh:
        if fmt == "jsonl":
            for d in counted(ds, progress):
                fh.write(json.dumps(jsonl_record(d), sort_keys=True, default=json_default))
                fh.write("\n")
        else:
            _write_json_array(fh, (record(d) for d in counted(ds, progress)))
    return out


def export_dataset(
    root: str | Path,
    fmt: str,
    out_dir: str | Path,
    split: str | None = None,
    output: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    allow_incomplete: bool = False,
) -> dict[str, Path]:
    """Export a dataset, one file per output split; returns split -> path written.

    Files are ``<out_dir>/<format>_<split>.json[l]``. ``split`` exports only that split;
    ``output`` names the file instead and is allowed only when a single split is exported.
    The dataset is verified as ``open_dataset`` does (``allow_incomplete`` reads the valid
    shards of an unfinished or altered one).
    """
    if fmt not in FORMATS:
        raise UnknownNameError("export format", fmt, FORMATS)
    with open_dataset(root, split=split, allow_incomplete=allow_incomplete) as ds:
        splits = ds.splits
        if output is not None and len(splits) > 1:
            raise ExportError(
                f"--output names one file but {root} has the splits {', '.join(splits)}, "
                "and an export never mixes them: add --split, or drop --output to get "
                f"one file per split ({', '.join(export_file_name(fmt, s) for s in splits)})"
            )
        materialize_images(ds)
    written: dict[str, Path] = {}
    for s in splits:
        target = Path(output) if output is not None else Path(out_dir) / export_file_name(fmt, s)
        with open_dataset(root, split=s, allow_incomplete=allow_incomplete) as part:
            written[s] = _write_split(part, fmt, target, progress)
    return written
