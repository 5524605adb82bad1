"""The README's main job (configs/demo.toml) under recipe variants and seeds, in one process.

    python benchmarks/bench_demo.py --cache-dir runs/feature_cache --seeds 0,1,2 \
        --variant 'heads_fixed|training.head_lr=0' \
        --variant 'mean_lr1e-3|model.attention="mean",training.head_lr=0.001' \
        --out benchmarks/demo_runs.jsonl

A variant is ``TAG|section.key=value,...`` (values as JSON, else strings) applied over
configs/demo.toml. The data, the encoder (and its feature cache) and the probe fits are loaded
once and shared by every run (the probes are the heads' start with init_heads = "probe"), so a
variant x seed costs its training only. One JSON line per run: test accuracy / macro-F1 (%)
per task, the best epoch, wall seconds, and CLINC intent's validation accuracy per epoch; a
first line holds the probe's test scores. torch runs on 1 thread.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time


def parse_variant(text: str) -> tuple[str, dict]:
    tag, _, pairs = text.partition("|")
    sections: dict = {}
    for pair in filter(None, pairs.split(",")):
        key, value = pair.split("=", 1)
        section, field = key.split(".")
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
        sections.setdefault(section, {})[field] = value
    return tag, sections


def scores(metrics: dict) -> dict:
    return {task: [round(100 * m["accuracy"], 1), round(100 * m["macro_f1"], 1)]
            for task, m in metrics.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/demo.toml")
    parser.add_argument("--cache-dir", default="runs/feature_cache")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variant", action="append", default=[], help="TAG|sec.key=value,...")
    parser.add_argument("--run-dir", default="runs/bench_demo")
    parser.add_argument("--out", default="benchmarks/demo_runs.jsonl")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch

    from qattn_hybrid.config.sections import load_config
    from qattn_hybrid.data.loading import load_tasks
    from qattn_hybrid.evaluation.probe import run_probe
    from qattn_hybrid.modeling.model import load_text_encoder
    from qattn_hybrid.training.factory import build_trainer

    torch.set_num_threads(1)
    base = load_config(args.config).replace(data={"cache_dir": args.cache_dir},
                                            training={"progress": False})
    tasks = load_tasks(base.data.task_specs())
    encoder = load_text_encoder(base.model, base.data.cache_dir)
    probes = run_probe(base, tasks, encoder)

    def emit(record: dict) -> None:
        print(json.dumps(record), flush=True)
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    emit({"probe": scores({t: r.metrics["test"] for t, r in probes.items()})})
    for tag, sections in map(parse_variant, args.variant or ["shipped|"]):
        for seed in (int(s) for s in args.seeds.split(",")):
            out_dir = f"{args.run_dir}/{tag}-s{seed}"
            shutil.rmtree(out_dir, ignore_errors=True)
            training = {**sections.get("training", {}), "seed": seed, "output_dir": out_dir}
            config = base.replace(**{**sections, "training": training})
            start = time.perf_counter()
            trainer = build_trainer(config, tasks=tasks, encoder=encoder)
            trainer.probes = probes
            result = trainer.fit()
            emit({"tag": tag, "seed": seed, "variant": sections, "best_epoch": result.best_epoch,
                  "seconds": round(time.perf_counter() - start, 1),
                  "test": scores(result.test_metrics),
                  "val_intent": [round(100 * r["validation"]["clinc_intent"]["accuracy"], 1)
                                 for r in result.history if "clinc_intent" in r["validation"]]})


if __name__ == "__main__":
    main()
