"""Rolling per-topic sentiment and negative-share surge alerts (pure logic, no I/O).

Each scored text counts for its topics (``topics_of``: the ``topic`` field, else its cashtags
such as ``$TSLA``) and for ``"all"``. Per topic a :class:`TopicStats` keeps

* a *window*: the last ``window`` texts, whose negative share is the current level, and
* a *baseline*: an exponential moving average of "is negative" with weight ``baseline_alpha``
  (a plain running mean until ``1 / baseline_alpha`` texts are seen), frozen while a surge
  alert is active so that the surge does not become the new normal.

A surge alert fires when, after a text is added, the window holds >= ``min_count`` texts, its
negative share is >= ``min_share`` and >= baseline + ``margin`` (the baseline *before* this
text). It stays active (one surge, one alert) until the share drops below
baseline + ``margin / 2`` (hysteresis); then the topic may not alert again for ``cooldown``
texts.

``qattn monitor`` (``qattn_hybrid.cli.monitor``) feeds it; ``render_metrics`` gives the
Prometheus page.
"""

from __future__ import annotations

import re
import tomllib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

__all__ = ["ALL", "Alert", "MonitorConfig", "SurgeDetector", "TopicStats", "load_monitor_config",
           "render_metrics", "topics_of"]

ALL = "all"  # the topic every text counts for
CASHTAG = re.compile(r"\$[A-Za-z][A-Za-z.]{0,9}")


@dataclass(frozen=True)
class MonitorConfig:
    """Surge thresholds (the ``[monitor]`` section of a TOML file, or ``qattn monitor`` flags)."""

    window: int = 50  # texts per topic in the rolling window
    baseline_alpha: float = 0.01  # EMA weight of each new text in the baseline
    margin: float = 0.25  # window share must exceed the baseline by this much
    min_share: float = 0.4  # ... and be at least this
    min_count: int = 20  # ... with at least this many texts in the window
    cooldown: int = 50  # texts of a topic after a surge ends before it may alert again

    def __post_init__(self):
        for name in ("window", "min_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"monitor.{name} must be a positive int; got {value!r}")
        if isinstance(self.cooldown, bool) or not isinstance(self.cooldown, int) \
                or self.cooldown < 0:
            raise ValueError(f"monitor.cooldown must be an int >= 0; got {self.cooldown!r}")
        if not _number(self.baseline_alpha) or not 0 < self.baseline_alpha <= 1:
            raise ValueError(f"monitor.baseline_alpha must be in (0, 1]; "
                             f"got {self.baseline_alpha!r}")
        for name in ("margin", "min_share"):
            value = getattr(self, name)
            if not _number(value) or not 0 <= value <= 1:
                raise ValueError(f"monitor.{name} must be in [0, 1]; got {value!r}")
        if self.min_count > self.window:
            raise ValueError(f"monitor.min_count must be <= monitor.window ({self.window}); "
                             f"got {self.min_count}")

    @classmethod
    def from_mapping(cls, values: Mapping) -> MonitorConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"monitor keys must be among {sorted(known)}; got {unknown}")
        return cls(**values)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_monitor_config(path: str | Path | None, overrides: Mapping | None = None
                        ) -> MonitorConfig:
    """The ``[monitor]`` section of a TOML file (if given), then non-None ``overrides``."""
    values = {}
    if path is not None:
        with open(path, "rb") as f:
            try:
                document = tomllib.load(f)
            except tomllib.TOMLDecodeError as err:
                raise ValueError(f"{path} must be valid TOML; got {err}") from None
        section = document.get("monitor", {})
        if not isinstance(section, dict):
            raise ValueError(f"[monitor] in {path} must be a table; got {section!r}")
        values.update(section)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return MonitorConfig.from_mapping(values)


def topics_of(text: str, topic: str | None = None) -> list[str]:
    """``[topic]`` if given, else the distinct cashtags in order (``$tsla`` -> ``$TSLA``)."""
    if topic is not None:
        return [topic]
    seen = dict.fromkeys(tag.upper().rstrip(".") for tag in CASHTAG.findall(text))
    return list(seen)


@dataclass(frozen=True)
class Alert:
    topic: str
    index: int  # the text (0-based, over the whole stream) that set it off
    share: float  # window negative share
    baseline: float
    count: int  # texts in the window
    time: object = None  # the text's "time" field, if any


@dataclass
class TopicStats:
    """One topic's window, baseline and alert state."""

    config: MonitorConfig
    topic_name: str = ALL
    recent: deque = field(default_factory=deque)  # 1 = negative, newest last
    n_texts: int = 0  # every text of the topic
    n_seen: int = 0  # texts in the baseline (not those of an active surge)
    baseline: float = 0.0
    active: bool = False
    quiet_for: int = 0  # texts left in the cool-down
    n_alerts: int = 0
    history: list = field(default_factory=list)  # (index, share, baseline), if recorded

    @property
    def share(self) -> float:
        return sum(self.recent) / len(self.recent) if self.recent else 0.0

    def add(self, negative: bool, index: int, time=None, record: bool = False) -> Alert | None:
        cfg, before = self.config, self.baseline
        self.n_texts += 1
        self.recent.append(1 if negative else 0)
        if len(self.recent) > cfg.window:
            self.recent.popleft()
        share, alert = self.share, None
        if self.active:
            if share < before + cfg.margin / 2:
                self.active, self.quiet_for = False, cfg.cooldown
        elif self.quiet_for > 0:
            self.quiet_for -= 1
        elif (self.n_seen > 0 and len(self.recent) >= cfg.min_count
              and share >= cfg.min_share and share >= before + cfg.margin - 1e-12):
            self.active, self.n_alerts = True, self.n_alerts + 1
            alert = Alert(self.topic_name, index, share, before, len(self.recent), time)
        if not self.active:
            self.n_seen += 1
            weight = max(cfg.baseline_alpha, 1.0 / self.n_seen)
            self.baseline += weight * ((1.0 if negative else 0.0) - self.baseline)
        if record:
            self.history.append((index, share, self.baseline))
        return alert


class SurgeDetector:
    """Per-topic :class:`TopicStats`; ``observe`` one scored text, get the alerts it raised."""

    def __init__(self, config: MonitorConfig | None = None, *, record: bool = False):
        self.config = config or MonitorConfig()
        self.record = record  # keep each topic's (index, share, baseline) for a plot
        self.topics: dict[str, TopicStats] = {}
        self.alerts: list[Alert] = []
        self.n_texts = 0

    def stats(self, topic: str) -> TopicStats:
        if topic not in self.topics:
            self.topics[topic] = TopicStats(self.config, topic_name=topic)
        return self.topics[topic]

    def observe(self, negative: bool, topics: Iterable[str] = (), time=None) -> list[Alert]:
        index, self.n_texts = self.n_texts, self.n_texts + 1
        raised = []
        for topic in dict.fromkeys([ALL, *topics]):
            alert = self.stats(topic).add(bool(negative), index, time, self.record)
            if alert is not None:
                raised.append(alert)
        self.alerts += raised
        return raised


def render_metrics(detector: SurgeDetector) -> str:
    """The Prometheus text exposition of every topic's counters and gauges."""
    registry = CollectorRegistry()
    registry.register(_DetectorCollector(detector))
    return generate_latest(registry).decode("utf-8")


class _DetectorCollector:
    """Reads every topic's statistics at each scrape (prometheus_client's custom collector)."""

    SERIES = (
        ("qattn_monitor_texts", CounterMetricFamily, "texts scored per topic",
         lambda s: s.n_texts),
        ("qattn_monitor_negative_share", GaugeMetricFamily,
         "negative share of the rolling window", lambda s: s.share),
        ("qattn_monitor_baseline_negative_share", GaugeMetricFamily,
         "baseline negative share (EMA)", lambda s: s.baseline),
        ("qattn_monitor_surge", GaugeMetricFamily, "1 while a surge alert is active",
         lambda s: int(s.active)),
        ("qattn_monitor_alerts", CounterMetricFamily, "surge alerts raised",
         lambda s: s.n_alerts),
    )

    def __init__(self, detector: SurgeDetector):
        self.detector = detector

    def collect(self):
        for name, family, text, value in self.SERIES:
            metric = family(name, text, labels=["topic"])
            for topic in sorted(self.detector.topics):
                metric.add_metric([topic], value(self.detector.topics[topic]))
            yield metric
