"""PNG plots: training curves per task, and which tokens each task attends to.

    plot_training_curves("runs/demo/metrics.csv", "runs/demo/curves.png")
    plot_attention(model, "what is my card balance", "attention.png")
    plot_word_attention(word_attention(model, "what is my card balance"), "words.png")

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

from qattn_hybrid.evaluation.attend import WordAttention, task_weights
from qattn_hybrid.utils.files import atomic_file

__all__ = ["attention_map", "plot_attention", "plot_training_curves", "plot_word_attention",
           "read_metrics", "save_figure"]


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


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` to ``path`` as a PNG, atomically (every plot here saves through this)."""
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
    return save_figure(fig, path)


def attention_map(model, text: str, tasks: Sequence[str] | None = None):
    """(tokens, rows, weights (R, T)): the attention of each task (and head) over ``text``."""
    runs = task_weights(model, text, tasks)
    rows, weights = [], []
    for run in runs:
        n_heads = run.weights.shape[0]
        for h in range(n_heads):
            rows.append(run.task if n_heads == 1 else f"{run.task} [head {h}]")
            weights.append(run.weights[h])
    tokenizer = model.encoder.tokenizer
    ids = tokenizer(text, truncation=True, max_length=model.encoder.max_length)["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    T = runs[0].weights.shape[1]
    if len(tokens) != T:  # should not happen; fall back to positions rather than mislabel
        tokens = [str(i) for i in range(T)]
    return tokens, rows, torch.stack(weights)


def _heatmap(values: torch.Tensor, columns: Sequence[str], rows: Sequence[str], title: str):
    """A figure of ``values`` (R, C) with labelled rows and columns, each cell annotated with
    its value while the cells are wide enough to read; returns (figure, axes)."""
    fig = _figure(max(4.0, 0.55 * len(columns) + 0.07 * max(map(len, rows)) + 2.0),
                  0.5 * len(rows) + 1.8)
    ax = fig.subplots()
    image = ax.imshow(values.numpy(), aspect="auto", cmap="viridis", vmin=0.0)
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    if len(columns) <= 40:
        top = float(values.max())
        for r in range(values.shape[0]):
            for c in range(values.shape[1]):
                value = float(values[r, c])
                ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if value > 0.6 * top else "white")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04)
    return fig, ax


def plot_attention(model, text: str, path: str | os.PathLike,
                   tasks: Sequence[str] | None = None) -> Path:
    """Heatmap for one sentence: rows = tasks (x heads), columns = tokens, colour = weight."""
    tokens, rows, weights = attention_map(model, text, tasks)
    fig, _ = _heatmap(weights, tokens, rows, "attention per task")
    return save_figure(fig, path)


def plot_word_attention(amap: WordAttention, path: str | os.PathLike) -> Path:
    """Heatmap of a :class:`~qattn_hybrid.evaluation.attend.WordAttention`: rows = tasks with their
    prediction, columns = words, colour = the task's attention share (mean over heads)."""
    rows = [f"{task}: {amap.prediction(k)}" for k, task in enumerate(amap.tasks)]
    fig, ax = _heatmap(amap.weights, amap.words, rows, "attention per task over the words")
    ax.set_xlabel(_word_caption(amap), fontsize=7)
    return save_figure(fig, path)


def _word_caption(amap: WordAttention) -> str:
    low, high = (f"{100 * float(v):.0f}" for v in (amap.specials.min(), amap.specials.max()))
    took = f"{low}%" if low == high else f"{low}-{high}%"
    caption = (f"sub-word tokens summed per word (mean pooling: 1/{amap.n_tokens} = "
               f"{1 / amap.n_tokens:.2f} per token); the special tokens ([CLS], [SEP], not "
               f"shown) took {took} of each task's attention")
    if amap.n_read < len(amap.words):
        caption += f"; only the first {amap.n_read} of {len(amap.words)} words were read"
    return caption
