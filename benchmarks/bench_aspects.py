"""Aspect sentiment on MAMS-ACSA (issue #20): probe, mean pooling, classical control and quantum
attention, frozen MiniLM, several seeds; a fine-tuned run's saved model scored the same way.

    python benchmarks/bench_aspects.py --cache-dir runs/feature_cache --seeds 0,1,2 \\
        --variants probe_last,probe,mean,classical,quantum --out benchmarks/aspects_runs.jsonl
    python benchmarks/bench_aspects.py --score-run runs/aspects_ft --name finetuned_quantum \\
        --out benchmarks/aspects_runs.jsonl
    python benchmarks/bench_aspects.py --summarize benchmarks/aspects_runs.jsonl

The recipe is ``configs/aspects.toml`` (``--config``); a variant changes only what its name
says (and the heads' start, see VARIANTS). ``probe_last`` is the practitioner's first baseline: a logistic probe on the mean-pooled
last layer (the sentence embedding of all-MiniLM-L6-v2); ``probe`` is the same probe on the
config's features (``model.feature_layers``). The metrics are those of the MAMS paper: accuracy
and macro-F1 over all (sentence, aspect) test pairs (901), from each pair's predicted label.
Every run appends one JSON line; runs already in the file are skipped (an interrupted grid
resumes). torch runs with 1 thread; the feature cache is shared by every run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

# heads that start as the fitted probes (LP-FT), or random ones trained at a higher rate than
# the attention where they read a mixer's outputs (the probe is fitted on the encoder's)
PROBE_HEADS = {"init_heads": "probe", "head_lr": None}
RANDOM_HEADS = {"init_heads": "random", "head_lr": 1e-2}
VARIANTS = {  # name -> ([model] overrides, [training] overrides) of the config
    "probe_last": ({"feature_layers": None, "mixer": None}, {}),
    "probe": ({"mixer": None}, {}),
    "mean": ({"attention": "mean", "mixer": None}, PROBE_HEADS),
    "classical": ({"attention": "classical", "mixer": None}, PROBE_HEADS),
    "quantum": ({"attention": "quantum", "mixer": None}, PROBE_HEADS),
    # a bidirectional GRU re-reads the tokens before the attention (model.mixer)
    "mean_bigru": ({"attention": "mean", "mixer": "bigru"}, RANDOM_HEADS),
    "classical_bigru": ({"attention": "classical", "mixer": "bigru"}, RANDOM_HEADS),
    "quantum_bigru": ({"attention": "quantum", "mixer": "bigru"}, RANDOM_HEADS),
}


def pooled(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Accuracy and macro-F1 over (predicted, true) label pairs of every task together."""
    labels = sorted({y for _, y in pairs})
    f1 = []
    for c in labels:
        tp = sum(p == y == c for p, y in pairs)
        n = sum(p == c for p, _ in pairs) + sum(y == c for _, y in pairs)
        f1.append(2 * tp / n if n else 0.0)
    return {"accuracy": sum(p == y for p, y in pairs) / len(pairs),
            "macro_f1": statistics.mean(f1), "pairs": len(pairs)}


def truth(task) -> list[str]:
    split = task.split("test")
    return [task.labels[int(i)] for i in split.labels]


def model_pairs(model, data) -> dict[str, list[tuple[str, str]]]:
    return {name: list(zip(model.predict(task.split("test").texts, name), truth(task)))
            for name, task in data.items()}


def probe_pairs(config, data, encoder) -> dict[str, list[tuple[str, str]]]:
    from qattn_hybrid.evaluation.probe import pooled_features, run_probe

    out = {}
    for name, result in run_probe(config, data, encoder).items():
        task = data[name]
        x = pooled_features(encoder.cache.encode, task.split("test").texts).double().numpy()
        out[name] = list(zip([task.labels[int(i)] for i in result.model.predict(x)], truth(task)))
    return out


def record(variant: str, seed, pairs: dict, seconds: float, config, **extra) -> dict:
    every = [p for task_pairs in pairs.values() for p in task_pairs]
    return {"variant": variant, "seed": seed, "test": pooled(every),
            "tasks": {t: pooled(p) for t, p in pairs.items()}, "seconds": round(seconds, 1),
            "feature_layers": config.model.feature_layers, "n_circuits": config.model.n_circuits,
            "mixer": config.model.mixer, "mixer_units": config.model.mixer_units,
            "recipe": config.to_dict()["training"], **extra}


def run_one(variant: str, seed: int, base, data, encoders) -> dict:
    from qattn_hybrid.training.factory import build_trainer

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        model, training = VARIANTS[variant]
        config = base.replace(model=model,
                              training={"seed": seed or 0, "output_dir": tmp, "progress": False,
                                        "num_threads": 1, "keep_checkpoints": 1, **training})
        encoder = encoders(config.model)
        if variant.startswith("probe"):
            return record(variant, None, probe_pairs(config, data, encoder),
                          time.perf_counter() - start, config)
        trainer = build_trainer(config, tasks=data, encoder=encoder)
        result = trainer.fit()
        n_params = sum(p.numel() for n, p in trainer.model.named_parameters()
                       if p.requires_grad and not n.startswith(("encoder.", "heads.")))
        return record(variant, seed, model_pairs(trainer.model, data),
                      time.perf_counter() - start, config, best_epoch=result.best_epoch,
                      attention_params=n_params)


def main_runs(args) -> None:
    from qattn_hybrid.config.sections import load_config
    from qattn_hybrid.data.loading import load_tasks
    from qattn_hybrid.modeling.model import load_text_encoder

    torch.set_num_threads(1)
    base = load_config(args.config).replace(data={"cache_dir": args.cache_dir})
    data = load_tasks(base.data.task_specs())
    out = Path(args.out)
    done = set()
    if out.exists():
        done = {(r["variant"], r["seed"]) for r in map(json.loads, out.read_text().splitlines())}
    loaded = {}

    def encoders(model_config):  # one frozen encoder (and feature cache) per feature setting
        layers = model_config.feature_layers
        key = tuple(layers) if layers else None
        if key not in loaded:
            loaded[key] = load_text_encoder(dataclasses.replace(model_config, freeze_encoder=True),
                                            args.cache_dir)
        return loaded[key]

    for variant in args.variants:
        for seed in ([None] if variant.startswith("probe") else args.seeds):
            if (variant, seed) in done:
                continue
            row = run_one(variant, seed, base, data, encoders) | {"machine": args.machine}
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{variant} seed {seed}: accuracy {100 * row['test']['accuracy']:.1f}, "
                  f"macro-F1 {100 * row['test']['macro_f1']:.1f} ({row['seconds']} s)", flush=True)


def score_run(args) -> None:
    """Score a trained run's best model (e.g. a fine-tuned one) on the test pairs."""
    from qattn_hybrid.config.sections import load_config
    from qattn_hybrid.data.loading import load_tasks
    from qattn_hybrid.modeling.model import MultiTaskModel

    run = Path(args.score_run)
    config = load_config(run / "run_config.json")
    data = load_tasks(config.data.task_specs())
    start = time.perf_counter()
    model = MultiTaskModel.from_pretrained(run / "best")
    row = record(args.name, config.training.seed, model_pairs(model, data),
                 time.perf_counter() - start, config, run=str(run),
                 freeze_encoder=config.model.freeze_encoder) | {"machine": args.machine}
    with Path(args.out).open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(f"{args.name}: accuracy {100 * row['test']['accuracy']:.1f}, "
          f"macro-F1 {100 * row['test']['macro_f1']:.1f}")


def summarize(path: str) -> str:
    """Markdown: one row per variant, mean ± std over seeds of the pooled test metrics."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    by = {}
    for r in rows:
        by.setdefault(r["variant"], []).append(r)
    tasks = list(rows[0]["tasks"])
    lines = ["| variant | seeds | accuracy | macro-F1 | " + " | ".join(t.removeprefix("mams_")
                                                                  for t in tasks) + " |",
             "|---|---|---|---|" + "---|" * len(tasks)]
    for variant, runs in by.items():
        cells = [variant, str(len(runs))]
        for metric in ("accuracy", "macro_f1"):
            cells.append(_ms([100 * r["test"][metric] for r in runs]))
        cells += [_ms([100 * r["tasks"][t]["accuracy"] for r in runs]) for t in tasks]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ms(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/aspects.toml")
    parser.add_argument("--cache-dir", default="runs/feature_cache")
    parser.add_argument("--variants", type=lambda s: s.split(","),
                        default=list(VARIANTS))
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")],
                        default=[0, 1, 2])
    parser.add_argument("--out", default="benchmarks/aspects_runs.jsonl")
    parser.add_argument("--machine", default="2-core shared CPU (no GPU), Python 3.11")
    parser.add_argument("--score-run", help="a trained run folder to score instead")
    parser.add_argument("--name", default="finetuned", help="the variant name of --score-run")
    parser.add_argument("--summarize", metavar="JSONL")
    args = parser.parse_args()
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        sys.exit(f"--variants must be among {', '.join(VARIANTS)}; got {', '.join(unknown)}")
    if args.summarize:
        print(summarize(args.summarize))
    elif args.score_run:
        score_run(args)
    else:
        main_runs(args)


if __name__ == "__main__":
    main()
