"""Model quality on full data with the frozen encoder: probe, mean pooling, classical control and
quantum attention, single-task and multi-task, several seeds (issue #11).

    python benchmarks/bench_quality.py --cache-dir /work/feature_cache \\
        --variants probe,mean,classical,quantum,quantum_rot,quantum_noent \\
        --settings single,multi --seeds 0,1,2 --out benchmarks/quality_runs.jsonl
    python benchmarks/bench_quality.py --summarize benchmarks/quality_runs.jsonl

Every run appends one JSON line (variant, setting, tasks, seed, test metrics per task, best
epoch, wall seconds, recipe). Runs already in the output file are skipped, so an interrupted grid
resumes. The probe is deterministic (one run per task). ``--summarize`` prints the markdown
tables of RESULTS.md: 3-seed means (± std) and Δm, the mean relative change of every metric of
every task of a multi-task model against the single-task models of the same variant.

torch runs with 1 thread (a shared 2-core machine); the encoder is loaded once and its feature
cache shared by every run.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

TASKS = ["clinc_intent", "clinc_domain", "clinc_oos", "fin_sentiment"]
VARIANTS = {  # name -> [model] overrides
    "mean": {"attention": "mean"},
    "classical": {"attention": "classical"},
    "quantum": {"attention": "quantum", "circuit": {"conditioning": "per_task_weights"}},
    "quantum_rot": {"attention": "quantum", "circuit": {"conditioning": "task_rotations"}},
    "quantum_noent": {"attention": "quantum", "circuit": {"ansatz": "no_entanglement"}},
    "quantum_linear": {"attention": "quantum", "value": "linear"},
    "quantum_lpft": {"attention": "quantum"},  # heads start as the probes (init_heads)
    "classical_lpft": {"attention": "classical"},
    "quantum_rot_lpft": {"attention": "quantum", "circuit": {"conditioning": "task_rotations"}},
    "quantum_noent_lpft": {"attention": "quantum", "circuit": {"ansatz": "no_entanglement"}},
    # the main job's recipe: heads start as the probes and stay there, attention at lr 3e-3
    "quantum_held": {"attention": "quantum"},
    "classical_held": {"attention": "classical"},
}
TRAINING = {v: {"init_heads": "probe"} for v in VARIANTS if v.endswith("_lpft")}
TRAINING.update({v: {"init_heads": "probe", "head_lr": 0.0, "lr": 3e-3}
                 for v in VARIANTS if v.endswith("_held")})
METRICS = ("accuracy", "macro_f1", "in_scope_accuracy", "oos_recall")


def config_for(variant: str, tasks: list[str], seed: int, args, output_dir: str):
    from qattn_hybrid.config.sections import Config

    model = {"max_length": args.max_length, **VARIANTS.get(variant, {"attention": "mean"})}
    if args.encoder_quantize:
        model["encoder_quantize"] = args.encoder_quantize
    training = {"seed": seed, "output_dir": output_dir, "progress": False, "num_threads": 1,
                "keep_checkpoints": 1, **TRAINING.get(variant, {})}
    for key in ("epochs", "lr", "batch_size", "warmup", "schedule", "weight_decay"):
        if getattr(args, key) is not None and not (key == "lr" and variant.endswith("_held")):
            training[key] = getattr(args, key)
    return Config.from_dict({"model": model, "data": {"tasks": tasks, "cache_dir": args.cache_dir},
                             "training": training})


def run_one(variant, tasks, seed, args, data, encoder) -> dict:
    from qattn_hybrid.evaluation.probe import run_probe
    from qattn_hybrid.training.factory import build_trainer

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        config = config_for(variant, tasks, seed, args, tmp)
        subset = {t: data[t] for t in tasks}
        if variant == "probe":
            results = run_probe(config, subset, encoder)
            test = {t: r.metrics.get("test", {}) for t, r in results.items()}
            extra = {"param": {t: r.param for t, r in results.items()}}
        else:
            torch.manual_seed(seed)
            trainer = build_trainer(config, tasks=subset, encoder=encoder)
            result = trainer.fit()
            test = result.test_metrics
            extra = {"best_epoch": result.best_epoch,
                     "epoch_seconds": [round(r["seconds"], 1) for r in result.history],
                     "n_params": sum(p.numel() for n, p in trainer.model.named_parameters()
                                     if p.requires_grad and not n.startswith("encoder."))}
    return {"variant": variant, "setting": "multi" if len(tasks) > 1 else "single",
            "tasks": tasks, "seed": seed,
            "test": {t: {k: v for k, v in m.items() if k != "loss"} for t, m in test.items()},
            "seconds": round(time.perf_counter() - start, 1),
            "recipe": config_for(variant, tasks, seed, args, "-").to_dict()["training"]
            | {"max_length": args.max_length}, **extra,
            **({"encoder_quantize": args.encoder_quantize} if args.encoder_quantize else {})}


def plan(args) -> list[tuple[str, list[str], int]]:
    runs = []
    for variant in args.variants:
        seeds = [0] if variant == "probe" else args.seeds
        for setting in args.settings:
            if variant == "probe" and setting == "multi":
                continue
            groups = [[t] for t in args.tasks] if setting == "single" else [args.tasks]
            runs += [(variant, g, s) for s in seeds for g in groups]
    return runs


def key(variant, tasks, seed, epochs, quantize=None) -> str:
    """A run's identity in the output file; the probe does not train, so has no epochs."""
    return (f"{variant}|{','.join(tasks)}|{seed}|{'' if variant == 'probe' else epochs}"
            f"|{quantize or ''}")


def run_epochs(args) -> int:
    return config_for("mean", args.tasks, 0, args, "-").training.epochs


def main_runs(args) -> None:
    from qattn_hybrid.data.loading import load_tasks
    from qattn_hybrid.modeling.model import load_text_encoder

    torch.set_num_threads(1)
    out = Path(args.out)
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done.add(key(r["variant"], r["tasks"], r["seed"], r["recipe"]["epochs"],
                         r.get("encoder_quantize")))
    data = load_tasks(config_for("mean", args.tasks, 0, args, "-").data.task_specs())
    encoder = load_text_encoder(config_for("mean", args.tasks, 0, args, "-").model,
                                args.cache_dir)
    t0 = time.perf_counter()
    n = encoder.cache.warm([t for d in data.values() for s in d.splits.values() for t in s.texts])
    print(f"encoder ready: {len(encoder.cache)} texts cached, {n} encoded "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    epochs = run_epochs(args)
    for variant, tasks, seed in plan(args):
        if key(variant, tasks, seed, epochs, args.encoder_quantize) in done:
            continue
        record = run_one(variant, tasks, seed, args, data, encoder)
        record["machine"] = args.machine
        with out.open("a") as f:
            f.write(json.dumps(record) + "\n")
        summary = {t: round(100 * m["accuracy"], 2) for t, m in record["test"].items()}
        print(f"{variant} {record['setting']} seed {seed}: {summary} ({record['seconds']} s)",
              flush=True)


# --------------------------------------------------------------------------- summary
def summarize(path: str) -> str:
    """Markdown table: one row per (variant, epochs, setting); Δm at the same epochs."""
    records = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    cells: dict[tuple, list[float]] = {}  # (group, setting, task, metric) -> values over seeds
    secs: dict[tuple, list[float]] = {}
    for r in records:
        group = (_name(r), "" if r["variant"] == "probe" else r["recipe"]["epochs"])
        secs.setdefault((group, r["setting"]), []).append(r["seconds"])
        for task, metrics in r["test"].items():
            for m, v in metrics.items():
                if v is not None and not (isinstance(v, float) and math.isnan(v)):
                    cells.setdefault((group, r["setting"], task, m), []).append(100 * v)
    groups = sorted(dict.fromkeys(k[0] for k in cells),
                    key=lambda g: (_first_seen(records, g[0]), g[1] or 0))
    tasks = list(dict.fromkeys(t for r in records for t in r["test"]))
    lines = ["| variant | epochs | setting | seeds | " + " | ".join(f"{t} acc / F1" for t in tasks)
             + " | CLINC in-scope / OOS recall | Δm | Δm acc, F1 | s per run |",
             "|---|---|---|---|" + "---|" * len(tasks) + "---|---|---|---|"]
    for g in groups:
        for setting in ("single", "multi"):
            if (g, setting) not in secs:
                continue
            n = max(len(cells.get((g, setting, t, "accuracy"), [])) for t in tasks)
            row = [g[0], str(g[1]) or "–", setting, str(n)]
            for t in tasks:
                row.append(f"{_ms(cells.get((g, setting, t, 'accuracy')))} / "
                           f"{_ms(cells.get((g, setting, t, 'macro_f1')))}")
            row.append(f"{_ms(cells.get((g, setting, 'clinc_intent', 'in_scope_accuracy')))} / "
                       f"{_ms(cells.get((g, setting, 'clinc_intent', 'oos_recall')))}")
            row.append(_delta_m(cells, g, tasks) if setting == "multi" else "")
            row.append(_delta_m(cells, g, tasks, METRICS[:2]) if setting == "multi" else "")
            row.append(f"{statistics.mean(secs[(g, setting)]):.0f}")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _name(record) -> str:
    quantize = record.get("encoder_quantize")
    return record["variant"] + (f" ({quantize} encoder)" if quantize else "")


def _first_seen(records, name) -> int:
    return next(i for i, r in enumerate(records) if _name(r) == name)


def _ms(values) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def _delta_m(cells, variant, tasks, metrics=METRICS) -> str:
    """Mean over tasks and metrics of (multi - single) / single, in percent (Maninis et al.);
    ``metrics``: which (all by default: in-scope accuracy and OOS recall too)."""
    terms = []
    if not all(cells.get((variant, "single", t, "accuracy")) for t in tasks):
        return "not measured"
    for t in tasks:
        for m in metrics:
            multi, single = cells.get((variant, "multi", t, m)), cells.get((variant, "single", t, m))
            if multi and single:
                s = statistics.mean(single)
                terms.append((statistics.mean(multi) - s) / s)
    return f"{100 * statistics.mean(terms):+.1f} %" if terms else "–"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--summarize", metavar="JSONL", help="print the tables of a runs file")
    p.add_argument("--cache-dir", default="runs/feature_cache")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--variants", default="probe,mean,classical,quantum,quantum_rot,quantum_noent")
    p.add_argument("--settings", default="single,multi")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--encoder-quantize", choices=("int8",),
                   help="model.encoder_quantize (use its own --cache-dir or share one: the "
                        "quantized features are cached in their own folder either way)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--warmup", type=float)
    p.add_argument("--schedule")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--machine", default="")
    p.add_argument("--out", default="benchmarks/quality_runs.jsonl")
    args = p.parse_args(argv)
    if args.summarize:
        print(summarize(args.summarize))
        return 0
    args.tasks = args.tasks.split(",")
    args.variants = args.variants.split(",")
    args.settings = args.settings.split(",")
    args.seeds = [int(s) for s in args.seeds.split(",")]
    logging.basicConfig(level=logging.WARNING)
    main_runs(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
