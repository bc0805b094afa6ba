"""The tiny synthetic ScanNet release the end-to-end tests generate from, and the settings
that keep its runs fast. ``conftest.py`` builds the release once per session; tests that
change files copy it first."""

from __future__ import annotations

from mosaic.synthetic.world import SynthSpec

SPEC = SynthSpec(n_frames=30, color_size=(128, 96), depth_size=(64, 48), target_faces=6000)
RELEASE_SCENES, RELEASE_SEED = 4, 3
FAST = ["--set", "viewsets.frame_step=3", "--set", "visibility.max_side=96",
        "--set", "qa.per_type_per_scene=3"]
