"""What every dataset-reading command shares: ``--allow-incomplete`` and its report."""

from __future__ import annotations

from collections.abc import Callable
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
