"""Regenerate ``womens_clothing_reviews.jsonl`` from the publisher's CSV (run once; output shipped).

    python qattn_hybrid/data/datasets/womens_clothing_reviews/make_split.py CSV
        [--seed 0] [--out FILE]

What it does, in order (the numbers are those of the publisher's file, 23,486 rows):

1. Reads the CSV with a CSV parser (review texts contain quoted newlines).
2. Drops the 845 rows without review text (22,641 rows kept).
3. Text = title + review text: ``"{title}. {review}"``, or ``"{title} {review}"`` when the title
   already ends in ``.``, ``!`` or ``?``, or the review alone when there is no title (2,966 rows).
   Whitespace at either end is stripped; nothing else in the text is changed.
4. Splits by item (``Clothing ID``), so every review of one item is on one side: within each
   department (items without a department form their own group), the items are shuffled with
   ``random.Random(seed)`` (starting from ascending id order) and walked in that order, counting
   rows; an item goes to train when its middle row (rows before it + half its own) falls below
   70 % of the department's rows, to validation below 80 %, else to test. Row shares are
   therefore ~70/10/20 per department (an item is never cut), and every department appears in
   every split.
5. Writes one JSON object per row, in the CSV's row order, with the fields ``text``,
   ``rating`` (int 1-5), ``recommended`` (``"recommended"`` / ``"not_recommended"`` from
   ``Recommended IND`` 1 / 0), ``department`` (``""`` for the 13 kept rows without one),
   ``class_name``, ``clothing_id`` (str), ``row`` (the CSV's index column) and ``split``.

Standard library only; the output is byte-identical on every machine for one seed.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from collections import defaultdict
from pathlib import Path

SHARES = (("train", 0.7), ("validation", 0.8), ("test", 1.0))  # cumulative row shares
HERE = Path(__file__).resolve().parent


def make_text(title: str, review: str) -> str:
    title, review = title.strip(), review.strip()
    if not title:
        return review
    return f"{title} {review}" if title[-1] in ".!?" else f"{title}. {review}"


def read_rows(csv_path: Path) -> list[dict]:
    with csv_path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        if not r["Review Text"].strip():
            continue
        out.append({
            "text": make_text(r["Title"], r["Review Text"]),
            "rating": int(r["Rating"]),
            "recommended": "recommended" if r["Recommended IND"] == "1" else "not_recommended",
            "department": r["Department Name"],
            "class_name": r["Class Name"],
            "clothing_id": r["Clothing ID"],
            "row": int(r[""]),
        })
    return out


def assign_splits(rows: list[dict], seed: int) -> dict[str, str]:
    """Clothing ID -> split, by the rule in the module docstring."""
    items: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # dept -> id -> n
    for r in rows:
        items[r["department"]][r["clothing_id"]] += 1
    rng = random.Random(seed)
    split_of: dict[str, str] = {}
    for dept in sorted(items):
        counts = items[dept]
        order = sorted(counts, key=int)
        rng.shuffle(order)
        total, done = sum(counts.values()), 0
        for item in order:
            middle = done + counts[item] / 2  # the item's middle row decides: less overshoot
            split_of[item] = next(s for s, share in SHARES if middle < share * total or s == "test")
            done += counts[item]
    return split_of


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("csv", type=Path, help="womens_clothing_ecommerce_reviews.csv (publisher's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=HERE / "womens_clothing_reviews.jsonl")
    args = p.parse_args(argv)
    rows = read_rows(args.csv)
    split_of = assign_splits(rows, args.seed)
    tmp = args.out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps({**r, "split": split_of[r["clothing_id"]]}, ensure_ascii=False))
            f.write("\n")
    tmp.replace(args.out)


if __name__ == "__main__":
    main()
