"""In-memory scenes with known visibility answers, built from trimesh primitives."""

from __future__ import annotations

import numpy as np
import trimesh

from mosaic.conventions import look_at
from mosaic.structures import Frame, OrientedBox, Scene, SceneObject

W, H = 160, 120
K = np.array([[120.0, 0, W / 2], [0, 120.0, H / 2], [0, 0, 1]])


def box(center, extents) -> trimesh.Trimesh:
    m = trimesh.creation.box(extents=extents)
    m.apply_translation(center)
    return m


def build_scene(parts: list[tuple[str, trimesh.Trimesh]], poses: list[np.ndarray],
                scene_id: str = "scene9000_00", structural=("wall", "floor", "ceiling")) -> Scene:
    """Instances numbered 1.. in the order given; one frame per pose (frame ids 0..)."""
    verts, faces, inst, objects = [], [], [], []
    offset = 0
    for i, (label, mesh) in enumerate(parts, start=1):
        v = np.asarray(mesh.vertices, np.float32)
        f = np.asarray(mesh.faces, np.int32) + offset
        verts.append(v)
        faces.append(f)
        inst.append(np.full(len(f), i, np.int32))
        offset += len(v)
        lo, hi = v.min(0).astype(np.float64), v.max(0).astype(np.float64)
        objects.append(SceneObject(
            instance_id=i, label=label, category=label, nyu40_id=None, scannet200_id=None,
            aabb_min=lo, aabb_max=hi,
            obb=OrientedBox((lo + hi) / 2, hi - lo, np.eye(3)),
            n_faces=len(f), structural=label in structural,
        ))
    V = np.concatenate(verts)
    frames = tuple(Frame(i, K.copy(), P, W, H) for i, P in enumerate(poses))
    return Scene(
        scene_id=scene_id, source="memory", vertices=V, faces=np.concatenate(faces),
        vertex_colors=np.full((len(V), 3), 128, np.uint8), face_instance=np.concatenate(inst),
        objects=tuple(objects), frames=frames,
    )


def camera_looking_along_y(eye=(0.0, -5.0, 1.0)) -> np.ndarray:
    eye = np.asarray(eye, float)
    return look_at(eye, eye + np.array([0.0, 1.0, 0.0]))


def half_hidden_scene() -> Scene:
    """A 1 m box straight ahead, its left half (x < 0) hidden behind a thin plate."""
    target = box((0, 0, 1), (1, 1, 1))
    plate = box((-1.0, -2.0, 1), (2.0, 0.02, 3.0))  # spans x in [-2, 0]
    return build_scene([("box", target), ("plate", plate)], [camera_looking_along_y()])


def half_outside_scene() -> Scene:
    """A flat square centred on the ray through the image's left border (x = 0 column)."""
    P = camera_looking_along_y()
    depth = 5.0
    # pixel x = 0 -> camera x = (0 - cx) / fx * depth
    cx_world = (0 - K[0, 2]) / K[0, 0] * depth
    square = box((cx_world, 0.0, 1.0), (1.0, 0.001, 1.0))
    return build_scene([("picture", square)], [P])


def fully_hidden_scene() -> Scene:
    """A small box entirely behind a large one."""
    front = box((0, -1, 1), (2, 0.5, 2))
    back = box((0, 1, 1), (0.5, 0.5, 0.5))
    return build_scene([("cabinet", front), ("box", back)], [camera_looking_along_y()])


def behind_camera_scene() -> Scene:
    """One box in front of the camera and one behind it."""
    ahead = box((0, 0, 1), (1, 1, 1))
    behind = box((0, -8, 1), (1, 1, 1))
    return build_scene([("box", ahead), ("chair", behind)], [camera_looking_along_y()])


def close_couch_scene() -> Scene:
    """A couch right in front of the camera, to its lower left: its corner fills about 15 %
    of the frame while most of it projects far outside the image (visible_ratio ~0.03); a
    curtain farther away."""
    couch = box((-1.6, -4.175, 0.425), (2.8, 1.15, 0.85))  # x -3..-0.2, 0.25..1.4 m ahead
    curtain = box((1.2, 1.0, 1.2), (0.6, 0.1, 1.6))
    floor = box((0, 0, -0.05), (12, 12, 0.1))
    return build_scene([("floor", floor), ("couch", couch), ("curtain", curtain)],
                       [camera_looking_along_y()])
