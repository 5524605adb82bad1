"""PNG plots: training curves per task, and which tokens each task attends to.

    plot_training_curves("runs/demo/metrics.csv", "runs/demo/curves.png")
    plot_attention(model, "what is my card balance", "attention.png")

Drawn with matplotlib's object API on an Agg canvas: no pyplot state, no display needed, and
the caller's matplotlib backend is left alone. Files are written atomically.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch

from qattn_hybrid.files import atomic_file

__all__ = ["attention_map", "plot_attention", "plot_training_curves", "read_metrics"]


def _figure(width: float, height: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("Plots need matplotlib; install it with: pip install "
                          "'qattn-hybrid[plots]'") from None
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> Path:
    with atomic_file(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def read_metrics(path: str | os.PathLike) -> dict:
    """metrics.csv -> {task: {(split, metric): ([epochs], [values])}}."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"metrics file {path} does not exist")
    series: dict = defaultdict(lambda: defaultdict(lambda: ([], [])))
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        expected = {"epoch", "split", "task", "metric", "value"}
        if not expected <= set(reader.fieldnames or ()):
            raise ValueError(f"{path} must have the columns {sorted(expected)}; got "
                             f"{reader.fieldnames}")
        for row in reader:
            epochs, values = series[row["task"]][(row["split"], row["metric"])]
            epochs.append(int(row["epoch"]))
            values.append(float(row["value"]))
    if not series:
        raise ValueError(f"{path} holds no metrics yet")
    return series


def plot_training_curves(metrics: str | os.PathLike, path: str | os.PathLike) -> Path:
    """One column per task: losses (train, validation) on top, validation metrics below."""
    from matplotlib.ticker import MaxNLocator

    series = read_metrics(metrics)
    tasks = list(series)
    fig = _figure(4.8 * len(tasks), 5.6)
    axes = fig.subplots(2, len(tasks), squeeze=False, sharex="col")
    for col, task in enumerate(tasks):
        loss_ax, metric_ax = axes[0][col], axes[1][col]
        for (split, metric), (epochs, values) in sorted(series[task].items()):
            if metric == "loss":
                loss_ax.plot(epochs, values, marker="o", ms=3, label=split,
                             linestyle="-" if split == "train" else "--")
            elif split == "validation":
                metric_ax.plot(epochs, values, marker="o", ms=3, label=metric)
        loss_ax.set_title(task)
        loss_ax.set_ylabel("loss")
        metric_ax.set_ylabel("validation")
        metric_ax.set_xlabel("epoch")
        for ax in (loss_ax, metric_ax):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            if ax.lines:  # beside the axes, never over a curve (OOS panels have four)
                ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                          borderaxespad=0.0, frameon=False)
    return _save(fig, path)


@torch.no_grad()
def attention_map(model, text: str, tasks: Sequence[str] | None = None):
    """(tokens, rows, weights (R, T)): the attention of each task (and head) over ``text``."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty str; got {text!r}")
    tasks = list(model.tasks) if tasks is None else list(tasks)
    was_training = model.training
    model.eval()
    try:
        encoded = model.encode([text])
        rows, weights = [], []
        for task in tasks:
            w = model(encoded, task).weights[0]  # (H, T)
            for h in range(w.shape[0]):
                rows.append(task if w.shape[0] == 1 else f"{task} [head {h}]")
                weights.append(w[h].float().cpu())
    finally:
        model.train(was_training)
    tokenizer = model.encoder.tokenizer
    ids = tokenizer(text, truncation=True, max_length=model.encoder.max_length)["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    T = int(encoded.mask[0].sum())
    if len(tokens) != T:  # should not happen; fall back to positions rather than mislabel
        tokens = [str(i) for i in range(T)]
    return tokens, rows, torch.stack(weights)[:, :T]


def plot_attention(model, text: str, path: str | os.PathLike,
                   tasks: Sequence[str] | None = None) -> Path:
    """Heatmap for one sentence: rows = tasks (x heads), columns = tokens, colour = weight."""
    tokens, rows, weights = attention_map(model, text, tasks)
    fig = _figure(max(4.0, 0.55 * len(tokens) + 2.5), 0.5 * len(rows) + 1.6)
    ax = fig.subplots()
    image = ax.imshow(weights.numpy(), aspect="auto", cmap="viridis", vmin=0.0)
    ax.set_xticks(range(len(tokens)), tokens, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    for r in range(weights.shape[0]):
        for c in range(weights.shape[1]):
            value = float(weights[r, c])
            ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=6,
                    color="black" if value > 0.6 * float(weights.max()) else "white")
    ax.set_title("attention per task", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04)
    return _save(fig, path)
