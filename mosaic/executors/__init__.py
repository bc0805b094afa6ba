"""Executors run chunk tasks; registry by name (fails loudly with the valid names).

Every executor has ``run(fn, tasks, on_event) -> Iterator[(task, result | exception)]`` where
``fn(task, emit)`` is a picklable top-level function and ``emit(event)`` forwards progress
events (plain dicts) to ``on_event`` in the calling process.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import UnknownNameError

EXECUTORS: dict[str, tuple[str, str]] = {
    "local": ("mosaic.executors.local", "LocalExecutor"),
    "slurm": ("mosaic.executors.slurm", "SlurmExecutor"),
    "ray": ("mosaic.executors.ray", "RayExecutor"),
}


def get_executor(name: str, **options: Any) -> Any:
    """Instantiate an executor by name (e.g. ``get_executor("local", workers=4)``)."""
    if name not in EXECUTORS:
        raise UnknownNameError("executor", name, list(EXECUTORS))
    module, cls = EXECUTORS[name]
    return getattr(importlib.import_module(module), cls)(**options)
