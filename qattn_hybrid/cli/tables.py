"""The results table the commands print: one row per task, one column per metric."""

from __future__ import annotations

import math

__all__ = ["table"]


def table(results: dict) -> str:
    """task | metric columns; the header gives the unit: (%) for scores in [0, 1]."""
    metrics = []
    for scores in results.values():
        metrics += [m for m in scores if m not in metrics and m != "loss"]
    header = ["task"] + [m if m in ("mse", "mae") else f"{m}(%)" for m in metrics]
    rows = [[task] + [_fmt(m, scores.get(m)) for m in metrics] for task, scores in results.items()]
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
             for r in [header] + rows]
    return "\n".join(lines)


def _fmt(metric: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if metric in ("mse", "mae", "rmse"):  # in the targets' own units
        return f"{value:.4f}"
    if metric in ("r2", "spearman"):  # can be negative: not a percentage
        return f"{value:.3f}"
    return f"{100 * value:.1f}"
