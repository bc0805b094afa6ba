"""ScanNet's ``scannetv2-labels.combined.tsv``: raw annotation label -> category, NYU40, ScanNet200.

The table ships with the ScanNet task data (not per scene). Readers look it up by the
segGroup ``label`` (tsv ``raw_category``), as the official ScanNet200 preprocessing does.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetRootError
from .base import ObjectLabel

TSV_NAME = "scannetv2-labels.combined.tsv"
REQUIRED_COLUMNS = ("id", "raw_category", "category", "nyu40id")

# ScanNet200 class ids (tsv ``id`` column), copied as data from
# ScanNet/ScanNet:BenchmarkScripts/ScanNet200/scannet200_constants.py (VALID_CLASS_IDS_200).
VALID_CLASS_IDS_200: frozenset[int] = frozenset((
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24, 26, 27, 28,
    29, 31, 32, 33, 34, 35, 36, 38, 39, 40, 41, 42, 44, 45, 46, 47, 48, 49, 50, 51, 52, 54, 55,
    56, 57, 58, 59, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80,
    82, 84, 86, 87, 88, 89, 90, 93, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107,
    110, 112, 115, 116, 118, 120, 121, 122, 125, 128, 130, 131, 132, 134, 136, 138, 139, 140,
    141, 145, 148, 154, 155, 156, 157, 159, 161, 163, 165, 166, 168, 169, 170, 177, 180, 185,
    188, 191, 193, 195, 202, 208, 213, 214, 221, 229, 230, 232, 233, 242, 250, 261, 264, 276,
    283, 286, 300, 304, 312, 323, 325, 331, 342, 356, 370, 392, 395, 399, 408, 417, 488, 540,
    562, 570, 572, 581, 609, 748, 776, 1156, 1163, 1164, 1165, 1166, 1167, 1168, 1169, 1170,
    1171, 1172, 1173, 1174, 1175, 1176, 1178, 1179, 1180, 1181, 1182, 1183, 1184, 1185, 1186,
    1187, 1188, 1189, 1190, 1191,
))


@dataclass(frozen=True)
class LabelEntry:
    """One tsv row (the columns mosaic uses)."""

    id: int
    raw_category: str
    category: str
    nyu40_id: int | None
    nyu40_class: str


class LabelTable:
    """Lookup of tsv rows by raw category (exact first, then case/space-insensitive)."""

    def __init__(self, entries: list[LabelEntry], path: Path | None = None):
        self.path = path
        self._exact: dict[str, LabelEntry] = {}
        self._loose: dict[str, LabelEntry] = {}
        for e in entries:  # the first row wins when a raw category repeats
            self._exact.setdefault(e.raw_category, e)
            self._loose.setdefault(_norm(e.raw_category), e)

    def __len__(self) -> int:
        return len(self._exact)

    def lookup(self, raw_label: str) -> LabelEntry | None:
        """The row whose ``raw_category`` is ``raw_label``, or None."""
        return self._exact.get(raw_label) or self._loose.get(_norm(raw_label))

    def object_label(self, raw_label: str) -> ObjectLabel:
        """Naming of an instance labelled ``raw_label``; the raw label itself when unknown."""
        e = self.lookup(raw_label)
        if e is None:
            return ObjectLabel(label=raw_label, category=raw_label)
        return ObjectLabel(
            label=raw_label,
            category=e.category or raw_label,
            nyu40_id=e.nyu40_id,
            scannet200_id=e.id if e.id in VALID_CLASS_IDS_200 else None,
        )


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


def load_label_table(path: str | Path) -> LabelTable:
    """Read a ``scannetv2-labels.combined.tsv`` (tab-separated, header row, 17 columns).

    Raises ``DatasetRootError`` for a file without the v2 columns (e.g. the v1
    ``scannet-labels.combined.tsv``) or with non-integer ids.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetRootError(
            f"label table {path} does not exist; {TSV_NAME} ships with the ScanNet task data"
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetRootError(
            f"{path}: label table is not UTF-8 text ({exc}); re-download {TSV_NAME}", path
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t")
    cols = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        raise DatasetRootError(
            f"{path}: label table lacks columns {missing} (found {cols[:6]}...); use the v2 "
            f"file {TSV_NAME} from the ScanNet task data", path
        )
    entries = []
    for lineno, row in enumerate(reader, start=2):
        try:
            nyu = (row.get("nyu40id") or "").strip()
            entries.append(
                LabelEntry(
                    id=int(row["id"]),
                    raw_category=row["raw_category"],
                    category=row["category"] or row["raw_category"],
                    nyu40_id=int(nyu) if nyu else None,
                    nyu40_class=row.get("nyu40class") or "",
                )
            )
        except (TypeError, ValueError) as exc:
            raise DatasetRootError(
                f"{path}: line {lineno} is not a valid label row ({exc}); "
                f"re-download {TSV_NAME}", path
            ) from None
    return LabelTable(entries, path)


def find_label_table(root: str | Path) -> Path | None:
    """``<root>/scannetv2-labels.combined.tsv`` or ``<root>/meta_data/...`` (mmdet3d layout)."""
    for cand in (Path(root) / TSV_NAME, Path(root) / "meta_data" / TSV_NAME):
        if cand.is_file():
            return cand
    return None
