"""Regenerate the worked examples of docs/tasks.md (one item per question type) from a dataset.

The examples are the first item of each type in the benchmark split of the dataset that
``mosaic dataset --n-scenes 2`` builds (seed 0); the docs test builds the same dataset and runs
this script with ``--check``, so the page cannot drift from what the code generates.

    .venv/bin/mosaic dataset --n-scenes 2 --out out/docs-examples
    .venv/bin/python docs/examples.py out/docs-examples            # rewrite the examples
    .venv/bin/python docs/examples.py out/docs-examples --cards    # ... and their QA cards
    .venv/bin/python docs/examples.py out/docs-examples --check    # exit 1 if the page is stale

The block between the ``examples:begin`` and ``examples:end`` markers of docs/tasks.md is
replaced; the rest of the page is left as it is.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from mosaic import QA_TYPES
from mosaic.io.reader import open_dataset
from mosaic.structures import QAItem

DOCS = Path(__file__).resolve().parent
PAGE = DOCS / "tasks.md"
BEGIN, END = "<!-- examples:begin -->", "<!-- examples:end -->"
SPLIT = "bench"


def first_items(dataset: Path) -> dict[str, QAItem]:
    """The first item of each question type in the dataset's benchmark split."""
    found: dict[str, QAItem] = {}
    with open_dataset(dataset, split=SPLIT) as ds:
        for item in ds.iter_qa():
            found.setdefault(item.question_type, item)
    missing = [t for t in QA_TYPES if t not in found]
    if missing:
        raise SystemExit(f"{dataset}: no {SPLIT} item of type {', '.join(missing)}")
    return found


def example(item: QAItem) -> str:
    """The markdown of one worked example."""
    lines = [f"### `{item.question_type}`", "",
             f"![{item.question_type} card](img/cards/{item.question_type}.png)", "",
             f"{item.scene_id}, frames {tuple(item.frame_ids)}. *{item.question}*"]
    if item.options:
        opts = "  ".join(f"{'ABCD'[i]}. {o}" for i, o in enumerate(item.options))
        lines.append(f"  {opts} — answer **{item.answer}** ({item.ground_truth}).")
    else:
        lines.append(f" — **{item.answer}**.")
    lines.append(f"occ_level {item.occ_level}, vis_level {item.vis_level}, overlap "
                 f"{item.overlap_avg:.1f} % ({item.overlap_level}), coverage {item.coverage}, "
                 f"template `{item.template_id}`.")
    return "\n".join(lines)


def block(items: dict[str, QAItem]) -> str:
    return "\n\n".join(example(items[t]) for t in QA_TYPES)


def rewrite(page: str, new_block: str) -> str:
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{new_block}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--check", action="store_true", help="exit 1 when docs/tasks.md is stale")
    ap.add_argument("--cards", action="store_true", help="also redraw docs/img/cards/*.png")
    args = ap.parse_args(argv)
    items = first_items(args.dataset)
    page = PAGE.read_text()
    new = rewrite(page, block(items))
    if args.check:
        if new != page:
            print(f"{PAGE} is stale: run docs/examples.py on a fresh `mosaic dataset "
                  "--n-scenes 2` output", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(new)
    if args.cards:
        mosaic = Path(sys.executable).parent / "mosaic"
        cards = DOCS / "img" / "cards"
        for qtype, item in items.items():
            subprocess.run([str(mosaic), "inspect", "qa", str(args.dataset), "--id", item.id,
                            "--out", str(cards), "--width", "800"], check=True,
                           capture_output=True)
            (cards / f"{item.id}.png").replace(cards / f"{qtype}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
