"""One registry shape for every extension axis: sources, ray-casting backends, executors and
task families.

An entry is a ``Spec``: a name, the module that implements it (imported only when the entry is
used, so optional dependencies stay optional) and a hint that says how to install what it needs
or how to obtain its data. Each axis subclasses ``Spec`` with the callables it needs, named as
attributes of that module, and keeps its entries in one ``Registry``, declared in one place:

* sources: ``mosaic.sources.SOURCES`` (``SourceSpec``)
* backends: ``mosaic.visibility.base.BACKENDS`` (``BackendSpec``)
* executors: ``mosaic.executors.EXECUTORS`` (``ExecutorSpec``)
* task families: ``mosaic.families.FAMILY_SPECS`` (``FamilySpec``)

A lookup of an unknown name raises ``UnknownNameError`` listing the valid names.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Generic, TypeVar

from .errors import UnknownNameError


@dataclass(frozen=True)
class Spec:
    """A registered implementation.

    Attributes:
        name: the name users give (``--set source.name=scannet``, ``--executor slurm``).
        module: dotted path of the implementing module.
        hint: how to install its dependencies or obtain its data (shown when it is missing).
    """

    name: str
    module: str
    hint: str = ""

    def load(self) -> ModuleType:
        """The implementing module (imported on first use)."""
        return importlib.import_module(self.module)

    def attr(self, name: str) -> Any:
        """An attribute of the implementing module."""
        return getattr(self.load(), name)


S = TypeVar("S", bound=Spec)


class Registry(Generic[S]):
    """Named specs of one kind, in registration order."""

    def __init__(self, kind: str, specs: Iterable[S]):
        self.kind = kind
        self._specs: dict[str, S] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"{kind} {spec.name!r} is registered twice")
            self._specs[spec.name] = spec

    def __getitem__(self, name: str) -> S:
        spec = self._specs.get(name)
        if spec is None:
            raise UnknownNameError(self.kind, name, list(self._specs))
        return spec

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._specs)

    def specs(self) -> list[S]:
        return list(self._specs.values())
