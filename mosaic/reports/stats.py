"""Dataset statistics and plots: QA per type, answer-letter balance, occlusion and overlap
distributions, visibility states and per-category counts (PNG via matplotlib's Agg backend).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..io.progress import counted
from ..io.reader import MosaicDataset
from ..structures import FAMILY_OF, OPTION_LETTERS, QA_TYPES

LEVEL_FIELDS = ("overlap_level", "occ_level", "vis_level", "coverage")


def dataset_stats(ds: MosaicDataset,
                  progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Counts and distributions over every shard (reads columns, not items; memory grows with
    the numeric columns only). ``progress`` is called with 1 after each shard."""
    per_type: Counter = Counter()
    letters: dict[str, Counter] = defaultdict(Counter)
    levels: dict[str, Counter] = {f: Counter() for f in LEVEL_FIELDS}
    categories: Counter = Counter()
    states: Counter = Counter()
    occlusion: list[np.ndarray] = []
    overlap: list[np.ndarray] = []
    vis_occlusion: list[np.ndarray] = []
    n_frames_per_q: Counter = Counter()
    scenes = views = 0
    for shard in counted(ds.shards, progress):
        scenes += shard.n_rows("scenes")
        views += shard.n_rows("views")
        types = shard.column("qa", "question_type")
        answers = shard.column("qa", "answer")
        _, opt_off = shard.column("qa", "options")
        has_options = np.diff(opt_off) > len("[]")  # options are stored as JSON text
        per_type.update(types)
        for t, a, mc in zip(types, answers, has_options, strict=True):
            if mc:
                letters[t][a] += 1
        for f in LEVEL_FIELDS:
            levels[f].update(shard.column("qa", f))
        occlusion.append(shard.column("qa", "occlusion_avg"))
        overlap.append(shard.column("qa", "overlap_avg"))
        _, frame_off = shard.column("qa", "frame_ids")
        n_frames_per_q.update(int(n) for n in np.diff(frame_off))
        obj_cat = {
            (int(s), int(i)): c
            for s, i, c in zip(
                shard.column("objects", "scene_row"),
                shard.column("objects", "instance_id"),
                shard.column("objects", "category"),
                strict=True,
            )
        }
        q_scene = shard.column("qa", "scene_row")
        for row in range(len(types)):
            for iid in shard.ragged("qa", "targets", row):
                categories[obj_cat.get((int(q_scene[row]), int(iid)), "?")] += 1
        states.update(shard.column("visibility", "state"))
        vis = shard.column("visibility", "visible").astype(bool)
        vis_occlusion.append(shard.column("visibility", "occlusion")[vis])
    occ = np.concatenate(occlusion) if occlusion else np.zeros(0)
    ovl = np.concatenate(overlap) if overlap else np.zeros(0)
    vocc = np.concatenate(vis_occlusion) if vis_occlusion else np.zeros(0)

    def summary(a: np.ndarray) -> dict[str, float]:
        if a.size == 0:
            return {}
        q = np.percentile(a, [5, 25, 50, 75, 95])
        return {"mean": float(a.mean()), **{f"p{p}": float(v) for p, v in
                                            zip((5, 25, 50, 75, 95), q, strict=True)}}

    fam: Counter = Counter()
    for t, n in per_type.items():
        fam[FAMILY_OF.get(t, "?")] += n
    return {
        "n_items": int(sum(per_type.values())),
        "n_scenes": scenes,
        "n_views": views,
        "qa_per_type": {t: per_type.get(t, 0) for t in QA_TYPES},
        "qa_per_family": dict(sorted(fam.items())),
        "answer_letters": {t: dict(sorted(c.items())) for t, c in sorted(letters.items())},
        "levels": {f: dict(sorted(c.items())) for f, c in levels.items()},
        "frames_per_question": {str(k): v for k, v in sorted(n_frames_per_q.items())},
        "target_categories": dict(categories.most_common()),
        "visibility_states": dict(sorted(states.items())),
        "occlusion_avg": summary(occ),
        "overlap_avg": summary(ovl),
        "visible_occlusion": summary(vocc),
        "_arrays": {"occlusion_avg": occ, "overlap_avg": ovl, "visible_occlusion": vocc},
    }


def write_stats(stats: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``stats.json`` and the PNG plots into ``out_dir``; return the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arrays = stats.get("_arrays", {})
    paths = [out / "stats.json"]
    paths[0].write_text(
        json.dumps({k: v for k, v in stats.items() if k != "_arrays"}, indent=1, sort_keys=True)
    )

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        paths.append(out / name)

    types = list(stats["qa_per_type"])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.barh(types, [stats["qa_per_type"][t] for t in types], color="tab:blue")
    ax.invert_yaxis()
    ax.set_xlabel("questions")
    ax.set_title("QA per type")
    save(fig, "qa_per_type.png")

    mc = stats["answer_letters"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    names = list(mc)
    left = np.zeros(len(names))
    for letter in OPTION_LETTERS[:4]:
        vals = np.array([mc[t].get(letter, 0) / max(1, sum(mc[t].values())) for t in names])
        ax.barh(names, vals, left=left, label=letter)
        left += vals
    ax.invert_yaxis()
    ax.set_xlabel("share of correct letter")
    ax.set_title("Answer-letter balance (multiple choice)")
    ax.legend(ncol=4, loc="lower right")
    save(fig, "answer_balance.png")

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, key, title, bins in (
        (axes[0], "occlusion_avg", "question occlusion_avg", np.linspace(0, 1, 21)),
        (axes[1], "overlap_avg", "question overlap_avg (%)", np.linspace(0, 30, 16)),
        (axes[2], "visible_occlusion", "occlusion of visible objects", np.linspace(0, 1, 21)),
    ):
        data = arrays.get(key, np.zeros(0))
        ax.hist(data, bins=bins, color="tab:orange")
        ax.set_title(title)
    save(fig, "distributions.png")

    cats = list(stats["target_categories"].items())[:30]
    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.25 * len(cats) + 1)))
    ax.barh([c for c, _ in cats], [n for _, n in cats], color="tab:green")
    ax.invert_yaxis()
    ax.set_xlabel("question targets")
    ax.set_title("Per-category counts (top 30)")
    save(fig, "categories.png")
    return paths


def format_stats(stats: dict[str, Any]) -> str:
    """Plain-text tables of the main figures."""
    lines = [
        f"{stats['n_items']} questions over {stats['n_scenes']} scenes, "
        f"{stats['n_views']} stored views",
        "",
        f"{'question type':<28}{'n':>7}  answer letters",
    ]
    for t, n in stats["qa_per_type"].items():
        bal = stats["answer_letters"].get(t)
        bal_s = " ".join(f"{k}:{v}" for k, v in bal.items()) if bal else "(open answer)"
        lines.append(f"{t:<28}{n:>7}  {bal_s}")
    lines.append("")
    for f, c in stats["levels"].items():
        lines.append(f"{f:<14} " + ", ".join(f"{k}: {v}" for k, v in c.items()))
    for key in ("occlusion_avg", "overlap_avg", "visible_occlusion"):
        s = stats[key]
        if s:
            lines.append(
                f"{key:<18} mean {s['mean']:.3f}  p5 {s['p5']:.3f}  p50 {s['p50']:.3f}  "
                f"p95 {s['p95']:.3f}"
            )
    top = list(stats["target_categories"].items())[:10]
    lines.append("top target categories: " + ", ".join(f"{c} {n}" for c, n in top))
    lines.append(
        "visibility states: "
        + ", ".join(f"{k} {v}" for k, v in stats["visibility_states"].items())
    )
    return "\n".join(lines)
