"""The surge detector: hand-computed sequences, bad thresholds, a replay of the bundled tweets."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from qattn_hybrid.serving.monitor import MonitorConfig, SurgeDetector, render_metrics, topics_of

TWEETS = (Path(__file__).resolve().parents[3] / "qattn_hybrid" / "data" / "datasets"
          / "twitter_financial_news_sentiment" / "twitter_financial_news_sentiment.jsonl")


class TestDetector:
    def test_fires_exactly_when_expected(self):
        # window 4, margin .25, min_share .5, alpha .01 -> baseline = running mean here
        cfg = MonitorConfig(window=4, baseline_alpha=0.01, margin=0.25, min_share=0.5,
                            min_count=4, cooldown=0)
        d = SurgeDetector(cfg)
        # text 4: 1/4 < .5; text 5: 2/4 >= .5 and >= 1/5 + .25 -> alert
        fired = [bool(d.observe(x)) for x in [0, 0, 0, 0, 1, 1]]
        assert fired == [False] * 5 + [True]

    def test_one_alert_per_surge_and_min_count(self):
        cfg = MonitorConfig(window=4, baseline_alpha=0.01, margin=0.25, min_share=0.5,
                            min_count=3, cooldown=2)
        d = SurgeDetector(cfg)
        assert not any(d.observe(1) for _ in range(2))  # < min_count texts
        d = SurgeDetector(cfg)
        for x in [0, 0, 0, 1, 1, 1, 1, 1]:
            d.observe(x)
        assert len(d.alerts) == 1 and d.alerts[0].index == 4  # 2/4 >= 1/4 + .25 at text 4, then active

    def test_bad_config(self):
        with pytest.raises(ValueError, match="window must be a positive int; got 0"):
            MonitorConfig(window=0)
        with pytest.raises(ValueError, match=r"margin must be in \[0, 1\]; got 2"):
            MonitorConfig(margin=2)

    def test_topics_and_metrics(self):
        assert topics_of("$tsla and $AAPL. $TSLA") == ["$TSLA", "$AAPL"]
        assert topics_of("$TSLA up", "autos") == ["autos"]
        d = SurgeDetector()
        d.observe(True, ["$TSLA"])
        page = render_metrics(d)
        assert 'qattn_monitor_texts_total{topic="$TSLA"} 1' in page
        assert 'qattn_monitor_negative_share{topic="all"} 1' in page


def _replay(seed: int = 0):
    rows = [json.loads(line) for line in TWEETS.read_text(encoding="utf-8").split("\n") if line]
    random.Random(seed).shuffle(rows)  # the file is sorted by label
    return rows


class TestReplay:
    def test_no_false_alarm_on_plain_replay(self):
        d, rows = SurgeDetector(), _replay()
        for row in rows[::40]:
            row["topic"] = "$ZZZ"
        for row in rows:
            d.observe(row["label"] == "Bearish", topics_of(row["text"], row.get("topic")))
        assert d.alerts == []

    def test_injected_surge_fires_within_window(self):
        rows, d = _replay(), SurgeDetector()
        bearish = [r for r in rows if r["label"] == "Bearish"][:40]
        start = 5000
        for row in rows[::40]:  # $ZZZ: a normal mix of ~300 tweets, then 40 Bearish in a row
            row["topic"] = "$ZZZ"
        stream = rows[:start] + [{**r, "topic": "$ZZZ"} for r in bearish] + rows[start:]
        for row in stream:
            d.observe(row["label"] == "Bearish", topics_of(row["text"], row.get("topic")))
        assert sorted(a.topic for a in d.alerts) == ["$ZZZ", "all"]  # the burst moves "all" too
        assert all(start <= a.index < start + d.config.window for a in d.alerts)


class TestCommand:
    def test_bad_threshold_is_a_clear_error(self, capsys, tmp_path):
        from qattn_hybrid.cli.parser import main

        assert main(["monitor", str(tmp_path), "--window", "0"]) == 2
        assert "monitor.window must be a positive int; got 0" in capsys.readouterr().err

    def test_bad_lines_are_warnings(self, caplog):
        from qattn_hybrid.cli.monitor import parse_line

        assert parse_line("{not json", 3) is None and "line 3" in caplog.text
        assert parse_line('{"text": ""}', 4) is None and "line 4" in caplog.text
        assert parse_line('{"text": "$TSLA up", "time": 1}', 5)["time"] == 1

    def test_stream_to_webhook_and_plot(self, capsys, tmp_path, monkeypatch):
        """The command with a keyword scorer (no model): stdin -> alert -> webhook POST."""
        import io
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        from qattn_hybrid.cli import monitor as command
        from qattn_hybrid.cli.parser import main

        bodies = []

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = HTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        score = (lambda texts: ["down" in t for t in texts]), "fin", "Bearish"
        monkeypatch.setattr(command, "_scorer", lambda args: score)
        lines = [json.dumps({"text": f"$ABC {'up' if i % 5 else 'down'}"}) for i in range(150)]
        lines += ["oops"] + [json.dumps({"text": "$ABC down"})] * 50
        monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
        argv = ["monitor", "run", "--webhook", f"http://127.0.0.1:{server.server_port}/",
                "--metrics-port", "0", "--batch-size", "4"]
        try:
            assert main(argv) == 0
        finally:
            server.shutdown()
        out = capsys.readouterr().out
        assert "200 texts" in out and "1 bad lines" in out, out
        # baseline 0.2 (1 in 5) then an EMA; the window needs ~30 "down"s to lead it by 0.25
        assert {b["topic"] for b in bodies} == {"$ABC", "all"}, out + capsys.readouterr().err
        assert all(b["event"] == "negative_surge" and 150 <= b["index"] < 200 for b in bodies)
