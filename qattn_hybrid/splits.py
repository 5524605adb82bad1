"""Validation splits carved from train, and the check that every named split has rows.

Used by :mod:`qattn_hybrid.data` while it splits a task's rows; rows are
``(text, label, stratum)`` tuples there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["carve_validation", "check_split_values"]


def check_split_values(spec, path: Path, rows: list[dict[str, Any]],
                        out: dict[str, list]) -> None:
    """Every split_values entry must match rows: a typo never leaves a split silently empty."""
    if spec.split_field is None or spec.split_values is None:
        return
    for split, value in spec.split_values.items():
        if not out.get(split):
            found = sorted({str(r.get(spec.split_field)) for r in rows})
            raise ValueError(
                f"Task {spec.name!r}: split_values[{split!r}] must match rows of {path}; got "
                f"{value!r}, which matches 0 rows of field {spec.split_field!r} (values found: "
                f"{', '.join(map(repr, found))}). Fix the value or leave the split out of "
                f"split_values (test_from_train / validation_from_train carve one from train)"
            )


def carve_validation(rows: list, fraction: float, seed: int) -> tuple[list, list]:
    """(train, validation): a seeded ``fraction`` of every stratum, file order kept.

    ``rows`` are (text, label, stratum) tuples. Each stratum with n rows gives round(n·fraction)
    of them (at least 1 when n >= 2, and never all), chosen by a generator seeded with ``seed``.
    """
    by_stratum: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_stratum.setdefault(row[2], []).append(i)
    g = torch.Generator().manual_seed(seed)
    held: set[int] = set()
    for stratum in sorted(by_stratum):
        idx = by_stratum[stratum]
        k = min(max(round(len(idx) * fraction), 1 if len(idx) >= 2 else 0), len(idx) - 1)
        held.update(idx[j] for j in torch.randperm(len(idx), generator=g)[:k].tolist())
    train = [r for i, r in enumerate(rows) if i not in held]
    return train, [r for i, r in enumerate(rows) if i in held]
