"""The tiny synthetic ScanNet release the end-to-end tests generate from, the settings that
keep its runs fast, and how they read a dataset back. ``conftest.py`` builds the release and
the reference dataset once per session; tests that change files copy them first."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mosaic.cli import main
from mosaic.synthetic.world import SynthSpec

SPEC = SynthSpec(n_frames=30, color_size=(128, 96), depth_size=(64, 48), target_faces=6000)
RELEASE_SCENES, RELEASE_SEED = 4, 3
FAST = ["--set", "viewsets.frame_step=3", "--set", "visibility.max_side=96",
        "--set", "qa.per_type_per_scene=3"]


def generate_args(root: Path, out: Path, *extra: str) -> list[str]:
    """``mosaic generate`` of the release with the fast settings, one scene per chunk."""
    return ["generate", "--root", str(root), "--out", str(out), "--no-progress", *FAST,
            "--chunk-size", "1", *extra]


def jsonl_lines(out: Path) -> list[str]:
    """Every exported line of a dataset (one file per split), sorted; the export goes beside
    the dataset, not into it."""
    target = out.parent / f"{out.name}-export"
    res = CliRunner().invoke(main, ["export", str(out), "--format", "jsonl", "--out-dir",
                                    str(target)])
    assert res.exit_code == 0, res.output
    return sorted(ln for f in target.glob("*.jsonl") for ln in f.read_text().splitlines())
