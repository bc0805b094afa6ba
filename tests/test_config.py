"""Typed config: YAML + overrides, clear errors, hashing."""

from __future__ import annotations

import dataclasses

import pytest

from mosaic.config import MosaicConfig, load_config
from mosaic.errors import ConfigError


def test_overrides_are_typed(tmp_path):
    cfg = load_config(None, ["visibility.max_side=480", "seed=3", "qa.types=obj_count_occ",
                             "visibility.pose_check=false", "viewsets.set_sizes=[2,3]"])
    assert cfg.visibility.max_side == 480 and cfg.seed == 3
    assert cfg.qa.types == ("obj_count_occ",)
    assert cfg.visibility.pose_check is False
    assert cfg.viewsets.set_sizes == (2, 3)


def test_yaml_file_and_unknown_keys(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nvisibility:\n  max_side: 200\n")
    assert load_config(p).visibility.max_side == 200
    p.write_text("visibility:\n  max_sidez: 200\n")
    with pytest.raises(ConfigError, match="max_side"):
        load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="section"):
        load_config(None, ["nosuch.key=1"])
    with pytest.raises(ConfigError):
        load_config(None, ["visibility.max_side=big"])


def test_every_shipped_pipeline_loads():
    from pathlib import Path

    pipelines = Path(__file__).resolve().parents[1] / "pipelines"
    files = sorted(pipelines.glob("*.yaml"))
    assert files
    for f in files:
        load_config(f)


def test_hash_ignores_device_only():
    a = MosaicConfig()
    gpu = dataclasses.replace(a, visibility=dataclasses.replace(a.visibility, device="cuda:0"))
    assert a.hash() == gpu.hash()
    assert a.hash() != dataclasses.replace(a, seed=1).hash()
    bigger = dataclasses.replace(a, visibility=dataclasses.replace(a.visibility, max_side=640))
    assert a.hash() != bigger.hash()


def test_source_options_reach_only_the_loaders_that_take_them():
    from mosaic.config import SourceConfig
    from mosaic.sources import SOURCE_OPTIONS, SOURCES, source_options

    assert set(SOURCE_OPTIONS) == set(SOURCES)
    cfg = load_config(None, ["source.frames=exported"]).source
    assert source_options("scannet", cfg) == {"frames": "exported"}
    assert source_options("arkitscenes", cfg) == {"box_margin": 0.01}
    assert source_options("mesh", cfg) == {}
    assert source_options("scannet", SourceConfig()) == {}


def test_closed_choices_fail_when_the_config_is_built():
    with pytest.raises(ConfigError, match="pruned, exact"):
        load_config(None, ["visibility.amodal_method=exactish"])
    assert load_config(None, ["visibility.amodal_method=exact"]).visibility.amodal_method == "exact"
