"""The trend plot: which topics get a panel, what each panel draws (read back from the
figure), the PNG file, and the errors."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from qattn_hybrid.serving.monitor import MonitorConfig, SurgeDetector  # noqa: E402
from qattn_hybrid.serving.monitor_plot import plot_trend, trend_figure, trend_topics  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
CONFIG = MonitorConfig(window=4, baseline_alpha=0.01, margin=0.25, min_share=0.5, min_count=4,
                       cooldown=0)


def stream() -> SurgeDetector:
    """$A: 4 calm then 2 negative (one alert at text 5, as in test_monitor's hand-worked
    case, for $A and for "all"); $B: 3 calm texts; $C: 1 text."""
    d = SurgeDetector(CONFIG, record=True)
    for x in [0, 0, 0, 0, 1, 1]:
        d.observe(x, ["$A"])
    for _ in range(3):
        d.observe(0, ["$B"])
    d.observe(0, ["$C"])
    return d


class TestFigure:
    def test_panels_follow_the_topics(self):
        d = stream()
        assert [a.topic for a in d.alerts] == ["all", "$A"]  # "all" is $A up to text 5
        assert trend_topics(d) == ["all", "$A", "$B", "$C"]
        assert trend_topics(d, max_topics=2) == ["all", "$A"]
        fig = trend_figure(d, max_topics=3)
        assert [ax.get_title() for ax in fig.axes] == ["all", "$A", "$B"]

    def test_each_panel_draws_share_and_baseline_and_its_alerts(self):
        d = stream()
        fig = trend_figure(d)
        for ax, topic in zip(fig.axes, ["all", "$A", "$B", "$C"]):
            lines = ax.get_lines()
            n_alerts = sum(a.topic == topic for a in d.alerts)
            # share, baseline, then per alert a vertical line and a marker
            assert len(lines) == 2 + 2 * n_alerts, topic
            share, baseline = lines[0], lines[1]
            history = d.topics[topic].history
            assert list(share.get_xdata()) == [h[0] for h in history]
            assert list(share.get_ydata()) == pytest.approx([h[1] for h in history])
            assert list(baseline.get_ydata()) == pytest.approx([h[2] for h in history])
        a = fig.axes[1]
        # $A's window shares by hand: 0, 0, 0, 0, 1/4, 2/4; the alert at text 5 (share 0.5)
        assert list(a.get_lines()[0].get_ydata()) == pytest.approx([0, 0, 0, 0, 0.25, 0.5])
        marker = a.get_lines()[3]
        assert list(marker.get_xdata()) == [5] and list(marker.get_ydata()) == [0.5]


class TestFile:
    def test_png(self, tmp_path):
        path = plot_trend(stream(), tmp_path / "trend.png", max_topics=2)
        data = path.read_bytes()
        assert data[:8] == PNG and len(data) > 1000
        assert int.from_bytes(data[16:20], "big") == 800  # 8 inches at 100 dpi
        assert int.from_bytes(data[20:24], "big") == 440  # 2 panels of 2.2 inches
        assert [p.name for p in tmp_path.iterdir()] == ["trend.png"]  # no temporary left

    def test_needs_recorded_history(self, tmp_path):
        with pytest.raises(ValueError, match="detector.record must be True for a trend plot; "
                                             "got False"):
            plot_trend(SurgeDetector(), tmp_path / "x.png")
        with pytest.raises(ValueError, match="must have seen at least one text"):
            trend_figure(SurgeDetector(record=True))
