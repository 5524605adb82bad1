"""``qattn monitor RUN``: score a live stream of texts and alert on negative-sentiment surges.

Input: JSON lines ``{"text": ..., "topic"?: ..., "time"?: ...}`` on stdin, or appended to a
file (``--follow FILE``, like ``tail -f``; ``--from-start`` reads what is already there). A bad
line is a logged warning with its line number, not a crash. Texts are scored in batches of
``--batch-size`` by the trained model (with ``--follow``, a part-filled batch is scored as soon
as the file goes quiet); the surge logic is ``qattn_hybrid.serving.monitor``. An alert
is a WARNING log line, an optional webhook POST (JSON, failures logged) and the
``qattn_monitor_*`` Prometheus metrics on ``--metrics-port``.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import urllib.request
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from qattn_hybrid.serving.monitor import (Alert, SurgeDetector, load_monitor_config,
                                          render_metrics, topics_of)

__all__ = ["monitor", "parse_line", "post_webhook", "read_lines", "serve_metrics"]

log = logging.getLogger(__name__)
POLL_S = 0.2  # how often --follow looks for new lines


def parse_line(line: str, number: int) -> dict | None:
    """``{"text", "topic", "time"}`` of one JSON line, or None (and a warning) when it is bad."""
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        log.warning("line %d: must be a JSON object; got invalid JSON (%s)", number, err.msg)
        return None
    if not isinstance(row, dict):
        log.warning("line %d: must be a JSON object; got %s", number, type(row).__name__)
        return None
    text, topic = row.get("text"), row.get("topic")
    if not isinstance(text, str) or not text.strip():
        log.warning("line %d: \"text\" must be a non-empty str; got %r", number, text)
        return None
    if topic is not None and (not isinstance(topic, str) or not topic.strip()):
        log.warning("line %d: \"topic\" must be a non-empty str; got %r", number, topic)
        return None
    return {"text": text, "topic": topic, "time": row.get("time"), "line": number}


def read_lines(follow: str | None = None, from_start: bool = False,
               idle_exit: float | None = None, idle_ticks: bool = False):
    """Lines of stdin (until EOF), or of a followed file (until ``idle_exit`` seconds idle).

    idle_ticks: with ``follow``, also yield None whenever no new line has come for a poll
    (``POLL_S``), so that the caller can score a part-filled batch instead of holding it."""
    if follow is None:
        yield from sys.stdin
        return
    with open(follow, encoding="utf-8") as f:
        if not from_start:
            f.seek(0, 2)  # the end: only lines written from now on
        idle, partial = 0.0, ""
        while idle_exit is None or idle < idle_exit:
            chunk = f.readline()
            if not chunk:
                if idle_ticks and idle == 0.0:  # once per quiet spell
                    yield None
                time.sleep(POLL_S)
                idle += POLL_S
                continue
            idle, partial = 0.0, partial + chunk
            if partial.endswith("\n"):
                yield partial
                partial = ""
        if partial:
            yield partial


def post_webhook(url: str, alert: Alert, timeout: float = 5.0) -> bool:
    """POST the alert as JSON; a failure is logged (False), never raised."""
    body = json.dumps({"event": "negative_surge", **asdict(alert)}, default=str).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
        return True
    except (OSError, ValueError) as err:
        log.error("webhook %s failed: %s", url, err)
        return False


def serve_metrics(detector: SurgeDetector, lock: threading.Lock, port: int,
                  host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A background /metrics server (stdlib http.server) over the detector's state."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            with lock:
                body = render_metrics(detector).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _scorer(args):
    """(texts -> list[bool] negative), the task and its negative label, from the saved model."""
    from qattn_hybrid.cli.models import load_model

    model = load_model(args.run_dir)
    tasks = list(model.tasks)
    task = args.task or (tasks[0] if len(tasks) == 1 else None)
    if task is None:
        raise ValueError(f"--task must name one of the model's tasks {tasks}; got none")
    model.task_id(task)  # unknown task: error listing the model's tasks
    labels = list(model.tasks[task].labels)
    negative = args.negative_label or ("Bearish" if "Bearish" in labels else None)
    if negative not in labels:
        raise ValueError(f"--negative-label must be one of task {task!r}'s labels {labels}; "
                         f"got {negative!r}")
    return (lambda texts: [label == negative for label in model.predict(texts, task)]), task, \
        negative


def _config(args):
    overrides = {name: getattr(args, name, None) for name in
                 ("window", "baseline_alpha", "margin", "min_share", "min_count", "cooldown")}
    return load_monitor_config(args.config, overrides)


def monitor(args) -> int:
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1; got {args.batch_size}")
    config = _config(args)  # bad thresholds fail before the model loads
    score, task, negative = _scorer(args)
    detector, lock = SurgeDetector(config, record=bool(args.plot)), threading.Lock()
    server = serve_metrics(detector, lock, args.metrics_port) if args.metrics_port is not None \
        else None
    if server is not None:
        log.info("metrics on http://127.0.0.1:%d/metrics", server.server_address[1])
    log.info("monitoring task %r, negative label %r", task, negative)
    batch, n_bad = [], 0
    try:
        number = 0
        for line in read_lines(args.follow, args.from_start, args.idle_exit, idle_ticks=True):
            if line is None:  # the followed file is quiet: score what has come
                _flush(batch, score, detector, lock, args)
                continue
            number += 1
            row = parse_line(line, number)
            n_bad += row is None and bool(line.strip())
            if row is not None:
                batch.append(row)
            if len(batch) >= args.batch_size:
                _flush(batch, score, detector, lock, args)
        _flush(batch, score, detector, lock, args)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    if args.plot:
        from qattn_hybrid.serving.monitor_plot import plot_trend

        print(f"Trend plot: {plot_trend(detector, args.plot)}")
    print(f"{detector.n_texts} texts, {len(detector.alerts)} alerts, {n_bad} bad lines")
    return 0


def _flush(batch: list, score, detector: SurgeDetector, lock: threading.Lock, args) -> None:
    if not batch:
        return
    flags = score([row["text"] for row in batch])
    alerts = []
    with lock:
        for row, negative in zip(batch, flags):
            alerts += detector.observe(negative, topics_of(row["text"], row["topic"]),
                                       row["time"])
    batch.clear()
    for alert in alerts:
        log.warning("ALERT negative surge topic=%s share=%.2f baseline=%.2f window=%d text=%d",
                    alert.topic, alert.share, alert.baseline, alert.count, alert.index)
        if args.webhook:
            post_webhook(args.webhook, alert, args.webhook_timeout)
