"""How sharp and how task-specific a trained model's attention is, on the MAMS test sentences.

    python benchmarks/aspects_attention_stats.py runs/aspects runs/aspects_classical

For each saved run (its ``best`` model) and every test sentence once, each task's attention
(head mean over the real tokens) is measured two ways:
  sharpness     1 - H(w) / log T: 0 for uniform weights (mean pooling), 1 for one token
  distinctness  the mean total-variation distance between two tasks' weights on the same
                sentence: 0 when every task reads the same tokens
Printed as one line per run; ``--out`` appends JSON lines.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

import torch


def stats(run: Path) -> dict:
    from qattn_hybrid.config.sections import load_config
    from qattn_hybrid.data.loading import load_tasks
    from qattn_hybrid.modeling.model import MultiTaskModel

    config = load_config(run / "run_config.json")
    data = load_tasks(config.data.task_specs())
    texts = sorted({t for task in data.values() for t in task.split("test").texts})
    model = MultiTaskModel.from_pretrained(run / "best").eval()
    sharp, distinct = [], []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            batch = texts[start:start + 64]
            encoded = model.encode(batch)
            weights = [model(encoded, task).weights.mean(1) for task in model.tasks]  # (B, T)
            lengths = encoded.mask.sum(1)
            for w in weights:
                entropy = -(w * w.clamp_min(1e-12).log()).sum(-1)
                sharp += (1 - entropy / lengths.clamp_min(2).log()).tolist()
            for a, b in itertools.combinations(weights, 2):
                distinct += (0.5 * (a - b).abs().sum(-1)).tolist()
    return {"run": str(run), "attention": config.model.attention, "mixer": config.model.mixer,
            "sentences": len(texts), "sharpness": statistics.mean(sharp),
            "distinctness": statistics.mean(distinct)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", help="append one JSON line per run here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for run in args.runs:
        row = stats(run)
        if args.out:
            with Path(args.out).open("a") as f:
                f.write(json.dumps(row) + "\n")
        print(f"{run}: {row['attention']} (mixer {row['mixer']}), {row['sentences']} sentences: "
              f"sharpness {row['sharpness']:.3f}, distinctness {row['distinctness']:.3f}")


if __name__ == "__main__":
    main()
