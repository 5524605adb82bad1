"""``max_examples``: a seeded subset of a task's rows, stratified for classes.

Rows are ``(text, label, stratum)`` tuples (:mod:`qattn_hybrid.rows`); the stratum is the label
unless the spec's ``stratify_field`` names another field. A categorical task keeps one row of
every stratum while it fits and the rest proportional; other tasks get a plain seeded subset.
Rows keep their file order.
"""

from __future__ import annotations

import torch

__all__ = ["limit"]


def limit(spec, out: dict[str, list], categorical: bool) -> dict[str, list]:
    """Every split cut to ``spec.max_examples`` rows; other splits lose the labels train's
    subset lost. ``categorical``: the task's labels are classes (stratify by them)."""
    n, seed = spec.max_examples, spec.seed
    if not categorical:
        return {s: _subset(r, n, seed) for s, r in out.items()}
    if len({r[2] for r in out["train"]}) > n:  # too few rows for one per stratum: by label,
        out = {s: [(t, lab, lab) for t, lab, _ in r] for s, r in out.items()}  # keeps labels
    train = _stratified_subset(out["train"], n, seed)
    lost = {r[1] for r in out["train"]} - {r[1] for r in train}  # only when n < labels
    cut = {s: _stratified_subset([r for r in rows if r[1] not in lost], n, seed)
           for s, rows in out.items() if s != "train"}
    return {s: train if s == "train" else cut[s] for s in out if s == "train" or cut[s]}


def _subset(rows: list, n: int, seed: int) -> list:
    if len(rows) <= n:
        return rows
    g = torch.Generator().manual_seed(seed)
    keep = torch.randperm(len(rows), generator=g)[:n].sort().values.tolist()
    return [rows[i] for i in keep]  # file order kept


def _stratified_subset(rows: list, n: int, seed: int) -> list:
    """At most n (text, label, stratum) rows, a seeded random choice within each stratum (the
    label unless stratify_field says otherwise), in file order."""
    if len(rows) <= n:
        return rows
    by_label: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_label.setdefault(row[2], []).append(i)
    g = torch.Generator().manual_seed(seed)
    take = _allocate({lab: len(idx) for lab, idx in sorted(by_label.items())}, n, g)
    keep = []
    for label, k in take.items():
        idx = by_label[label]
        keep += [idx[j] for j in torch.randperm(len(idx), generator=g)[:k].tolist()]
    return [rows[i] for i in sorted(keep)]


def _allocate(counts: dict[str, int], n: int, g: torch.Generator) -> dict[str, int]:
    """Rows per label, summing to n < sum(counts): one each, the rest by largest remainder.

    With n < len(counts) only the n most frequent labels get their one row. Ties (equal counts,
    equal remainders) are broken by the generator, so the seed decides them.
    """
    labels = list(counts)
    tie = dict(zip(labels, torch.randperm(len(labels), generator=g).tolist()))
    if n < len(labels):
        return {lab: 1 for lab in sorted(labels, key=lambda lab: (-counts[lab], tie[lab]))[:n]}
    spare, total = n - len(labels), sum(counts.values()) - len(labels)  # spare < total
    share = {lab: divmod(spare * (counts[lab] - 1), total) for lab in labels}  # exact
    take = {lab: 1 + q for lab, (q, _) in share.items()}
    left = n - sum(take.values())  # < len(labels); goes to the largest remainders (all > 0)
    for lab in sorted(labels, key=lambda lab: (-share[lab][1], tie[lab]))[:left]:
        take[lab] += 1
    return take
