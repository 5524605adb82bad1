"""Prometheus metrics of the server, in the text exposition format (no client library needed).

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

import bisect
import threading
import time
from collections import defaultdict, deque

__all__ = ["Metrics"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
RATE_WINDOW_S = 60.0


class _Histogram:
    def __init__(self, buckets):
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)  # last: +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        out, total = [], 0
        for bound, n in zip(list(self.buckets) + ["+Inf"], self.counts):
            total += n
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {total}')
        wrap = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{wrap} {self.sum:.6f}", f"{name}_count{wrap} {self.count}"]
        return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Thread-safe counters and histograms; `render()` gives the /metrics page."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests = defaultdict(int)  # (path, status) -> count
        self.latency = {}  # path -> _Histogram
        self.batch_size = _Histogram(BATCH_BUCKETS)
        self.texts = 0
        self.errors = defaultdict(int)  # kind -> count
        self.ready = False
        self._recent = deque()  # (time, texts) of recent forward passes
        self.queue = lambda: (0, 0)  # () -> (requests, texts) waiting; set by the app

    def request(self, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(path, int(status))] += 1
            self.latency.setdefault(path, _Histogram(LATENCY_BUCKETS)).observe(seconds)

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] += 1

    def batch(self, n_texts: int) -> None:
        now = time.monotonic()
        with self._lock:
            self.batch_size.observe(n_texts)
            self.texts += n_texts
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
        rate = self.texts_per_second()
        queued_requests, queued_texts = self.queue()
        with self._lock:
            lines = ["# HELP qattn_requests_total HTTP requests by path and status.",
                     "# TYPE qattn_requests_total counter"]
            lines += [f'qattn_requests_total{{path="{_escape(p)}",status="{s}"}} {n}'
                      for (p, s), n in sorted(self.requests.items())]
            lines += ["# HELP qattn_request_duration_seconds Request latency.",
                      "# TYPE qattn_request_duration_seconds histogram"]
            for path, hist in sorted(self.latency.items()):
                lines += hist.lines("qattn_request_duration_seconds", f'path="{_escape(path)}"')
            lines += ["# HELP qattn_batch_size Texts per forward pass (dynamic batching).",
                      "# TYPE qattn_batch_size histogram"]
            lines += self.batch_size.lines("qattn_batch_size")
            lines += ["# HELP qattn_texts_total Texts predicted.", "# TYPE qattn_texts_total counter",
                      f"qattn_texts_total {self.texts}",
                      "# HELP qattn_texts_per_second Texts predicted per second, last 60 s.",
                      "# TYPE qattn_texts_per_second gauge", f"qattn_texts_per_second {rate:.6f}",
                      "# HELP qattn_errors_total Failed requests by kind.",
                      "# TYPE qattn_errors_total counter"]
            lines += [f'qattn_errors_total{{kind="{_escape(k)}"}} {n}'
                      for k, n in sorted(self.errors.items())]
            lines += ["# HELP qattn_model_ready 1 once the model is loaded.",
                      "# TYPE qattn_model_ready gauge", f"qattn_model_ready {int(self.ready)}",
                      "# HELP qattn_queue_depth Requests waiting for a forward pass.",
                      "# TYPE qattn_queue_depth gauge", f"qattn_queue_depth {queued_requests}",
                      "# HELP qattn_queue_texts Texts in the requests waiting.",
                      "# TYPE qattn_queue_texts gauge", f"qattn_queue_texts {queued_texts}"]
        return "\n".join(lines) + "\n"
