"""Helpers for tests that run mosaic as a user would: in a subprocess, without root's
privileges, or with a small tmpfs that fills up (Linux user and mount namespaces)."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest


@cache
def _unshare_works(*flags: str) -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", *flags, "true"], capture_output=True).returncode == 0


def without_privileges(cmd: list[str]) -> list[str]:
    """``cmd`` run where file permissions apply: as is for a normal user; for root, inside a
    user namespace without capabilities (``unshare --user``). Skips the test when neither."""
    if os.geteuid() != 0:
        return cmd
    if not _unshare_works("--user"):
        pytest.skip("running as root without user namespaces: permissions do not apply")
    return ["unshare", "--user", *cmd]


def can_mount_tmpfs() -> bool:
    """A private tmpfs can be mounted (user + mount namespace)."""
    return _unshare_works("--user", "--map-root-user", "--mount")


def run_with_tmpfs(mounts: dict[str, str], script: str) -> subprocess.CompletedProcess:
    """Run the shell ``script`` with tmpfs mounts {folder: size, e.g. "64k"} visible only to
    it (the mounts vanish when it ends)."""
    mount = "; ".join(f"mount -t tmpfs -o size={size} tmpfs '{path}'"
                      for path, size in mounts.items())
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                           f"{mount} && {script}"], capture_output=True, text=True)


def _stat_fields(pid: int | str) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (state first, then the parent)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (Linux /proc)."""
    try:
        return _stat_fields(pid)[0] != "Z"
    except OSError:
        return False


def pool_workers(pid: int) -> list[int]:
    """Live spawned pool workers (``multiprocessing`` spawn) whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat_fields(entry.name)
            cmd = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):  # gone in between
            continue
        if int(fields[1]) == pid and fields[0] != "Z" and b"spawn_main" in cmd:
            found.append(int(entry.name))
    return found
