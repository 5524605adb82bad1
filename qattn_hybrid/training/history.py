"""A run's per-epoch record: ``metrics.csv`` / ``metrics.json`` in its folder, and the one log
line per epoch (scores as percentages).

A record (one per epoch, as :class:`~qattn_hybrid.training.trainer.Trainer` appends them)::

    {"epoch": 3, "train_loss": {task: loss}, "validation": {task: {metric: value}},
     "score": s, "seconds": ..., "train_seconds": ..., "validation_seconds": ..., "lr": lr}

``lr`` is the model's learning rate at the epoch's last step (every parameter group follows the
same schedule); records of older runs may lack it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from qattn_hybrid.utils.files import atomic_write_text

__all__ = ["epoch_line", "format_score", "write_metrics"]


def write_metrics(output_dir: Path, history: list[dict]) -> None:
    """``metrics.csv`` (epoch, split, task, metric, value rows) and ``metrics.json`` (the
    records), each written atomically."""
    rows = []
    for rec in history:
        for task, loss in rec["train_loss"].items():
            rows.append((rec["epoch"], "train", task, "loss", loss))
        for task, scores in rec["validation"].items():
            rows.extend((rec["epoch"], "validation", task, k, v) for k, v in scores.items())
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["epoch", "split", "task", "metric", "value"])
    writer.writerows(rows)
    atomic_write_text(Path(output_dir) / "metrics.csv", buf.getvalue())
    atomic_write_text(Path(output_dir) / "metrics.json",
                      json.dumps(history, indent=2, allow_nan=True) + "\n")


def format_score(metric: str, value: float) -> str:
    """Scores in [0, 1] as percentages with a % sign; errors (mse, mae) and losses as is."""
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if metric in ("mse", "mae", "loss"):
        return f"{value:.4f}"
    return f"{100 * value:.1f}%"


def epoch_line(record: dict, improved: bool) -> str:
    """``epoch 3 (4.1 s: train 3.0 s, validation 1.1 s) score 0.6667 (best) | intent: ...``"""
    parts = []
    for task, scores in record["validation"].items():
        main = {k: v for k, v in scores.items() if k != "loss"}
        parts.append(f"{task}: " + ", ".join(f"{k} {format_score(k, v)}"
                                             for k, v in main.items()))
    return (f"epoch {record['epoch']} ({record['seconds']:.1f} s: train "
            f"{record['train_seconds']:.1f} s, validation {record['validation_seconds']:.1f} s) "
            f"score {record['score']:.4f}{' (best)' if improved else ''} | " + " | ".join(parts))
