"""Encoder pruning (issue 21): fewer MiniLM layers and heads against speed and probe accuracy.

    python benchmarks/bench_prune.py --layers 6,4,3,2 --heads 0,0.25,0.5 \\
        --out benchmarks/prune_runs.jsonl --machine "2 shared CPU cores"

The bundled all-MiniLM-L6-v2 is cut with :func:`qattn_hybrid.modeling.prune.prune_encoder` into
every (layers kept, head fraction removed) pair of the grid: the first N layers, then in each
the ``floor(fraction * 12)`` heads of lowest importance (their output-projection norm); for the
layer counts in ``--random-at`` also as many heads per layer drawn at random (the control: does
the importance score matter?) and with ``--ablation-texts N`` as chosen by
``head_ablation_importance`` on N train texts. For each variant, in one process:

* speed: ``--texts`` bundled texts (half tweets, half CLINC queries, drawn with a fixed seed from
  the train splits) through the library's encode path (``TokenFeatureCache._compute``: length-
  sorted batches of 64, tokenizer, encoder, padding masked) at ``--max-length``, one torch
  thread; a warm-up round, then ``--repeats`` rounds in which every variant runs once
  (interleaved, so load drifts hit all alike); the median wall time gives sentences/s, the
  median CPU time a second speed-up that other jobs on the machine disturb less.
* accuracy: the library's linear probe (:func:`qattn_hybrid.evaluation.probe.fit_probe`, logistic
  regression, C = 10 fixed, no validation) on the masked-mean, L2-normalised frozen features
  of fin_sentiment and clinc_intent, up to ``--train`` train rows (the presets' stratified
  subset) and ``--test`` test rows (a seeded draw) each.

One JSON line per variant in ``--out``, rewritten atomically after each variant.
``--accuracy-from RUNS.jsonl`` re-measures speed only, taking each variant's accuracy from an
earlier run (the features are deterministic).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

import torch

TASKS = ("fin_sentiment", "clinc_intent")


def load_data(n_train: int, n_test: int, seed: int) -> dict:
    """task -> TaskData with a train split (preset subset) and a seeded test subset."""
    from qattn_hybrid.config.presets import get_preset
    from qattn_hybrid.data.loading import TaskSplit, load_tasks

    data = load_tasks([get_preset(t).replace(max_examples=n_train) for t in TASKS])
    rng = random.Random(seed)
    for name, task in data.items():
        test = task.splits["test"]
        index = sorted(rng.sample(range(len(test)), min(n_test, len(test))))
        data[name] = dataclasses.replace(task, splits={
            "train": task.splits["train"],
            "test": TaskSplit([test.texts[i] for i in index], test.labels[index])})
    return data


def speed_texts(data: dict, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for task in data.values():
        pool = list(dict.fromkeys(task.splits["train"].texts))
        texts += rng.sample(pool, n // len(data))
    return texts


def encode_seconds(model, tokenizer, texts: list[str], max_length: int) -> tuple[float, float]:
    """Wall and CPU seconds of the library's encode path on ``texts`` (nothing stored)."""
    from qattn_hybrid.modeling.encoders import TokenFeatureCache

    cache = TokenFeatureCache.__new__(TokenFeatureCache)  # no fingerprint: nothing is stored
    cache.model, cache.tokenizer, cache.layers = model, tokenizer, None
    cache.max_length, cache.batch_size, cache.storage_dtype = max_length, 64, torch.float32
    cache.workers = 1
    wall, cpu = time.perf_counter(), time.process_time()
    cache._compute(texts)
    return time.perf_counter() - wall, time.process_time() - cpu


@torch.no_grad()
def measure_speed(grid: dict, tokenizer, texts: list[str], args) -> dict:
    """key -> median (wall, CPU) seconds: a warm-up, then rounds with every variant once."""
    for m in grid.values():
        encode_seconds(m, tokenizer, texts[::4], args.max_length)
    times: dict = {key: [] for key in grid}
    for _ in range(args.repeats):
        for key, m in grid.items():
            times[key].append(encode_seconds(m, tokenizer, texts, args.max_length))
    return {key: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
            for key, v in times.items()}


def probe_accuracy(model, tokenizer, data: dict, max_length: int) -> dict:
    """task -> test accuracy and macro-F1 of the probe on this encoder's features."""
    from qattn_hybrid.evaluation.probe import fit_probe, pooled_features
    from qattn_hybrid.modeling.encoders import TokenFeatureCache

    cache = TokenFeatureCache(model, tokenizer, max_length=max_length,
                              storage_dtype=torch.float32)
    cache.warm([t for task in data.values() for s in task.splits.values() for t in s.texts])
    out = {}
    for name, task in data.items():
        features = {s: pooled_features(cache.encode, split.texts)
                    for s, split in task.splits.items()}
        test = fit_probe(task, features, grid=(10.0,)).metrics["test"]
        out[name] = {"accuracy": round(test["accuracy"], 4),
                     "macro_f1": round(test["macro_f1"], 4)}
    return out


def variants(model, layer_grid, head_grid, random_at=(), seed: int = 0,
             ablation_texts=(), tokenizer=None) -> dict:
    """(layers, fraction, score) -> pruned copy; score "norm" (the library's choice) or, for the
    layer counts in ``random_at`` and every fraction > 0, "random" (the same number of heads per
    layer drawn at random: the control that shows whether the importance score matters) and,
    given ``ablation_texts``, "ablation" (:func:`head_ablation_importance` on those texts,
    scored on the kept layers)."""
    from qattn_hybrid.modeling.prune import head_ablation_importance, prune_encoder, prune_heads

    n, n_heads = model.config.num_hidden_layers, model.config.num_attention_heads
    rng = random.Random(seed)
    out = {}
    for layers in layer_grid:
        keep = None if layers == n else layers
        for heads in head_grid:
            out[(layers, heads, "norm")] = prune_encoder(model, layers=keep, heads=heads).eval()
        for heads in (h for h in head_grid if h > 0 and layers in random_at):
            drop = {i: rng.sample(range(n_heads), math.floor(heads * n_heads + 1e-9))
                    for i in range(layers)}
            out[(layers, heads, "random")] = prune_encoder(model, layers=keep,
                                                           heads=drop).eval()
        if ablation_texts and any(h > 0 for h in head_grid):
            base = out[(layers, 0.0, "norm")] if 0.0 in head_grid else prune_encoder(
                model, layers=keep)
            start = time.perf_counter()
            scores = head_ablation_importance(base, tokenizer, ablation_texts)
            print(f"ablation scores of {layers} layers: {time.perf_counter() - start:.0f} s",
                  flush=True)
            for heads in (h for h in head_grid if h > 0):
                out[(layers, heads, "ablation")] = prune_heads(base, heads, scores).eval()
    return out


def describe(model) -> dict:
    layer_params = sum(p.numel() for p in model.encoder.layer.parameters())
    return {"params": sum(p.numel() for p in model.parameters()),
            "layer_params": layer_params,
            "heads_kept": sum(layer.attention.self.query.out_features
                              for layer in model.encoder.layer)
            // (model.config.hidden_size // model.config.num_attention_heads)}


def write(path: str, records: list[dict]) -> None:
    from qattn_hybrid.utils.files import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def summarize(path: str) -> str:
    """Markdown table of a runs file, one row per variant."""
    records = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    lines = ["| layers | heads removed | heads kept | params (layers only) | sentences/s | "
             "speed-up (CPU time) | " + " | ".join(f"{t} acc (macro-F1)" for t in TASKS) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(TASKS)]
    for r in records:
        cells = [f"{r['accuracy'][t]['accuracy']:.3f} ({r['accuracy'][t]['macro_f1']:.3f})"
                 if t in r.get("accuracy", {}) else "–" for t in TASKS]
        score = f" ({r['head_score']})" if r.get("head_score", "norm") != "norm" else ""
        cpu = f" (x{r['speedup_cpu']:.2f})" if "speedup_cpu" in r else ""
        lines.append(f"| {r['layers']} | {r['head_fraction']:.0%}{score} | {r['heads_kept']} | "
                     f"{r['params'] / 1e6:.2f}M ({r['layer_params'] / 1e6:.2f}M) | "
                     f"{r['sentences_per_s']:,.0f} | x{r['speedup']:.2f}{cpu} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--summarize", metavar="JSONL", help="print the table of a runs file")
    p.add_argument("--layers", default="6,4,3,2", help="layers kept, comma-separated")
    p.add_argument("--heads", default="0,0.25,0.5", help="head fractions removed")
    p.add_argument("--random-at", default="6,3",
                   help="layer counts that also get randomly chosen heads (the control)")
    p.add_argument("--ablation-texts", type=int, default=0,
                   help="also choose heads by head_ablation_importance on this many train "
                        "texts (0: not)")
    p.add_argument("--texts", type=int, default=512, help="texts of the speed batch")
    p.add_argument("--train", type=int, default=3000, help="train rows per task (at most)")
    p.add_argument("--test", type=int, default=1000, help="test rows per task (at most)")
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--machine", default="")
    p.add_argument("--accuracy-from", metavar="JSONL",
                   help="reuse the probe accuracy of the same variants from an earlier runs "
                        "file (the features are deterministic): re-measure speed only")
    p.add_argument("--out", default="benchmarks/prune_runs.jsonl")
    args = p.parse_args(argv)
    if args.summarize:
        print(summarize(args.summarize))
        return 0
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("qattn_hybrid.modeling.encoders").setLevel(logging.ERROR)  # truncation notes
    from qattn_hybrid.modeling.encoders import load_encoder

    torch.set_num_threads(1)
    model, tokenizer = load_encoder()
    model.eval()
    data = load_data(args.train, args.test, args.seed)
    texts = speed_texts(data, args.texts, args.seed)
    scoring = speed_texts(data, args.ablation_texts, args.seed + 1) if args.ablation_texts else ()
    grid = variants(model, [int(x) for x in args.layers.split(",")],
                    [float(x) for x in args.heads.split(",")],
                    [int(x) for x in args.random_at.split(",") if x], args.seed,
                    scoring, tokenizer)
    times = measure_speed(grid, tokenizer, texts, args)
    load = os.getloadavg()[0]
    base = times[max(grid, key=lambda k: (k[0], -k[1]))]  # the full model
    earlier = {}  # accuracy of an earlier run of the same variants (--accuracy-from)
    if args.accuracy_from:
        for line in Path(args.accuracy_from).read_text().splitlines():
            r = json.loads(line)
            earlier[(r["layers"], r["head_fraction"], r.get("head_score", "norm"))] = r
    records = []
    for (layers, heads, score), m in grid.items():
        wall, cpu = times[(layers, heads, score)]
        records.append({"layers": layers, "head_fraction": heads, "head_score": score,
                        **describe(m), "texts": len(texts), "max_length": args.max_length,
                        "repeats": args.repeats, "wall_s": round(wall, 3),
                        "cpu_s": round(cpu, 3), "sentences_per_s": round(len(texts) / wall, 1),
                        "speedup": round(base[0] / wall, 3),
                        "speedup_cpu": round(base[1] / cpu, 3), "threads": 1,
                        "ablation_texts": len(scoring) if score == "ablation" else 0,
                        "load_avg_1min_speed": round(load, 2), "machine": args.machine,
                        "torch": torch.__version__,
                        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
        print(f"L={layers} heads-{heads:.0%} {score}: {records[-1]['sentences_per_s']:7.1f} "
              f"sent/s x{records[-1]['speedup']:.2f} (CPU x{records[-1]['speedup_cpu']:.2f})",
              flush=True)
    write(args.out, records)
    for record, m in zip(records, grid.values()):
        key = (record["layers"], record["head_fraction"], record["head_score"])
        if key in earlier and "accuracy" in earlier[key]:
            record.update({k: earlier[key][k] for k in ("accuracy", "probe_s", "train_rows",
                                                         "test_rows")})
            record["accuracy_from"] = args.accuracy_from
            continue
        start = time.perf_counter()
        record["accuracy"] = probe_accuracy(m, tokenizer, data, args.max_length)
        record["probe_s"] = round(time.perf_counter() - start, 1)
        record["train_rows"] = {t: len(data[t].splits["train"]) for t in TASKS}
        record["test_rows"] = {t: len(data[t].splits["test"]) for t in TASKS}
        write(args.out, records)
        print(f"L={record['layers']} heads-{record['head_fraction']:.0%} "
              f"{record['head_score']}: "
              f"{json.dumps(record['accuracy'])} ({record['probe_s']} s)", flush=True)
    write(args.out, records)
    print(summarize(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
