"""Prometheus metrics of the server (``prometheus_client``, one registry per app).

    qattn_requests_total{path, status}        counter
    qattn_request_duration_seconds{path}      histogram (latency)
    qattn_batch_size                          histogram (texts per forward pass)
    qattn_texts_total                         counter (texts predicted)
    qattn_texts_per_second                    gauge (over the last 60 s)
    qattn_errors_total{kind}                  counter (bad_request, unauthorized, internal, ...)
    qattn_model_ready                         gauge (1 once the model is loaded)
    qattn_queue_depth                         gauge (requests waiting for a forward pass)
    qattn_queue_texts                         gauge (texts in those requests)

``serving/alerts.yml`` holds Prometheus alerting rules over these names (a test checks that
every name and label it uses is exported here).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
RATE_WINDOW_S = 60.0


class Metrics:
    """The server's series in a registry of its own (several apps in one process, e.g. tests,
    never share counts); ``render()`` gives the /metrics page. ``ready`` and ``queue`` (() ->
    (requests, texts) waiting; set by the app) are read at each scrape."""

    def __init__(self):
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter("qattn_requests", "HTTP requests by path and status.",
                                 ("path", "status"), registry=registry)
        self._latency = Histogram("qattn_request_duration_seconds", "Request latency.",
                                  ("path",), buckets=LATENCY_BUCKETS, registry=registry)
        self._batch_size = Histogram("qattn_batch_size",
                                     "Texts per forward pass (dynamic batching).",
                                     buckets=BATCH_BUCKETS, registry=registry)
        self._texts = Counter("qattn_texts", "Texts predicted.", registry=registry)
        self._errors = Counter("qattn_errors", "Failed requests by kind.", ("kind",),
                               registry=registry)
        self.ready = False
        self.queue = lambda: (0, 0)
        self._lock = threading.Lock()
        self._recent = deque()  # (time, texts) of recent forward passes
        for name, text, read in (
                ("qattn_texts_per_second", "Texts predicted per second, last 60 s.",
                 self.texts_per_second),
                ("qattn_model_ready", "1 once the model is loaded.", lambda: int(self.ready)),
                ("qattn_queue_depth", "Requests waiting for a forward pass.",
                 lambda: self.queue()[0]),
                ("qattn_queue_texts", "Texts in the requests waiting.", lambda: self.queue()[1])):
            Gauge(name, text, registry=registry).set_function(read)

    def request(self, path: str, status: int, seconds: float) -> None:
        self._requests.labels(path=path, status=str(int(status))).inc()
        self._latency.labels(path=path).observe(seconds)

    def error(self, kind: str) -> None:
        self._errors.labels(kind=kind).inc()

    def batch(self, n_texts: int) -> None:
        now = time.monotonic()
        self._batch_size.observe(n_texts)
        self._texts.inc(n_texts)
        with self._lock:
            self._recent.append((now, n_texts))
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - RATE_WINDOW_S:
            self._recent.popleft()

    def texts_per_second(self) -> float:
        now = time.monotonic()
        with self._lock:
            self._trim(now)
            return sum(n for _, n in self._recent) / RATE_WINDOW_S

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")
