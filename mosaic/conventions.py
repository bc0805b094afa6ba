"""Coordinate conventions, written once.

* World: metres, +z up (gravity aligned), the source's axis-aligned frame.
* Camera: OpenCV, x right, y down, z forward. ``cam_to_world`` (4, 4) maps camera to world.
* Pixels: (x, y) = (column, row), continuous; the centre of pixel (row i, col j) is
  (j + 0.5, i + 0.5).
"""

from __future__ import annotations

import numpy as np


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """OpenCV ``cam_to_world`` (4, 4) float64 of a camera at ``eye`` looking at ``target``.

    ``up`` is the world direction that appears up in the image (default +z). The camera's
    y axis points down in the image, so it is the negated projection of ``up``.
    """
    eye = np.asarray(eye, np.float64)
    up = np.array([0.0, 0.0, 1.0]) if up is None else np.asarray(up, np.float64)
    z = np.asarray(target, np.float64) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to up")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    P = np.eye(4)
    P[:3, 0], P[:3, 1], P[:3, 2], P[:3, 3] = x, y, z, eye
    return P


def world_to_camera(points: np.ndarray, cam_to_world: np.ndarray) -> np.ndarray:
    """(N, 3) world points -> (N, 3) OpenCV camera coordinates."""
    R, t = cam_to_world[:3, :3], cam_to_world[:3, 3]
    return (np.asarray(points, np.float64) - t) @ R


def project(points: np.ndarray, K: np.ndarray, cam_to_world: np.ndarray) -> np.ndarray:
    """(N, 3) world points -> (N, 3) of (x, y, depth): pixel coordinates and camera z (m)."""
    pc = world_to_camera(points, cam_to_world)
    z = pc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        x = K[0, 0] * pc[:, 0] / z + K[0, 2]
        y = K[1, 1] * pc[:, 1] / z + K[1, 2]
    return np.stack([x, y, z], axis=1)
