"""The README's monitor trend plot: a replay of the bundled financial tweets with a surge.

    python benchmarks/monitor_replay.py [--out benchmarks/monitor_trend.png] [--seed 0]

The tweets (qattn_hybrid/data/datasets/twitter_financial_news_sentiment, every split) are shuffled
(the file is sorted by label); every 40th becomes topic ``$ZZZ`` (a normal mix, ~300 tweets),
and 40 Bearish tweets of ``$ZZZ`` in a row are injected at position 5,000, as in
tests/qattn_hybrid/serving/test_monitor.py. The scores are the true labels (Bearish = negative): the
plot shows the detector, not a model's errors. Default thresholds. Prints the alerts as JSON
lines and writes the trend PNG (qattn_hybrid.serving.monitor_plot).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TWEETS = (ROOT / "qattn_hybrid" / "datasets" / "twitter_financial_news_sentiment"
          / "twitter_financial_news_sentiment.jsonl")


def surge_stream(seed: int, start: int = 5000, n_surge: int = 40) -> list[dict]:
    text = TWEETS.read_text(encoding="utf-8")  # split on "\n" only: texts hold U+2028
    rows = [json.loads(line) for line in text.split("\n") if line]
    random.Random(seed).shuffle(rows)
    for row in rows[::40]:
        row["topic"] = "$ZZZ"
    bearish = [r for r in rows if r["label"] == "Bearish"][:n_surge]
    return rows[:start] + [{**r, "topic": "$ZZZ"} for r in bearish] + rows[start:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "monitor_trend.png"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-topics", type=int, default=3)
    args = parser.parse_args()

    from qattn_hybrid.serving.monitor import SurgeDetector, topics_of
    from qattn_hybrid.serving.monitor_plot import plot_trend

    detector = SurgeDetector(record=True)
    for row in surge_stream(args.seed):
        detector.observe(row["label"] == "Bearish", topics_of(row["text"], row.get("topic")))
    for alert in detector.alerts:
        print(json.dumps(asdict(alert)))
    print(f"{detector.n_texts} texts, {len(detector.alerts)} alerts; "
          f"trend plot {plot_trend(detector, args.out, args.max_topics)}")


if __name__ == "__main__":
    main()
