"""Causes a user can act on end in one line naming the file and what to do, never a
traceback: a disk that fills up (a real tmpfs where the machine allows mounting one, else a
simulated ENOSPC) in generate, export, stats and evaluate --json; permission denied; a label
table that is not a label table; the FAILED line's hint."""

from __future__ import annotations

import errno
import json
import math
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from process_helpers import can_mount_tmpfs, run_with_tmpfs, without_privileges
from release_fixtures import generate_args as _args

from mosaic.cli import main

TMPFS = pytest.mark.skipif(not can_mount_tmpfs(), reason="cannot mount a private tmpfs here")




def _mosaic(*args: str) -> str:
    return " ".join([f"'{sys.executable}'", "-m", "mosaic", *[f"'{a}'" for a in args]])


def _one_line_error(text: str, *needles: str) -> None:
    errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in text, text
    for needle in needles:
        assert needle in errors[0], errors[0]


@TMPFS
def test_a_disk_that_fills_up_during_generate_is_retried_once_space_is_back(
        release, reference, tmp_path):
    out = tmp_path / "ds"
    (out / "images").mkdir(parents=True)
    pages = sum(math.ceil(p.stat().st_size / 4096) for p in (reference[0] / "images").rglob("*")
                if p.is_file())
    half = f"{(pages // 2) * 4}k"  # room for about half of the images
    export = tmp_path / "export"
    log = {k: tmp_path / f"{k}.log" for k in ("first", "second", "export")}
    script = (
        f"{_mosaic(*_args(release, out))} > {log['first']} 2>&1; echo $? >> {log['first']}; "
        f"mount -o remount,size=16m '{out / 'images'}' && "
        f"{_mosaic(*_args(release, out))} > {log['second']} 2>&1; echo $? >> {log['second']}; "
        f"{_mosaic('export', str(out), '--format', 'jsonl', '--out-dir', str(export))} "
        f"> {log['export']} 2>&1"
    )
    proc = run_with_tmpfs({str(out / "images"): half}, script)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = log["first"].read_text()
    assert first.rstrip().endswith("3"), first  # some scenes failed, the rest were written
    assert "No space left on device" in first and "this may pass" in first
    assert "Traceback" not in first
    second = log["second"].read_text()
    assert second.rstrip().endswith("0"), second
    assert "retrying scene" in second and "may pass" in second
    lines = [ln for f in export.glob("*.jsonl") for ln in f.read_text().splitlines()]
    assert sorted(lines) == reference[1]


@TMPFS
@pytest.mark.parametrize("command", ["export", "stats", "evaluate"])
def test_a_full_disk_when_reading_is_one_line(reference, tmp_path, command):
    full = tmp_path / "full"
    full.mkdir()
    preds = tmp_path / "preds.jsonl"
    first_id = json.loads(reference[1][0])["id"]
    preds.write_text(json.dumps({"id": first_id, "prediction": "A"}) + "\n")
    args = {
        "export": ["export", str(reference[0]), "--format", "jsonl", "--out-dir", str(full)],
        "stats": ["stats", str(reference[0]), "--plots", str(full / "plots")],
        "evaluate": ["evaluate", str(reference[0]), "--pred", str(preds), "--json",
                     str(full / "scores.json")],
    }[command]
    fill = f"dd if=/dev/zero of='{full / 'fill'}' bs=4k 2>/dev/null; "
    proc = run_with_tmpfs({str(full): "64k"}, fill + _mosaic(*args))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    _one_line_error(proc.stderr, "no space left on the device", str(full), "rerun")


def test_a_full_disk_is_one_line_even_where_no_tmpfs_can_be_mounted(reference, tmp_path,
                                                                   monkeypatch):
    """The simulated case: the same message when the write raises ENOSPC."""
    import mosaic.io.exports as exports

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.jsonl"))

    monkeypatch.setattr(exports, "export_dataset", full)
    res = CliRunner().invoke(main, ["export", str(reference[0]), "--format", "jsonl",
                                    "--out-dir", str(tmp_path)])
    assert res.exit_code == 1
    _one_line_error(res.output, "no space left on the device", "x.jsonl")


def test_permission_denied_is_one_line(reference, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        cmd = without_privileges([sys.executable, "-m", "mosaic", "export", str(reference[0]),
                                  "--format", "jsonl", "--out-dir", str(locked)])
        import subprocess

        proc = subprocess.run(cmd, capture_output=True, text=True)
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    _one_line_error(proc.stderr, "permission denied", str(locked))


def test_a_label_table_that_is_not_one_names_the_file(release, tmp_path):
    root = tmp_path / "release"
    shutil.copytree(release, root)
    table = root / "scannetv2-labels.combined.tsv"
    table.write_bytes(bytes(range(256)) * 8)
    out = tmp_path / "ds"
    res = CliRunner().invoke(main, _args(root, out))
    assert res.exit_code == 3, res.output
    failed = json.loads((out / "failures.json").read_text())["failed"]
    assert failed and all(Path(f["file"]) == table for f in failed)
    assert all("not UTF-8" in f["cause"] for f in failed)
    assert f"[{table}]" in res.output and "Traceback" not in res.output
