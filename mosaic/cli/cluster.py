"""Cluster run commands: ``mosaic status OUT`` (done / running / failed / pending chunks)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import EXIT_PARTIAL, friendly_errors, main


@main.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print the status as JSON")
@click.option("--all", "show_all", is_flag=True, help="also list chunks that finished cleanly")
@friendly_errors
def status(out, as_json, show_all):
    """Show which chunks of a run are done, running, failed or pending, with causes and logs.

    Reads the completion markers (_chunks/), the job log of the slurm and ray executors
    (_logs/jobs.jsonl) and submitit's job folders. Exit code 3 when a chunk or scene failed.
    """
    from ..executors.run_state import format_status, run_status

    st = run_status(Path(out))
    if as_json:
        click.echo(json.dumps(st.to_dict(), indent=1, sort_keys=True))
    else:
        for line in format_status(st, verbose=show_all):
            click.echo(line)
    if st.counts()["failed"] or st.failed_scene_count():
        sys.exit(EXIT_PARTIAL)
