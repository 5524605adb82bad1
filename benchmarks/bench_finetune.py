"""Fine-tuning the encoder with the attention and heads (issue #11, item 5): full data, CLINC
intent + financial tweets sentiment, multi-task, LP-FT (heads start as the fitted probes).

    python benchmarks/bench_finetune.py --cache-dir /work/feature_cache --variants quantum \\
        --epochs 2 --run-dir runs/finetune --out benchmarks/finetune_runs.jsonl
    python benchmarks/bench_finetune.py --summarize benchmarks/finetune_runs.jsonl \\
        --probe benchmarks/quality_runs.jsonl

Each variant trains in ``<run-dir>/<variant>-seed<seed>`` with a checkpoint per epoch; run the
same command again after an interruption and it resumes there (``Trainer.fit(resume=True)``).
A finished run appends one JSON line: test metrics per task (accuracy, macro-F1, CLINC in-scope
accuracy and OOS recall), the recipe, per-epoch wall times (train / validation), the machine and
the load average before and after. ``--steps`` caps the optimizer steps per epoch (a timing
probe: ``--steps 100 --epochs 1`` estimates the seconds per step before a full run).
The probe for LP-FT is fitted on the shared frozen-feature cache (``--cache-dir``); the
fine-tuned encoder itself never uses a cache: features are recomputed every step.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

TASKS = ["clinc_intent", "fin_sentiment"]
METRICS = ("accuracy", "macro_f1", "in_scope_accuracy", "oos_recall")


def config_for(variant: str, seed: int, args, output_dir: str):
    from qattn_hybrid.config.sections import Config

    model = {"attention": variant, "freeze_encoder": False, "max_length": args.max_length}
    training = {"seed": seed, "output_dir": output_dir, "progress": None,
                "num_threads": args.threads, "keep_checkpoints": 1, "epochs": args.epochs,
                "lr": args.lr, "encoder_lr": args.encoder_lr, "batch_size": args.batch_size,
                "eval_batch_size": 128, "warmup": args.warmup, "grad_clip": 1.0,
                "init_heads": "probe", "length_buckets": args.length_buckets,
                "steps_per_epoch": args.steps}
    return Config.from_dict({"model": model,
                             "data": {"tasks": args.tasks, "cache_dir": args.cache_dir},
                             "training": training})


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines()
                    if line.startswith("Model name"))
    except (OSError, StopIteration):
        name = platform.processor() or platform.machine()
    return f"{name}, {os.cpu_count()} cores"


def run_one(variant: str, seed: int, args) -> dict:
    from qattn_hybrid.training.factory import build_trainer

    run_dir = Path(args.run_dir) / f"{variant}-seed{seed}"
    config = config_for(variant, seed, args, str(run_dir))
    load_before = os.getloadavg()
    start = time.perf_counter()
    trainer = build_trainer(config)
    n_encoder = sum(p.numel() for p in trainer.model.encoder.parameters() if p.requires_grad)
    result = trainer.fit(resume=True)
    return {"variant": variant, "setting": "multi", "tasks": args.tasks, "seed": seed,
            "finetune": True,
            "test": {t: {k: v for k, v in m.items() if k != "loss"}
                     for t, m in result.test_metrics.items()},
            "best_epoch": result.best_epoch,
            "validation": [{t: round(m.get("accuracy", float("nan")), 4)
                            for t, m in r["validation"].items()} for r in result.history],
            "epoch_seconds": [round(r["seconds"], 1) for r in result.history],
            "train_seconds": [round(r["train_seconds"], 1) for r in result.history],
            "validation_seconds": [round(r["validation_seconds"], 1) for r in result.history],
            "steps_per_epoch": trainer.steps_per_epoch,
            "seconds": round(time.perf_counter() - start, 1),  # this process (resumed: part)
            "trainable_encoder_params": n_encoder,
            "recipe": config.to_dict()["training"] | {"max_length": args.max_length},
            "machine": machine(), "torch": torch.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
            "load_before": [round(x, 1) for x in load_before],
            "load_after": [round(x, 1) for x in os.getloadavg()]}


# --------------------------------------------------------------------------- summary
def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def summarize(path: str, probe_path: str | None) -> str:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    probe = {}
    if probe_path and Path(probe_path).exists():
        for line in Path(probe_path).read_text().splitlines():
            r = json.loads(line)
            if r["variant"] == "probe":
                probe.update(r["test"])
    lines = ["| model | clinc_intent acc / F1 | CLINC in-scope / OOS recall | "
             "fin_sentiment acc / F1 | best epoch | s per epoch (train + validation) |",
             "|---|---|---|---|---|---|"]

    def cells(test: dict) -> list[str]:
        c, s = test.get("clinc_intent", {}), test.get("fin_sentiment", {})
        return [f"{_pct(c.get('accuracy'))} / {_pct(c.get('macro_f1'))}",
                f"{_pct(c.get('in_scope_accuracy'))} / {_pct(c.get('oos_recall'))}",
                f"{_pct(s.get('accuracy'))} / {_pct(s.get('macro_f1'))}"]

    if probe:
        lines.append("| probe (frozen, logistic regression) | " + " | ".join(cells(probe))
                     + " | – | – |")
    for r in rows:
        epochs = ", ".join(f"{t:.0f} + {v:.0f}" for t, v in
                           zip(r["train_seconds"], r["validation_seconds"]))
        n = len(r["epoch_seconds"])
        lines.append(f"| {r['variant']} fine-tuned, encoder_lr {r['recipe']['encoder_lr']:g}, "
                     f"seed {r['seed']}, {n} epoch{'s' if n > 1 else ''} | "
                     + " | ".join(cells(r["test"]))
                     + f" | {r['best_epoch']} | {epochs} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default="quantum", help="attention kinds, comma-separated")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--seeds", default="0")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per epoch (timing)")
    p.add_argument("--lr", type=float, default=2e-3, help="attention and heads")
    p.add_argument("--encoder-lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--warmup", type=float, default=0.06)
    p.add_argument("--length-buckets", type=int, default=50)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache-dir", default=None, help="frozen-feature cache for the LP-FT probe")
    p.add_argument("--run-dir", default="runs/finetune")
    p.add_argument("--out", default="benchmarks/finetune_runs.jsonl")
    p.add_argument("--summarize", default=None, help="print the table of a JSONL file")
    p.add_argument("--probe", default="benchmarks/quality_runs.jsonl",
                   help="bench_quality JSONL whose probe rows go beside (with --summarize)")
    args = p.parse_args(argv)
    if args.summarize:
        print(summarize(args.summarize, args.probe))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        stream=sys.stdout)
    args.tasks = args.tasks.split(",")
    torch.set_num_threads(args.threads)
    for variant in args.variants.split(","):
        for seed in map(int, args.seeds.split(",")):
            record = run_one(variant, seed, args)
            with Path(args.out).open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(json.dumps({k: record[k] for k in ("variant", "seed", "test",
                                                     "epoch_seconds")}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
