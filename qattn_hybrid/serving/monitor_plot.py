"""The trend plot of ``qattn monitor --plot``: window negative share vs baseline per topic,
with the alerts marked (matplotlib, the ``plots`` extra)."""

from __future__ import annotations

import os
from pathlib import Path

from qattn_hybrid.serving.monitor import ALL, SurgeDetector
from qattn_hybrid.utils.files import atomic_file

__all__ = ["plot_trend", "trend_figure", "trend_topics"]


def plot_trend(detector: SurgeDetector, path: str | os.PathLike, max_topics: int = 4) -> Path:
    """:func:`trend_figure` written to ``path`` as a PNG (atomically)."""
    fig = trend_figure(detector, max_topics)
    with atomic_file(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def trend_topics(detector: SurgeDetector, max_topics: int = 4) -> list[str]:
    """The topics plotted: ``"all"``, the topics that alerted, then the busiest others."""
    alerted = list(dict.fromkeys(a.topic for a in detector.alerts))
    busiest = sorted(detector.topics, key=lambda t: -detector.topics[t].n_texts)
    return [t for t in dict.fromkeys([ALL, *alerted, *busiest]) if t in detector.topics
            ][:max_topics]


def trend_figure(detector: SurgeDetector, max_topics: int = 4):
    """A matplotlib Figure, one panel per topic of :func:`trend_topics`: the window's negative
    share and the baseline over the stream, a red line and marker at each alert."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("Plots need matplotlib; install it with: pip install "
                          "'qattn-hybrid[plots]'") from None
    if not detector.record:
        raise ValueError("detector.record must be True for a trend plot; got False")
    topics = trend_topics(detector, max_topics)
    if not topics:
        raise ValueError("the detector must have seen at least one text for a trend plot; "
                         "got none")
    fig = Figure(figsize=(8, 2.2 * len(topics)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(topics), 1, squeeze=False)[:, 0]
    for ax, topic in zip(axes, topics):
        history = detector.topics[topic].history
        x = [h[0] for h in history]
        ax.plot(x, [h[1] for h in history], label="window negative share", lw=1.2)
        ax.plot(x, [h[2] for h in history], label="baseline", lw=1.2, ls="--")
        for alert in (a for a in detector.alerts if a.topic == topic):
            ax.axvline(alert.index, color="red", lw=1, alpha=0.7)
            ax.plot([alert.index], [alert.share], "rv", label="alert")
        ax.set_title(topic, fontsize=10)
        ax.set_ylim(0, 1)
        ax.set_ylabel("negative share")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        more = ax.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    unique = dict(zip(labels, handles))
    axes[0].legend(unique.values(), unique.keys(), fontsize=8, loc="upper left")
    axes[-1].set_xlabel("text (stream order)")
    return fig
