"""Thin click command line: parse, configure, call the library, map errors to exit codes.

Exit codes: 0 success, 1 a mosaic error (one clear line on stderr), 2 usage error (click),
3 a batch finished but some scenes failed (see failures.json).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from ..errors import MosaicError

EXIT_ERROR = 1
EXIT_PARTIAL = 3


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a MosaicError into one line on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MosaicError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mosaic")
def main() -> None:
    """mosaic: multi-view spatial-reasoning QA datasets from 3D scenes."""


# Command modules register themselves on `main` when imported.
from . import cluster as _cluster  # noqa: E402,F401
from . import dataset as _dataset  # noqa: E402,F401
from . import inspect as _inspect  # noqa: E402,F401
from . import scenes as _scenes  # noqa: E402,F401
from . import visibility as _visibility  # noqa: E402,F401
