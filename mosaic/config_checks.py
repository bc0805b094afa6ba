"""Range checks of a resolved config, run where the config is built.

A setting of the right type can still make no sense (``visibility.max_side=0``,
``viewsets.set_sizes=[1]``, ``qa.per_type_per_scene=-1``): a run with it would label nothing
or draw no question and still report success. ``validate_config`` names every such setting
with its allowed range, before any work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ConfigError

# (section, field) -> (test, allowed range in words). Sections are the MosaicConfig fields.
_Rule = tuple[Callable[[Any], bool], str]


def _increasing(lo: float, hi: float, n: int) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        vals = list(v)
        return (len(vals) == n and all(lo < x < hi for x in vals)
                and all(a < b for a, b in zip(vals, vals[1:], strict=False)))
    return ok


RULES: dict[tuple[str, str], _Rule] = {
    ("visibility", "max_side"): (lambda v: v >= 16, ">= 16 (labelling long side, pixels)"),
    ("visibility", "enlarge"): (lambda v: v >= 0, ">= 0 (image sizes added per side)"),
    ("visibility", "near"): (lambda v: v >= 0, ">= 0 metres"),
    ("visibility", "min_visible_frac"): (lambda v: 0 <= v < 1, "in [0, 1)"),
    ("visibility", "min_visible_ratio"): (lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("visibility", "full_threshold"): (lambda v: 0 <= v < 1, "in [0, 1)"),
    ("visibility", "occ_bins"): (_increasing(0, 1, 3), "3 increasing values in (0, 1)"),
    ("visibility", "pose_max_error"): (lambda v: v > 0, "> 0 metres"),
    ("visibility", "large_visible_frac"): (lambda v: 0 < v, "> 0 (share of the image)"),
    ("visibility", "batch_views"): (lambda v: v >= 1, ">= 1"),
    ("viewsets", "frame_step"): (lambda v: v >= 1, ">= 1"),
    ("viewsets", "set_sizes"): (
        lambda v: len(v) > 0 and len(set(v)) == len(v) and all(2 <= k <= 5 for k in v),
        "distinct frame counts from 2 to 5 (a question needs several views)",
    ),
    ("viewsets", "max_pair_overlap"): (lambda v: 0 < v <= 100, "in (0, 100] percent"),
    ("viewsets", "overlap_bins"): (_increasing(0, 100, 2), "2 increasing values in (0, 100)"),
    ("viewsets", "sets_per_scene"): (lambda v: v >= 1, ">= 1"),
    ("viewsets", "max_tries"): (lambda v: v >= 1, ">= 1"),
    ("qa", "lr_margin"): (lambda v: 0 <= v < 0.5, "in [0, 0.5) of the image width"),
    ("qa", "ab_margin"): (lambda v: 0 <= v < 0.5, "in [0, 0.5) of the image height"),
    ("qa", "fb_margin"): (lambda v: v >= 0, ">= 0 metres"),
    ("qa", "per_type_per_scene"): (lambda v: v >= 1, ">= 1"),
    ("qa", "per_category_per_type"): (lambda v: v >= 1, ">= 1"),
    ("qa", "bench_cap_scale"): (lambda v: v > 0, "> 0"),
    ("qa", "loc_wrong_diag"): (
        lambda v: len(v) == 2 and 1.4 < v[0] <= v[1],
        "(low, high) diagonals with 1.4 < low <= high (beyond the scoring's pass radius)",
    ),
    ("qa", "min_target_ratio"): (lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("qa", "min_target_area"): (lambda v: 0 <= v < 1, "in [0, 1) of the image"),
    ("qa", "relation_max_span"): (lambda v: 0 < v, "> 0 (share of the image side)"),
    ("qa", "ambiguity_band"): (
        lambda v: len(v) == 2 and 0 <= v[0] <= 1 <= v[1], "(low, high) with 0 <= low <= 1 <= high"
    ),
    ("qa", "need_margin"): (lambda v: v >= 0, ">= 0"),
    ("qa", "relation_slack_px"): (lambda v: v >= 0, ">= 0 pixels"),
    ("source", "box_margin"): (lambda v: v >= 0, ">= 0 metres"),
}


def config_problems(cfg: Any) -> list[str]:
    """``section.field=value: must be <range>`` for every setting of ``cfg`` out of range."""
    problems = []
    for (section, name), (ok, allowed) in RULES.items():
        value = getattr(getattr(cfg, section), name)
        try:
            good = bool(ok(value))
        except (TypeError, ValueError, IndexError):
            good = False
        if not good:
            shown = list(value) if isinstance(value, tuple) else value
            problems.append(f"{section}.{name}={shown!r} must be {allowed}")
    return problems


def validate_config(cfg: Any) -> Any:
    """Return ``cfg`` unchanged, or raise ``ConfigError`` listing every out-of-range setting."""
    problems = config_problems(cfg)
    if problems:
        raise ConfigError("settings out of range: " + "; ".join(problems) + " (docs/api.md "
                          "lists the ranges; pipelines/scannet.yaml the usual values)")
    return cfg
