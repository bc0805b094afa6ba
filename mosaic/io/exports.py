"""Exports of a dataset: JSON lines (every field), LLaVA conversations, SpatialMosaic test JSON.

Image paths in every export are relative to the dataset root (``images/<scene>/<frame>.jpg``).
When images are embedded in the shards, exporting writes them out under ``images/`` first so
the paths resolve.

SpatialMosaic format (product.md section 5): ``options`` are display strings with their
letter (``"A. 3"``), ``mc_answer`` is the letter (empty for open-answer types),
``ground_truth`` the value as a string, ``frames`` the image paths, and ``GT Scenario`` is the
question family name (e.g. ``object_count``). A ``provenance`` object adds ``frame_ids``,
``targets``, ``template_id``, ``seed`` and ``coverage``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..structures import QAItem
from .reader import DatasetItem, MosaicDataset
from .shard_writer import json_default, write_bytes_atomic

FORMATS = ("jsonl", "llava", "spatialmosaic")
LETTERS = "ABCDEFGHIJ"
MC_PROMPT = "Answer with the option's letter from the given choices directly."
NA_PROMPTS = {
    "obj_localization_occ_na": "Answer with the pixel coordinates as (x,y).",
    "obj_count_occ_na": "Answer with a single number.",
}
NA_DEFAULT_PROMPT = "Answer with a single number."


def option_strings(item: QAItem) -> list[str]:
    """Options with their letters: ``["A. 3", "B. 5", ...]``."""
    return [f"{LETTERS[i]}. {opt}" for i, opt in enumerate(item.options)]


def prompt_text(item: QAItem) -> str:
    """Question, lettered options (one per line) and the answer instruction."""
    if item.is_multiple_choice:
        return "\n".join([item.question, *option_strings(item), MC_PROMPT])
    return "\n".join([item.question, NA_PROMPTS.get(item.question_type, NA_DEFAULT_PROMPT)])


def jsonl_record(d: DatasetItem) -> dict[str, Any]:
    """Every QAItem field plus image paths and camera data of the views."""
    rec = dataclasses.asdict(d.qa)
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
    """One LLaVA conversation: one ``<image>`` token per frame, then the prompt."""
    q = d.qa
    answer = q.answer
    human = "<image>\n" * len(d.views) + prompt_text(q)
    return {
        "id": q.id,
        "image": [v.image_path for v in d.views],
        "conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": answer}],
    }


def spatialmosaic_record(d: DatasetItem, dataset_name: str) -> dict[str, Any]:
    """The flat SpatialMosaic test record with a provenance object."""
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
        "GT Scenario": q.family,
        "id": q.id,
        "bbox_2d": list(q.bbox_2d) if q.bbox_2d is not None else None,
        "bbox_2d_diag": q.bbox_2d_diag,
        "provenance": {
            "frame_ids": list(q.frame_ids),
            "targets": list(q.targets),
            "template_id": q.template_id,
            "seed": q.seed,
            "coverage": q.coverage,
        },
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


def _items(ds: MosaicDataset, progress: Callable[[int], None] | None) -> Iterator[DatasetItem]:
    for item in ds:
        yield item
        if progress is not None:
            progress(1)


def export_dataset(
    ds: MosaicDataset,
    fmt: str,
    out: str | Path,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write one export file; ``fmt`` is one of ``FORMATS``. Returns the path written."""
    if fmt not in FORMATS:
        from ..errors import UnknownNameError

        raise UnknownNameError("export format", fmt, FORMATS)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    materialize_images(ds)
    dataset_name = str(ds.index.get("source", "scannet"))
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        if fmt == "jsonl":
            for d in _items(ds, progress):
                fh.write(json.dumps(jsonl_record(d), sort_keys=True, default=json_default))
                fh.write("\n")
        else:
            make = llava_record if fmt == "llava" else None
            records = [
                make(d) if make else spatialmosaic_record(d, dataset_name)
                for d in _items(ds, progress)
            ]
            json.dump(records, fh, indent=1, default=json_default)
    tmp.replace(out)
    return out
