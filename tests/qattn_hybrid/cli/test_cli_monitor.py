"""`qattn monitor` while it runs: the /metrics page over HTTP after a surge, a followed file
appended to during the run, the --plot PNG, and a run on a tiny model trained by `qattn train`."""

from __future__ import annotations

import csv
import importlib.util
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from qattn_hybrid.cli import monitor as command
from qattn_hybrid.cli.parser import main

PNG = b"\x89PNG\r\n\x1a\n"
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
# every 5th calm text is negative; a surge is a run of negatives
CALM = [json.dumps({"text": f"$ABC {'up' if i % 5 else 'down'}"}) for i in range(150)]
SURGE = [json.dumps({"text": "$ABC down"})] * 50


def keyword_scorer(monkeypatch) -> None:
    """The model replaced by a keyword rule: a text is negative iff it says "down"."""
    score = (lambda texts: ["down" in t for t in texts]), "fin", "Bearish"
    monkeypatch.setattr(command, "_scorer", lambda args: score)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics(port: int) -> dict[str, float] | None:
    """The /metrics page as {'name{topic="t"}': value}; None while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
            page = r.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None
    return {key: float(value) for key, value in
            (line.rsplit(" ", 1) for line in page.splitlines() if line and line[0] != "#")}


def wait_for(condition, timeout: float = 60.0):
    """Poll until condition() is truthy; its last value."""
    deadline = time.monotonic() + timeout
    value = condition()
    while not value and time.monotonic() < deadline:
        time.sleep(0.1)
        value = condition()
    return value


class Running:
    """`qattn monitor ARGV` in a thread (main's exit code in .code)."""

    def __init__(self, argv: list[str]):
        self.code = None
        self.thread = threading.Thread(target=self._run, args=(argv,), daemon=True)
        self.thread.start()

    def _run(self, argv):
        self.code = main(argv)

    def join(self, timeout: float = 60.0) -> int | None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "qattn monitor did not stop (--idle-exit)"
        return self.code


def append(path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
        f.flush()


def baseline_after(flags: list[int], alpha: float = 0.01) -> float:
    """The baseline by its definition: a running mean for the first 1/alpha texts, then an
    EMA with weight alpha (independent of the detector's code)."""
    b = 0.0
    for n, x in enumerate(flags, 1):
        w = max(alpha, 1 / n)
        b = (1 - w) * b + w * x
    return b


class TestMetricsEndpoint:
    def test_gauge_and_counter_after_a_surge(self, tmp_path, monkeypatch, capsys):
        keyword_scorer(monkeypatch)
        stream, port = tmp_path / "stream.jsonl", free_port()
        append(stream, CALM)
        run = Running(["monitor", "run", "--follow", str(stream), "--from-start",
                       "--idle-exit", "3", "--metrics-port", str(port), "--batch-size", "4"])
        calm = wait_for(lambda: (m := metrics(port)) and m.get('qattn_monitor_texts_total'
                                                            '{topic="all"}') == 150 and m)
        assert calm, "the 150 calm lines were not all scored"
        flags = [0 if i % 5 else 1 for i in range(150)]
        assert calm['qattn_monitor_surge{topic="$ABC"}'] == 0
        assert calm['qattn_monitor_alerts_total{topic="$ABC"}'] == 0
        assert calm['qattn_monitor_negative_share{topic="$ABC"}'] == pytest.approx(10 / 50)
        assert calm['qattn_monitor_baseline_negative_share{topic="$ABC"}'] == pytest.approx(
            baseline_after(flags), abs=1e-6)

        append(stream, SURGE)
        after = wait_for(lambda: (m := metrics(port)) and m.get('qattn_monitor_texts_total'
                                                             '{topic="all"}') == 200 and m)
        assert after, "the surge lines were not all scored"
        for topic in ("$ABC", "all"):
            assert after[f'qattn_monitor_surge{{topic="{topic}"}}'] == 1
            assert after[f'qattn_monitor_alerts_total{{topic="{topic}"}}'] == 1
            assert after[f'qattn_monitor_negative_share{{topic="{topic}"}}'] == 1.0
        assert run.join() == 0
        assert "200 texts, 2 alerts, 0 bad lines" in capsys.readouterr().out
        assert metrics(port) is None  # the server stops with the command


class TestFollow:
    def test_lines_appended_while_running(self, tmp_path, monkeypatch, capsys):
        """Without --from-start only new lines count; a part-filled batch (3 of 8) is scored
        while the file is quiet, and a line written in two pieces is read once, whole."""
        keyword_scorer(monkeypatch)
        stream, port = tmp_path / "stream.jsonl", free_port()
        append(stream, [json.dumps({"text": "$OLD down"})] * 5)  # there before: skipped
        run = Running(["monitor", "run", "--follow", str(stream), "--idle-exit", "3",
                       "--metrics-port", str(port)])  # --batch-size 8 (default)

        def marked():  # a marker line until one is seen: the file is open and at its end
            append(stream, [json.dumps({"text": "$MARK up"})])
            return (m := metrics(port)) and m.get('qattn_monitor_texts_total{topic="$MARK"}')

        assert wait_for(marked, 30), "the monitor never read an appended line"
        append(stream, [json.dumps({"text": "$ABC down"}), json.dumps({"text": "$ABC up"})])
        with open(stream, "a", encoding="utf-8") as f:  # the third line in two writes
            f.write('{"text": "$ABC ')
            f.flush()
            time.sleep(0.5)  # more than a poll: the reader sees the half line first
            f.write('down"}\n')
        page = wait_for(lambda: (m := metrics(port)) and m.get(
            'qattn_monitor_texts_total{topic="$ABC"}') == 3 and m, 30)
        assert page, "the 3 new lines were not scored while the command ran"
        assert page['qattn_monitor_negative_share{topic="$ABC"}'] == pytest.approx(2 / 3)
        assert not any("$OLD" in key for key in page)
        assert run.join() == 0
        out = capsys.readouterr().out
        n_marks = int(page['qattn_monitor_texts_total{topic="$MARK"}'])
        assert f"{n_marks + 3} texts, 0 alerts, 0 bad lines" in out


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="needs matplotlib: pip install "
                    "'qattn-hybrid[plots]'")
class TestPlot:
    def test_plot_writes_a_png(self, tmp_path, monkeypatch, capsys):
        import io

        keyword_scorer(monkeypatch)
        lines = CALM + SURGE + [json.dumps({"text": "$XYZ up"})] * 10
        monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
        png = tmp_path / "trend.png"
        assert main(["monitor", "run", "--plot", str(png)]) == 0
        assert f"Trend plot: {png}" in capsys.readouterr().out
        data = png.read_bytes()
        assert data[:8] == PNG and len(data) > 1000
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        # 8 x 2.2 inches per panel at 100 dpi: three panels (all, $ABC, $XYZ)
        assert (width, height) == (800, 660)


class TestTrainedModel:
    def test_end_to_end_on_a_trained_run(self, config_path, tmp_path, capsys):
        """`qattn train` a tiny model, then monitor its sentiment task over a followed file;
        the /metrics values equal those computed here from the saved model's predictions."""
        from qattn_hybrid.modeling.model import MultiTaskModel

        run_dir = tmp_path / "run"
        assert main(["train", str(config_path), "--quiet", "--epochs", "1", "--no-plots",
                     "--no-baselines", "--output-dir", str(run_dir)]) == 0
        with open(config_path.parent / "data" / "sentiment.csv", newline="") as f:
            texts = [r["sentence"] for r in csv.DictReader(f)][:40]
        stream = tmp_path / "stream.jsonl"
        append(stream, [json.dumps({"text": t, "topic": "bank" if i % 2 else "travel"})
                        for i, t in enumerate(texts)])
        port, png = free_port(), tmp_path / "trend.png"
        run = Running(["monitor", str(run_dir), "--follow", str(stream), "--from-start",
                       "--idle-exit", "3", "--task", "sentiment", "--negative-label",
                       "negative", "--window", "10", "--min-count", "5",
                       "--metrics-port", str(port)]
                      + (["--plot", str(png)] if HAS_MATPLOTLIB else []))
        page = wait_for(lambda: (m := metrics(port)) and m.get(
            'qattn_monitor_texts_total{topic="all"}') == len(texts) and m, 120)
        assert page, "the monitor did not score the 40 texts"
        assert run.join(120) == 0

        model = MultiTaskModel.from_pretrained(run_dir / "best")
        model.eval()
        negative = [label == "negative" for label in model.predict(texts, "sentiment")]
        assert page['qattn_monitor_negative_share{topic="all"}'] == pytest.approx(
            sum(negative[-10:]) / 10)
        for topic, parity in (("travel", 0), ("bank", 1)):
            flags = [n for i, n in enumerate(negative) if i % 2 == parity]
            assert page[f'qattn_monitor_texts_total{{topic="{topic}"}}'] == len(flags)
            assert page[f'qattn_monitor_negative_share{{topic="{topic}"}}'] == pytest.approx(
                sum(flags[-10:]) / 10)
        out = capsys.readouterr().out
        assert f"{len(texts)} texts" in out
        if HAS_MATPLOTLIB:
            assert png.read_bytes()[:8] == PNG
