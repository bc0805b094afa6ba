"""An install from a wheel, used outside the checkout, builds a dataset (presets are package
data; nothing is read from the repository)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _source_copy(dest: Path) -> Path:
    """What a wheel is built from (a copy, so the build leaves nothing in the checkout)."""
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("mosaic", "pipelines"):  # mosaic/pipelines is a link to ../pipelines
        shutil.copytree(REPO / name, dest / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_wheel_install_builds_a_dataset_from_another_folder(tmp_path):
    # the outer test run may put this checkout on PYTHONPATH; the wheel must not see it
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    src = _source_copy((tmp_path / "src").resolve())
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(src)],
        check=True, capture_output=True, text=True, timeout=600, env=env,
    )
    (wheel,) = dist.glob("mosaic-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mosaic/pipelines/synthetic.yaml" in names and "mosaic/pipelines/scannet.yaml" in names
    assert not any(n.startswith(("tests/", "pipelines/")) for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                         capture_output=True, text=True, timeout=1200, env=env)
    assert pip.returncode == 0, pip.stderr[-3000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run(
        [str(venv / "bin" / "mosaic"), "dataset", "--n-scenes", "2", "--out", "out/ds",
         "--workers", "2", "--no-progress"],
        cwd=elsewhere, capture_output=True, text=True, timeout=1200, env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "validate: ok" in run.stderr
    index = json.loads((elsewhere / "out/ds/index.json").read_text())
    assert index["totals"]["qa"] > 0 and index["config"]["viewsets"]["frame_step"] == 3
    # the installed package, not this checkout, did the work
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import mosaic; print(mosaic.__file__)"],
                           cwd=elsewhere, capture_output=True, text=True, env=env)
    assert str(venv) in where.stdout and str(REPO) not in where.stdout
