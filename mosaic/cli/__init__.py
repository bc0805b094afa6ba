"""Thin click command line: parse, configure, call the library, map errors to exit codes.

Exit codes: 0 success, 1 a mosaic error (one clear line on stderr), 2 usage error (click),
3 a batch finished but some scenes failed (see failures.json).
"""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable
from typing import Any

import click

from ..errors import MosaicError, os_error_message

EXIT_ERROR = 1
EXIT_PARTIAL = 3


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a MosaicError or an operating-system error (disk full, permission denied, ...)
    into one line on stderr and exit code 1; an interrupt (Ctrl-C, SIGTERM, SIGHUP) into one
    line and exit code 128 + the signal number."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MosaicError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except OSError as exc:
            message = os_error_message(exc)
            if message is None:
                raise
            click.echo(f"error: {message}", err=True)
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt as exc:
            signum = int(getattr(exc, "signum", signal.SIGINT))
            click.echo(f"interrupted by {signal.Signals(signum).name}: stopped with its workers; "
                       "rerun the same command to resume (finished work is kept)", err=True)
            sys.exit(128 + signum)

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
