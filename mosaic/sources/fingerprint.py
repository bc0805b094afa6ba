"""Fingerprint of a scene's input files: what changed since a dataset was generated from them.

Names, sizes and modification times only (no content hashing), so fingerprinting a release is
as cheap as listing it. A resumed run compares fingerprints to refuse inputs that changed under
scenes already written, and to retry a scene that failed on bad input once its files change.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

MISSING = "missing"


def _walk(top: Path, folder: Path, lines: list[str], bulk: frozenset[str]) -> None:
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        rel = Path(e.path).relative_to(top).as_posix()
        if e.is_dir():
            if e.name in bulk:  # thousands of per-frame files: count, bytes, newest change
                n = size = newest = 0
                for root, _dirs, files in os.walk(e.path):
                    for name in files:
                        st = os.stat(os.path.join(root, name))
                        n, size, newest = n + 1, size + st.st_size, max(newest, st.st_mtime_ns)
                lines.append(f"{rel}/\t{n}\t{size}\t{newest}")
            else:
                _walk(top, Path(e.path), lines, bulk)
        elif e.is_file():
            st = e.stat()
            lines.append(f"{rel}\t{st.st_size}\t{st.st_mtime_ns}")


def input_fingerprint(folder: str | Path | None) -> str:
    """16 hex digits over the files under ``folder`` (recursively): relative path, size and
    modification time (ns) of each; a folder of per-frame files (``BULK_FRAME_DIRS``) counts
    as its file count, total size and newest modification time.

    ``"missing"`` when the folder does not exist; ``"unreadable: <why>"`` when it cannot be
    listed (e.g. no read permission), so fixing the permission changes the fingerprint too.
    """
    from . import BULK_FRAME_DIRS

    if folder is None or not os.path.isdir(folder):  # never raises (a parent may be unreadable)
        return MISSING
    top = Path(folder)
    lines: list[str] = []
    try:
        _walk(top, top, lines, BULK_FRAME_DIRS)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
