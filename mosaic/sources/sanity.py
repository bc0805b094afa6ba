"""Sanity checks on the matrices and sizes a reader takes from a release, where they are read.

A number that parses is not yet a number that makes sense: an ``axisAlignment`` that scales by
100 turns metres into centimetres (distances of 172 m, sizes of 15,000 cm), zero colour
intrinsics make every ray parallel and stall the ray caster. Readers call these functions on
each matrix as they read it, so a bad file is reported with its name instead of producing a
wrong dataset.

Tolerances (one place): a rigid transform's rotation part R must satisfy
max |R^T R - I| <= ``RIGID_TOL`` and det R > 0; this accepts float32 storage and values
rounded to 3 decimals, and rejects any scale beyond ~0.5 % or a mirror.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CorruptDataError

RIGID_TOL = 1e-2
LAST_ROW = np.array([0.0, 0.0, 0.0, 1.0])  # of a rigid (4, 4) transform, to within 1e-6
LAST_ROW_ATOL = 1e-6
NON_RIGID_POSE = "pose not rigid (scaled, sheared or mirrored rotation)"


NON_FINITE_POSE = "non-finite pose"


def pose_problem(cam_to_world: np.ndarray) -> str | None:
    """Why a frame's (4, 4) camera-to-world pose cannot be used (``NON_FINITE_POSE``, e.g.
    ScanNet's -inf poses, or ``NON_RIGID_POSE``), or None: the frame is then skipped with that
    reason."""
    if not np.isfinite(cam_to_world).all():
        return NON_FINITE_POSE
    if rigid_problem(cam_to_world) is not None:
        return NON_RIGID_POSE
    return None


def pose_problems(cam_to_world: np.ndarray) -> list[str | None]:
    """``pose_problem`` of each of (N, 4, 4) poses, in one vectorised pass: a pose clearly
    inside every tolerance is None at once, any other goes through ``pose_problem`` (so the
    answers are its answers; the margin covers rounding differences of the batched maths)."""
    M = np.asarray(cam_to_world, dtype=np.float64).reshape(-1, 4, 4)
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(M).all(axis=(1, 2))
        safe = np.where(finite[:, None, None], M, 0.0)
        last = np.isclose(safe[:, 3], LAST_ROW, atol=LAST_ROW_ATOL).all(axis=1)
        R = safe[:, :3, :3]
        dev = np.abs(np.einsum("nji,njk->nik", R, R) - np.eye(3)).max(axis=(1, 2))
        ok = finite & last & (dev <= RIGID_TOL - 1e-9) & (np.linalg.det(R) > 1e-9)
    return [None if good else pose_problem(m) for good, m in zip(ok, M, strict=True)]


def rigid_problem(M: np.ndarray, tol: float = RIGID_TOL) -> str | None:
    """Why ``M`` is not a (4, 4) rigid transform (rotation + translation), or None."""
    M = np.asarray(M, dtype=np.float64)
    if M.shape != (4, 4):
        return f"has shape {M.shape}, not (4, 4)"
    if not np.isfinite(M).all():
        return "has non-finite values"
    if not np.allclose(M[3], LAST_ROW, atol=LAST_ROW_ATOL):
        return f"has last row {np.round(M[3], 6).tolist()}, not [0, 0, 0, 1]"
    R = M[:3, :3]
    sv = np.linalg.svd(R, compute_uv=False)
    if np.abs(R.T @ R - np.eye(3)).max() > tol:
        if np.ptp(sv) <= tol * max(1.0, sv.max()):
            return f"scales by {sv.mean():.4g} (a rigid transform keeps lengths: scale 1)"
        return (f"is not a rotation plus translation (singular values "
                f"{', '.join(f'{v:.4g}' for v in sv)}; expected 1, 1, 1)")
    if np.linalg.det(R) < 0:
        return "mirrors (determinant -1): not a proper rotation"
    return None


def intrinsics_problem(K: np.ndarray, size: tuple[int, int] | None = None) -> str | None:
    """Why ``K`` is not a usable (3, 3) pinhole intrinsic matrix (focal lengths positive and
    finite, last row [0, 0, 1]; principal point inside ``size`` = (width, height) when
    given), or None."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        return f"has shape {K.shape}, not (3, 3)"
    if not np.isfinite(K).all():
        return "has non-finite values"
    fx, fy = K[0, 0], K[1, 1]
    if not (fx > 0 and fy > 0):
        return f"has focal lengths fx={fx:g}, fy={fy:g}; both must be positive"
    if not np.allclose(K[2], [0.0, 0.0, 1.0], atol=1e-9) or abs(K[1, 0]) > 1e-9:
        return f"is not an upper-triangular pinhole matrix (rows {np.round(K, 4).tolist()})"
    if size is not None:
        w, h = size
        if not (0 <= K[0, 2] <= w and 0 <= K[1, 2] <= h):
            return (f"puts the principal point ({K[0, 2]:g}, {K[1, 2]:g}) outside the "
                    f"{w}x{h} image (intrinsics of another resolution?)")
    return None


def size_problem(width: int, height: int) -> str | None:
    """Why (width, height) is not a usable image size, or None."""
    if not (int(width) > 0 and int(height) > 0):
        return f"image size {width}x{height}: both sides must be positive"
    return None


def check_rigid(scene_id: str, path: str | Path | None, M: np.ndarray, what: str,
                hint: str = "") -> np.ndarray:
    """``M`` as float64 when rigid; else ``CorruptDataError`` naming the file and ``what``."""
    why = rigid_problem(M)
    if why is not None:
        raise CorruptDataError(scene_id, path, f"{what} {why}",
                               hint or "the file is damaged or not from this release")
    return np.asarray(M, dtype=np.float64)


def check_intrinsics(scene_id: str, path: str | Path | None, K: np.ndarray, what: str,
                     size: tuple[int, int] | None = None, hint: str = "") -> np.ndarray:
    """``K`` as float64 when usable (see ``intrinsics_problem``); else ``CorruptDataError``."""
    if size is not None:
        check_size(scene_id, path, size[0], size[1], what, hint)
    why = intrinsics_problem(K, size)
    if why is not None:
        raise CorruptDataError(scene_id, path, f"{what} {why}",
                               hint or "the file is damaged or not from this release")
    return np.asarray(K, dtype=np.float64)


def check_size(scene_id: str, path: str | Path | None, width: int, height: int, what: str,
               hint: str = "") -> None:
    """``CorruptDataError`` unless both sides are positive."""
    why = size_problem(width, height)
    if why is not None:
        raise CorruptDataError(scene_id, path, f"{what}: {why}",
                               hint or "the file is damaged or not from this release")
