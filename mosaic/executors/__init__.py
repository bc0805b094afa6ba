"""Executors run chunk tasks (``mosaic.executors.base.Executor``); one registration each.

``EXECUTORS`` is a ``mosaic.registry.Registry`` of ``ExecutorSpec`` (module, class, install
hint); ``get_executor(name, **options)`` instantiates one and fails loudly with the valid names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import BackendUnavailableError
from ..registry import Registry, Spec
from .base import Executor


@dataclass(frozen=True)
class ExecutorSpec(Spec):
    """An executor: ``cls`` names the module's ``Executor`` subclass."""

    cls: str = ""


EXECUTORS: Registry[ExecutorSpec] = Registry("executor", [
    ExecutorSpec("local", "mosaic.executors.local", "(built in)", cls="LocalExecutor"),
    ExecutorSpec("slurm", "mosaic.executors.slurm", "pip install 'mosaic[slurm]'",
                 cls="SlurmExecutor"),
    ExecutorSpec("ray", "mosaic.executors.ray", "pip install 'mosaic[ray]'", cls="RayExecutor"),
])


def get_executor(name: str, **options: Any) -> Executor:
    """Instantiate an executor by name (e.g. ``get_executor("local", workers=4)``)."""
    spec = EXECUTORS[name]
    try:
        cls = spec.attr(spec.cls)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"executor {name!r} is not usable here ({exc}); install it with: {spec.hint}"
        ) from None
    return cls(**options)
