"""What every dataset-reading command shares: ``--allow-incomplete`` and its report, and
naming the file a failed write was for."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

allow_incomplete_option: Callable[[Any], Any] = click.option(
    "--allow-incomplete", is_flag=True,
    help="read the valid shards of an incomplete or altered dataset and list the others "
         "(default: refuse such a dataset)",
)


def report_left_out(ds: Any) -> None:
    """One warning line on stderr per shard an ``--allow-incomplete`` read left out."""
    left = getattr(ds, "left_out", [])
    if not left:
        return
    click.echo(f"warning: --allow-incomplete: left out {len(left)} shard(s); the results "
               "cover only the shards read", err=True)
    for name, why in left:
        click.echo(f"  left out {name}: {why}", err=True)


@contextmanager
def writing_to(path: str | Path) -> Iterator[None]:
    """Name ``path`` in an OS error raised inside without a file name (a failed ``write()``
    says only "No space left on device"), so the one-line error says where."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


@contextmanager
def progress_bar(total: int | None, unit: str, desc: str) -> Iterator[Callable[[int], None]]:
    """A tqdm bar on stderr (with ETA when ``total`` is known) as a ``progress(n)`` callable."""
    from tqdm import tqdm

    with tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, dynamic_ncols=True,
              leave=False) as bar:
        yield bar.update
