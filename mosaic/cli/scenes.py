"""Scene commands: synth, scenes, scene-info, manifest."""

from __future__ import annotations

from . import main  # noqa: F401
