"""Acceptance: SpatialMosaic's own evaluation, run on our ``spatialmosaic`` export, scores the
ground truth 100 and gives the same per-type scores as ``mosaic evaluate`` on clean and messy
predictions.

``TheirEvaluation`` is an independent reimplementation of what their lmms-eval task computes
(``thinking-in-space/lmms_eval/tasks/spatial_mosaic/indoor/utils.py`` of
``Kanghee-Lee/SpatialMosaic-project``), written from reading it: it sees only the exported
records (``question_type``, ``mc_answer``, ``ground_truth``, ``bbox_2d_diag`` as text) and
follows their control flow, including its TypeError-means-zero fallbacks, while
``mosaic.evaluation`` scores the shards' items."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mosaic.cli import main
from mosaic.synthetic.world import SynthSpec, write_synthetic_dataset

SPEC = SynthSpec(n_frames=40, color_size=(160, 120), depth_size=(80, 60), target_faces=6000)
FAST = ["--set", "viewsets.frame_step=2", "--set", "visibility.max_side=96",
        "--set", "qa.per_type_per_scene=6"]

MCA = {
    "bestview_count_occ", "obj_attribute_occ_ab", "obj_attribute_occ_fb", "obj_attribute_occ_lr",
    "obj_count_occ", "obj_existence_occ_ab", "obj_existence_occ_fb", "obj_existence_occ_lr",
    "obj_localization_occ", "obj_spatial_occ_ab", "obj_spatial_occ_fb", "obj_spatial_occ_lr",
}
NA = {"obj_count_occ_na", "obj_distance_occ_na", "obj_obj_distance_occ_na", "obj_size_occ_na"}
NA_LOCAL = {"obj_localization_occ_na"}


class TheirEvaluation:
    """Their per-document scoring and their aggregation, as their code computes them."""

    # "MRA:.5:.95:.05" and "MPA:.5:1.4:.1", evaluated exactly as their expressions are
    mra_conf = np.linspace(0.5, 0.95, int((0.95 - 0.5) / 0.05 + 2))
    mpa_thresholds = np.arange(0.5, 1.4 + 0.1 / 2, 0.1)

    @staticmethod
    def fuzzy(pred):
        return pred.split(" ")[0].rstrip(".").strip()

    @staticmethod
    def number(text):
        try:
            return float(text)
        except BaseException:
            return None

    @staticmethod
    def point(text):
        text = str(text)
        num = r"-?\d+(?:\.\d+)?"
        m = re.search(r"\(\s*(" + num + r")\s*,\s*(" + num + r")\s*\)", text)
        if m is None:
            m = re.search("(" + num + r")\s*,\s*(" + num + ")", text)
        if m is not None:
            return float(m.group(1)), float(m.group(2))
        found = re.findall(num, text)
        return (float(found[0]), float(found[1])) if len(found) >= 2 else None

    def score(self, doc, pred):
        qtype = doc["question_type"]
        if qtype in MCA:
            return 1.0 if self.fuzzy(pred).lower() == doc["mc_answer"].lower() else 0.0
        if qtype in NA:
            try:
                p, t = self.number(self.fuzzy(pred)), self.number(doc["ground_truth"])
                return float((abs(p - t) / t <= 1 - self.mra_conf).mean())
            except TypeError:
                return 0.0
        if qtype in NA_LOCAL:
            try:
                p, t = self.point(pred), self.point(doc["ground_truth"])
                diag = self.number(doc["bbox_2d_diag"])
                diag = None if diag is None or diag <= 0 else diag
                dist = np.sqrt((p[0] - t[0]) ** 2 + (p[1] - t[1]) ** 2)
                return float((dist <= diag * self.mpa_thresholds).mean())
            except TypeError:
                return 0.0
        raise ValueError(qtype)

    def aggregate(self, docs, preds):
        """type -> mean score x100, and overall = the mean of the type means x100."""
        by_type: dict[str, list[float]] = {}
        for doc in docs:
            by_type.setdefault(doc["question_type"], []).append(self.score(doc, preds[doc["id"]]))
        per_type = {t: 100.0 * sum(v) / len(v) for t, v in by_type.items()}
        return per_type, sum(per_type.values()) / len(per_type)


def clean(doc) -> str:
    return doc["mc_answer"] if doc["question_type"] in MCA else doc["ground_truth"]


def messy(doc, rng: np.random.Generator) -> str:
    """Model-like output around the truth: punctuation, units, prose, frames, wrong values."""
    qtype, gt, letter = doc["question_type"], doc["ground_truth"], doc["mc_answer"]
    if qtype in MCA:
        wrong = "ABCD"[int(rng.integers(4))]
        forms = [letter, f"{letter}.", f"{letter.lower()}. {gt}", f" {letter}", f"{letter}.\n",
                 f"({letter})", f"{letter})", f"The answer is {letter}", "", wrong, f"{wrong}.",
                 f"{letter}..", f"\t{letter}", f"{letter}\nbecause", f"{letter}: {gt}"]
    elif qtype in NA:
        g = float(gt)
        near = g * float(rng.uniform(0.4, 1.6))
        forms = [gt, f"{gt} m", f"{gt}.", f"{near:.2f}", f"{near:.1f} cm", f"{near:.3f}m",
                 f"about {gt}", "", "nan", "inf", f"Frame 1: {gt}", f"{g * 1.2}", f"{g * 0.8}",
                 f"{g * 1.3}", f"{g * 1.1}", f"{int(g)}", f"-{gt}", f"{g:e}"]
    else:
        x, y = (float(v) for v in re.findall(r"-?\d+", gt))
        diag = float(doc["bbox_2d_diag"])
        dx, dy = rng.normal(0.0, 0.6 * diag, size=2)
        forms = [gt, f"Frame 1: ({x + dx:.0f}, {y + dy:.0f})", f"{x + dx:.1f}, {y + dy:.1f}",
                 f"Frame 2 at {x:.0f} {y:.0f}", f"({x:.0f})", "", f"(.5, {y:.0f})",
                 f"The centre is at x={x + dx:.0f} y={y + dy:.0f}",
                 f"({x + 0.5 * diag:.2f},{y:.2f})", f"({x + diag:.0f},{y:.0f})"]
    return forms[int(rng.integers(len(forms)))]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("release")
    write_synthetic_dataset(root, n_scenes=2, seed=5, spec=SPEC)
    out = root.parent / "ds"
    res = CliRunner().invoke(main, ["generate", "--root", str(root), "--out", str(out),
                                    "--no-progress", *FAST], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def bench_docs(dataset) -> list[dict]:
    res = CliRunner().invoke(main, ["export", str(dataset), "--format", "spatialmosaic"])
    assert res.exit_code == 0, res.output
    docs = json.loads((dataset / "exports" / "spatialmosaic_bench.json").read_text())
    assert {d["split"] for d in docs} == {"bench"}
    return docs


def _ours(dataset: Path, preds: dict[str, str], tmp_path: Path) -> dict:
    pred_file, scores = tmp_path / "preds.jsonl", tmp_path / "scores.json"
    pred_file.write_text("".join(json.dumps({"id": k, "prediction": v}) + "\n"
                                 for k, v in preds.items()))
    res = CliRunner().invoke(main, ["evaluate", str(dataset), "--split", "bench",
                                    "--pred", str(pred_file), "--json", str(scores)])
    assert res.exit_code == 0, res.output
    return json.loads(scores.read_text())


def test_their_evaluation_scores_the_ground_truth_100(dataset, bench_docs, tmp_path):
    preds = {d["id"]: clean(d) for d in bench_docs}
    per_type, overall = TheirEvaluation().aggregate(bench_docs, preds)
    assert set(per_type) == MCA | NA | NA_LOCAL  # every type is in the benchmark split
    assert all(v == 100.0 for v in per_type.values()) and overall == 100.0
    ours = _ours(dataset, preds, tmp_path)
    assert ours["overall"] == pytest.approx(100.0, abs=0.01) and ours["n_missing"] == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_their_evaluation_and_ours_agree_on_messy_predictions(dataset, bench_docs, tmp_path,
                                                              seed):
    rng = np.random.default_rng(seed)
    preds = {d["id"]: messy(d, rng) for d in bench_docs}
    per_type, overall = TheirEvaluation().aggregate(bench_docs, preds)
    ours = _ours(dataset, preds, tmp_path)
    assert set(ours["per_type"]) == set(per_type)
    for t, theirs in per_type.items():
        assert ours["per_type"][t]["score"] == pytest.approx(theirs, abs=0.01), t
    assert ours["overall"] == pytest.approx(overall, abs=0.01)
    # the predictions are messy enough to mean something: neither all right nor all wrong
    assert 5.0 < overall < 95.0
    assert len({round(v, 6) for v in per_type.values()}) > 3
