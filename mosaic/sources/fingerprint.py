"""Fingerprint of a scene's input files: what changed since a dataset was generated from them.

Names, sizes and modification times only (no content hashing), so fingerprinting a release is
as cheap as listing it. A resumed run compares fingerprints to refuse inputs that changed under
scenes already written, and to retry a scene that failed on bad input once its files change.
The directory walk (``input_entries``) is shared with the pinned manifest, which hashes file
contents with ``file_sha256``, as the shard writer and the dataset checks do.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MISSING = "missing"

# Folders holding one file per frame (exported or extracted images, depth, poses): listed as
# their file count, total size and newest change, not thousands of entries.
BULK_FRAME_DIRS = frozenset({
    "color", "depth", "pose", "sens_export", "rgb", "rgb_mask", "images", "original_images",
    "original_anon_masks", "resized_images", "resized_anon_masks", "resized_undistorted_images",
    "resized_undistorted_masks", "lowres_wide", "lowres_depth", "lowres_wide_intrinsics",
    "confidence", "anon_mask", "azim", "elev",
})


@dataclass(frozen=True)
class InputEntry:
    """A file under a scene folder, or a folder of per-frame files (``BULK_FRAME_DIRS``).

    Attributes:
        rel: path relative to the scene folder, "/"-separated; a bulk folder's ends in "/".
        path: the file or folder.
        n_files: 1 for a file; the files under a bulk folder (recursively).
        size: bytes (of all its files for a bulk folder).
        mtime_ns: modification time (the newest of its files for a bulk folder).
    """

    rel: str
    path: Path
    n_files: int
    size: int
    mtime_ns: int

    @property
    def bulk(self) -> bool:
        return self.rel.endswith("/")


def input_entries(top: Path) -> Iterator[InputEntry]:
    """The files under ``top`` recursively, sorted by name per folder, with bulk folders
    summarised; raises OSError when a folder cannot be listed."""
    yield from _walk(top, top)


def _walk(top: Path, folder: Path) -> Iterator[InputEntry]:
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        rel = Path(e.path).relative_to(top).as_posix()
        if e.is_dir():
            if e.name in BULK_FRAME_DIRS:
                n = size = newest = 0
                for root, _dirs, files in os.walk(e.path):
                    for name in files:
                        st = os.stat(os.path.join(root, name))
                        n, size, newest = n + 1, size + st.st_size, max(newest, st.st_mtime_ns)
                yield InputEntry(rel + "/", Path(e.path), n, size, newest)
            else:
                yield from _walk(top, Path(e.path))
        elif e.is_file():
            st = e.stat()
            yield InputEntry(rel, Path(e.path), 1, st.st_size, st.st_mtime_ns)


def file_sha256(path: str | Path, block: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (multi-GB ``.sens`` files are
    fine)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def input_fingerprint(folder: str | Path | None) -> str:
    """16 hex digits over the files under ``folder`` (recursively): relative path, size and
    modification time (ns) of each; a folder of per-frame files (``BULK_FRAME_DIRS``) counts
    as its file count, total size and newest modification time.

    ``"missing"`` when the folder does not exist; ``"unreadable: <why>"`` when it cannot be
    listed (e.g. no read permission), so fixing the permission changes the fingerprint too.
    """
    if folder is None or not os.path.isdir(folder):  # never raises (a parent may be unreadable)
        return MISSING
    try:
        lines = [
            f"{e.rel}\t{e.n_files}\t{e.size}\t{e.mtime_ns}" if e.bulk
            else f"{e.rel}\t{e.size}\t{e.mtime_ns}"
            for e in input_entries(Path(folder))
        ]
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
