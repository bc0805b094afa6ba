"""The run config on the command line, one way for every command.

``--config`` (a YAML file or a preset name such as ``scannet``), then ``--set section.key=value``
in order, then the shortcuts ``--source``, ``--root`` and ``--seed``, which set
``source.name``, ``source.root`` and ``seed`` exactly as the matching ``--set`` would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..config import MosaicConfig, load_config, override
from ..config_checks import validate_config


def config_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--config``, ``--set``, ``--source`` and ``--root`` to a command."""
    opts = [
        click.option("--config", "config_path", default=None,
                     help="YAML file or preset name (scannet, scannetpp, arkitscenes, synthetic)"),
        click.option("--set", "overrides", multiple=True,
                     help="change one setting, e.g. visibility.max_side=160 (repeatable)"),
        click.option("--source", default=None,
                     help="scene source (= --set source.name=...; default scannet)"),
        click.option("--root", default=None, type=click.Path(file_okay=False),
                     help="dataset root, e.g. the folder holding scans/ (= --set source.root=...)"),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def build_config(
    config_path: str | None, overrides: tuple[str, ...] | list[str], *,
    source: str | None = None, root: str | None = None, seed: int | None = None,
    need_root: bool = True,
) -> MosaicConfig:
    """The run config from the command line (see the module docstring)."""
    cfg = load_config(config_path, list(overrides))
    for name, value in (("source.name", source), ("source.root", root), ("seed", seed)):
        if value is not None:
            cfg = override(cfg, name, value)
    if need_root and not cfg.source.root:
        raise click.UsageError("no dataset root: give --root (or --set source.root=...)")
    return validate_config(cfg)
