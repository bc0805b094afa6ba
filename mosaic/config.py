"""Typed configuration: one dataclass per component, one comment per field.

The run config is the one source of truth of a run: which source and root to read, the reader's
options, and every science setting. Configs are plain data: no defaults derived from other
fields or from machine paths. A resolved config is written into every output, with its hash, so
a dataset says how it was made.

Presets (``pipelines/*.yaml`` in the repository, shipped as package data) list only what they
change from these defaults; ``--set section.key=value`` (or ``override``) changes one field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config_checks import validate_config
from .errors import ConfigError


@dataclass(frozen=True)
class SourceConfig:
    """Which scenes to read and the reader's options (each source takes the options its
    registration lists; see ``mosaic.sources``)."""

    name: str = "scannet"  # scene source: scannet | scannetpp | arkitscenes | mesh
    root: str = ""  # dataset root on this machine (not part of the config hash)
    frames: str = ""  # frame layout: scannet auto|sens|exported, scannetpp iphone|dslr ("" default)
    label_table: str = ""  # scannet: path of scannetv2-labels.combined.tsv ("" = <root>/...)
    label_map: str = ""  # scannetpp: benchmark label map CSV ("" = none / the release's)
    box_margin: float = 0.01  # arkitscenes: box growth (m) when assigning faces to boxes


@dataclass(frozen=True)
class VisibilityConfig:
    """Ray casting and visibility labels (definitions: docs/concepts.md)."""

    backend: str = "embree"  # ray caster: embree | warp | open3d | reference
    device: str = "cpu"  # warp device: "cpu" or "cuda:N"
    max_side: int = 320  # labelling resolution: long image side in pixels
    amodal_method: str = "pruned"  # pruned (exact, casts only undecided pixels) | exact
    enlarge: float = 2.0  # unbounded-plane stand-in: image extended by this many sizes per side
    near: float = 0.05  # objects reaching closer than this (m) get an unbounded projected box
    min_visible_frac: float = 0.001  # min visible pixels as a share of the labelling image
    min_visible_ratio: float = 0.05  # min V / A_tot to count as visible
    # or: visible pixels cover at least this share of the labelling image, whatever V / A_tot
    # (a couch filling 15 % of a frame from close by; docs/concepts.md)
    large_visible_frac: float = 0.05
    full_threshold: float = 0.05  # occlusion and truncation at or below this -> state "full"
    occ_bins: tuple[float, float, float] = (0.1, 0.4, 0.7)  # low/medium/high/very high edges
    structural_labels: tuple[str, ...] = ("wall", "floor", "ceiling")  # never targets
    pose_check: bool = True  # compare rendered and sensor depth per frame
    pose_max_error: float = 0.10  # reject a frame above this median |rendered - sensor| depth (m)
    batch_views: int = 8  # views cast per backend call


@dataclass(frozen=True)
class ViewSetConfig:
    """Frame subsampling and view-set sampling (docs/tasks.md, "Pipeline of one scene")."""

    frame_step: int = 10  # keep every n-th usable frame
    set_sizes: tuple[int, ...] = (2, 3, 4, 5)  # frames per question
    max_pair_overlap: float = 30.0  # percent; every pair of a set stays below this
    overlap_bins: tuple[float, float] = (0.3, 3.5)  # low/medium/high overlap_level edges (%)
    sets_per_scene: int = 120  # view sets drawn per scene
    max_tries: int = 4000  # random draws before giving up on more sets


@dataclass(frozen=True)
class QAConfig:
    """Question generation (docs/tasks.md)."""

    types: tuple[str, ...] = ()  # question types to generate; empty = all 17
    lr_margin: float = 0.05  # left/right margin as a share of image width
    ab_margin: float = 0.05  # above/below margin as a share of image height
    fb_margin: float = 0.3  # front/behind margin in metres of depth_median
    per_type_per_scene: int = 12  # cap of items per question type per scene
    per_category_per_type: int = 4  # cap of items per (type, category) per scene
    bench_cap_scale: float = 1.0  # benchmark (val) scenes take this x per_type_per_scene
    # wrong localization points lie this many visible-box diagonals from the answer; the low
    # end exceeds 1.4, the largest point-scoring threshold, so a wrong point never earns credit
    loc_wrong_diag: tuple[float, float] = (1.5, 2.5)
    min_target_ratio: float = 0.25  # a target in a frame a question names shows >= this V / A_tot
    min_target_area: float = 0.005  # ... and covers >= this share of the (labelling) image
    # answers never hinge on an object near a visibility threshold: below band[0] x threshold
    # it is clearly invisible, at or above band[1] x threshold clearly visible, else skipped
    ambiguity_band: tuple[float, float] = (0.7, 1.4)
    need_margin: float = 0.03  # frames-needed "occluded/truncated": above full_threshold by this
    relation_slack_px: float = 2.0  # extra lr/ab margin in labelling pixels (centre rounding)
    # lr (ab): objects whose visible box spans more than this share of the image width
    # (height) are not related on that axis: their centre is not where a person looks
    relation_max_span: float = 0.5


@dataclass(frozen=True)
class MosaicConfig:
    """The whole resolved configuration of a run."""

    seed: int = 0  # global seed; per-scene RNGs derive from (seed, scene id)
    source: SourceConfig = field(default_factory=SourceConfig)
    visibility: VisibilityConfig = field(default_factory=VisibilityConfig)
    viewsets: ViewSetConfig = field(default_factory=ViewSetConfig)
    qa: QAConfig = field(default_factory=QAConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces) used for hashing and storage."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def hash(self) -> str:
        """sha256 of the canonical JSON without execution-only fields, first 16 hex digits.

        ``visibility.device`` says where rays were cast (a cluster task may fall back from a GPU
        to the CPU) and ``source.root`` where the input lies on this machine; neither changes
        what the dataset means, so shards of one run keep one hash.
        """
        data = self.to_dict()
        data["visibility"].pop("device", None)
        data["source"].pop("root", None)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# Fields with a closed set of values, checked when a config is built (fail before any work).
_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("visibility", "amodal_method"): ("pruned", "exact"),
}

_SECTIONS = {
    "source": SourceConfig,
    "visibility": VisibilityConfig,
    "viewsets": ViewSetConfig,
    "qa": QAConfig,
}


def _coerce(value: Any, default: Any, where: str) -> Any:
    """Convert a YAML / command-line value to the type of the field's default."""
    if isinstance(default, bool):
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return bool(value)
    if isinstance(default, tuple):
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip().startswith("[") else value.split(",")
        if not isinstance(value, (list, tuple)):
            value = [value]
        inner = default[0] if default else None
        if inner is None:
            return tuple(str(v).strip() if isinstance(v, str) else v for v in value)
        return tuple(_coerce(v, inner, where) for v in value)
    try:
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, str):
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot use {value!r} ({exc})") from None
    return value


def _apply(cfg: MosaicConfig, section: str | None, key: str, value: Any) -> MosaicConfig:
    if section is None:
        if key != "seed":
            raise ConfigError(
                f"unknown setting {key!r}; use seed or one of the sections "
                f"{', '.join(_SECTIONS)} (e.g. visibility.max_side=320)"
            )
        return dataclasses.replace(cfg, seed=_coerce(value, 0, "seed"))
    if section not in _SECTIONS:
        raise ConfigError(f"unknown config section {section!r}; valid: {', '.join(_SECTIONS)}")
    sub = getattr(cfg, section)
    names = {f.name: f for f in dataclasses.fields(sub)}
    if key not in names:
        raise ConfigError(
            f"unknown setting {section}.{key}; valid: {', '.join(sorted(names))}"
        )
    coerced = _coerce(value, getattr(sub, key), f"{section}.{key}")
    allowed = _CHOICES.get((section, key))
    if allowed is not None and coerced not in allowed:
        raise ConfigError(f"{section}.{key}={coerced!r} is not valid; valid: {', '.join(allowed)}")
    new_sub = dataclasses.replace(sub, **{key: coerced})
    return dataclasses.replace(cfg, **{section: new_sub})


def _with_dict(cfg: MosaicConfig, data: dict[str, Any]) -> MosaicConfig:
    for top, value in (data or {}).items():
        if isinstance(value, dict):
            for key, v in value.items():
                cfg = _apply(cfg, top, key, v)
        else:
            cfg = _apply(cfg, None, top, value)
    return cfg


# Presets: the repository's pipelines/ folder, reached through the package (mosaic/pipelines is
# a link to it in a checkout and a folder of package data in an installed wheel).
PRESETS_DIR = Path(__file__).resolve().with_name("pipelines")


def preset_names() -> list[str]:
    """Names of the shipped presets (``pipelines/<name>.yaml``)."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def _config_file(path_or_preset: str | Path) -> Path:
    """A YAML file path as given, else the shipped preset of that name."""
    p = Path(path_or_preset)
    if p.is_file():
        return p
    preset = PRESETS_DIR / f"{path_or_preset}.yaml"
    if p.suffix == "" and preset.is_file():
        return preset
    raise ConfigError(
        f"config file {p} does not exist; give a YAML path or a preset name "
        f"({', '.join(preset_names())})"
    )


def override(cfg: MosaicConfig, name: str, value: Any) -> MosaicConfig:
    """``cfg`` with one field set: ``name`` is ``seed`` or ``section.key``; ``value`` is
    converted to the field's type (strings from the command line included)."""
    parts = name.strip().split(".")
    if len(parts) == 1:
        return _apply(cfg, None, parts[0], value)
    if len(parts) == 2:
        return _apply(cfg, parts[0], parts[1], value)
    raise ConfigError(f"setting {name!r}: use one dot, e.g. visibility.max_side=320")


def load_config(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> MosaicConfig:
    """Load a YAML config or a preset by name (defaults when ``path`` is None), then apply
    ``key=value`` overrides in order.

    Overrides use dotted names, e.g. ``visibility.max_side=480``, ``source.root=/data`` or
    ``seed=3``.
    """
    cfg = MosaicConfig()
    if path is not None:
        p = _config_file(path)
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {p} must hold a mapping of sections")
        data.pop("name", None)
        data.pop("description", None)
        cfg = _with_dict(cfg, data)  # checked once, after the overrides (they may fix a value)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        name, value = item.split("=", 1)
        cfg = override(cfg, name, value)
    return validate_config(cfg)
