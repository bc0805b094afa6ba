"""Do labelled views belong to a scene? (``generate_qa`` refuses another scene's views.)

Views carry no scene id, and two scenes of one release share frame numbers and instance ids.
What ties a view to its scene is its buffers: every hit pixel's instance id is the instance
of the face it hit, in that scene's mesh. Another scene's views fail that test on nearly
every pixel.
"""

from __future__ import annotations

import numpy as np

from ..errors import SceneDataError
from ..structures import Scene, ViewVisibility


def view_mismatch(scene: Scene, view: ViewVisibility) -> str | None:
    """Why ``view`` cannot be a view of ``scene`` labelled by ``compute_visibility``, or None.

    Checked: the frame is a usable frame of the scene; the face and instance buffers have one
    shape; hit faces exist in the scene's mesh and carry the buffer's instance ids; missed
    pixels are -1; every object record names one of the scene's objects.
    """
    fid = int(view.frame_id)
    if fid not in {int(f.frame_id) for f in scene.frames}:
        return f"frame {fid} is not a usable frame of scene {scene.scene_id}"
    fb, ib = np.asarray(view.face_buffer), np.asarray(view.instance_buffer)
    if fb.shape != ib.shape:
        return f"frame {fid}: face buffer {fb.shape} and instance buffer {ib.shape} differ"
    hit = fb >= 0
    faces = fb[hit]
    if faces.size and int(faces.max()) >= len(scene.faces):
        return (f"frame {fid}: face ids up to {int(faces.max())} but scene {scene.scene_id} "
                f"has {len(scene.faces)} faces")
    wrong = int(np.count_nonzero(scene.face_instance[faces] != ib[hit]))
    wrong += int(np.count_nonzero(ib[~hit] != -1))
    if wrong:
        return (f"frame {fid}: {wrong} of {ib.size} pixels carry instance ids that are not the "
                f"instances of the faces they hit in scene {scene.scene_id}")
    known = {int(o.instance_id) for o in scene.objects}
    foreign = sorted({int(o.instance_id) for o in view.objects} - known)
    if foreign:
        return f"frame {fid}: objects {foreign[:5]} are not objects of scene {scene.scene_id}"
    return None


def check_views_belong(scene: Scene, views: list[ViewVisibility]) -> None:
    """Raise ``SceneDataError`` when a view was not labelled on ``scene`` (see
    ``view_mismatch``): questions drawn from it would describe another room."""
    for view in views:
        why = view_mismatch(scene, view)
        if why is not None:
            raise SceneDataError(
                scene.scene_id, None, f"the visibility given does not belong to this scene: {why}",
                "pass the views compute_visibility returned for this scene",
            )
