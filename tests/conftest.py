"""Session fixtures shared by test modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from release_fixtures import RELEASE_SCENES, RELEASE_SEED, SPEC, generate_args, jsonl_lines


@pytest.fixture(scope="session")
def release(tmp_path_factory) -> Path:
    """A synthetic ScanNet release of 4 small scenes (read only: copy it to change it)."""
    from mosaic.synthetic.world import write_synthetic_dataset

    root = tmp_path_factory.mktemp("release")
    write_synthetic_dataset(root, n_scenes=RELEASE_SCENES, seed=RELEASE_SEED, spec=SPEC)
    return root


@pytest.fixture(scope="session")
def reference(release, tmp_path_factory) -> tuple[Path, list[str]]:
    """The release generated with the fast settings (read only), and its exported lines."""
    from click.testing import CliRunner

    from mosaic.cli import main

    out = tmp_path_factory.mktemp("ref") / "ds"
    res = CliRunner().invoke(main, generate_args(release, out))
    assert res.exit_code == 0, res.output
    return out, jsonl_lines(out)
