"""GPU placement for cluster tasks: which device a chunk's warp ray caster runs on.

A SLURM task that requested GPUs sees them through ``CUDA_VISIBLE_DEVICES`` (usually one GPU
per task, renumbered from 0) and knows its rank on the node from ``SLURM_LOCALID``. The device
is ``cuda:<local rank>`` when that many GPUs are visible and ``cuda:<local rank mod visible>``
otherwise (one GPU bound per task makes every task ``cuda:0``). When no GPU is visible the task
runs on the CPU and says why in the log; it never fails for lack of a GPU.

Only the ``warp`` backend places work on a GPU; other backends ignore the device setting.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..config import MosaicConfig

log = logging.getLogger(__name__)

GPU_BACKENDS = ("warp",)
_NO_DEVICE_VALUES = ("", "-1", "none", "nodevfiles", "void")


@dataclass(frozen=True)
class Placement:
    """Where a task runs.

    Attributes:
        device: ``"cpu"`` or ``"cuda:N"`` (warp device string).
        reason: one sentence saying how the device was chosen (logged by the task).
    """

    device: str
    reason: str


def local_rank(env: Mapping[str, str] | None = None) -> int:
    """The task's rank on its node: ``SLURM_LOCALID``, else ``LOCAL_RANK``, else 0."""
    env = os.environ if env is None else env
    for key in ("SLURM_LOCALID", "LOCAL_RANK"):
        value = env.get(key, "").strip()
        if value.isdigit():
            return int(value)
    return 0


def cuda_device_count() -> tuple[int, str]:
    """CUDA devices warp can use in this process, and a note when it is zero for a known reason.

    Returns (count, note); ``note`` is empty when warp answered normally.
    """
    try:
        import warp as wp
    except ImportError as exc:
        return 0, f"warp is not importable ({exc}); install it with: pip install 'mosaic[warp]'"
    from ..visibility.warp import native_stderr_silenced

    wp.config.log_level = wp.LOG_ERROR  # warp would otherwise announce itself on stdout
    with native_stderr_silenced(enabled=True):
        wp.init()
        count = int(wp.get_cuda_device_count())
    return count, ""


def select_device(
    requested: str = "cuda",
    env: Mapping[str, str] | None = None,
    n_devices: int | None = None,
) -> Placement:
    """Choose the device for this task.

    Args:
        requested: ``"cpu"`` keeps the CPU; ``"cuda"``, ``"auto"`` or ``"cuda:N"`` ask for a GPU
            placed by local rank (an explicit N is replaced: on a cluster the rank decides).
        env: environment to read (defaults to ``os.environ``).
        n_devices: visible CUDA devices; None asks warp (``cuda_device_count``).
    """
    env = os.environ if env is None else env
    if requested == "cpu":
        return Placement("cpu", "the config asks for the CPU (visibility.device=cpu)")
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip().lower() in _NO_DEVICE_VALUES:
        return Placement(
            "cpu", f"no GPU visible (CUDA_VISIBLE_DEVICES={visible!r}); running on the CPU"
        )
    note = ""
    if n_devices is None:
        n_devices, note = cuda_device_count()
    if n_devices <= 0:
        why = note or "warp sees no CUDA device (no driver or no GPU allocated to this task)"
        return Placement("cpu", f"no GPU visible: {why}; running on the CPU")
    rank = local_rank(env)
    index = rank % n_devices
    if index != rank:
        reason = (
            f"local rank {rank} but only {n_devices} GPU(s) visible; using cuda:{index} "
            "(each task is bound to its own GPUs)"
        )
    else:
        reason = f"local rank {rank} of {n_devices} visible GPU(s)"
    return Placement(f"cuda:{index}", reason)


def place_config(config: MosaicConfig, env: Mapping[str, str] | None = None,
                 n_devices: int | None = None) -> tuple[MosaicConfig, Placement | None]:
    """``config`` with ``visibility.device`` set for a task that was given GPUs.

    Returns the (possibly unchanged) config and the placement, or None when the backend does
    not use a GPU. The decision is logged at INFO (GPU) or WARNING (CPU fallback).
    """
    vis = config.visibility
    if vis.backend not in GPU_BACKENDS:
        return config, None
    placement = select_device("cuda", env=env, n_devices=n_devices)
    if placement.device.startswith("cuda"):
        log.info("visibility on %s: %s", placement.device, placement.reason)
    else:
        log.warning("visibility on the CPU: %s", placement.reason)
    if vis.device == placement.device:
        return config, placement
    return dataclasses.replace(
        config, visibility=dataclasses.replace(vis, device=placement.device)
    ), placement


def place_task(task: object, env: Mapping[str, str] | None = None,
               n_devices: int | None = None) -> object:
    """A copy of a chunk task (a dataclass with a ``config``) placed on this task's GPU.

    Called inside a cluster task that requested GPUs; the task's config then records the
    device it actually used.
    """
    config = getattr(task, "config", None)
    if not isinstance(config, MosaicConfig) or not dataclasses.is_dataclass(task):
        return task
    placed, _ = place_config(config, env=env, n_devices=n_devices)
    if placed is config:
        return task
    return dataclasses.replace(task, config=placed)
