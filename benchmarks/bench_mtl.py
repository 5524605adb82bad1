"""Multi-task benchmark: CLINC150 (intent, domain, out-of-scope) + financial sentiment, frozen
all-MiniLM-L6-v2, quantum attention vs its controls.

Variants (each trained with every seed):
  mtl_quantum_ptw   one model, 4 tasks, quantum attention, per-task circuit weights
  mtl_quantum_rot   one model, 4 tasks, quantum attention, task rotations
  mtl_quantum_noent one model, 4 tasks, per-task weights, no entanglement (ablation)
  mtl_classical     one model, 4 tasks, classical attention with the quantum parameter count
  single_<task>     one quantum-attention model per task (the Δm baseline)

Every run: the same seeded subsample (``--max-examples`` rows per split and task), the same
epochs, best epoch chosen on validation, metrics on test. Δm% (LibMTL, Maninis et al. 2019):
Δm = (1/K) Σ_k (1/N_k) Σ_i (-1)^{l_ki} (M_ki - B_ki) / B_ki · 100 over the metrics below, B =
the single-task model of the same seed. Token features are computed once and shared by all runs.

    python benchmarks/bench_mtl.py --out benchmarks/mtl_runs.jsonl        # runs (JSON lines)
    python benchmarks/bench_mtl.py --summarize benchmarks/mtl_runs.jsonl   # markdown table
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import statistics
import sys
import tempfile
import time

import torch

TASKS = ["clinc_intent", "clinc_domain", "clinc_oos", "fin_sentiment"]
DELTA_METRICS = {  # task -> metrics in Δm (all higher-is-better)
    "clinc_intent": ["accuracy", "in_scope_accuracy"],
    "clinc_domain": ["accuracy", "macro_f1"],
    "clinc_oos": ["macro_f1"],  # accuracy is ~0.96 whatever the model: 18% of test rows are oos
    "fin_sentiment": ["accuracy", "macro_f1"],
}
VARIANTS = {
    "mtl_quantum_ptw": {"attention": "quantum", "circuit": {"conditioning": "per_task_weights"}},
    "mtl_quantum_rot": {"attention": "quantum", "circuit": {"conditioning": "task_rotations"}},
    "mtl_quantum_noent": {"attention": "quantum", "circuit": {"conditioning": "per_task_weights",
                                                              "ansatz": "no_entanglement"}},
    "mtl_classical": {"attention": "classical"},
}
SINGLE = {"attention": "quantum", "circuit": {"conditioning": "per_task_weights"}}


def run_one(name: str, model_changes: dict, tasks: list[str], seed: int, args, all_tasks,
            encoder) -> dict:
    from qattn_hybrid.config.sections import Config
    from qattn_hybrid.training.factory import build_trainer

    changes = dict(model_changes)
    circuit = {"n_qubits": args.n_qubits, "n_layers": args.n_layers, **changes.pop("circuit", {})}
    model = {"circuit": circuit, "max_length": 32, **changes}
    if args.device:
        model["execution"] = {"qml_device": args.device}
    with tempfile.TemporaryDirectory(prefix=f"bench_mtl_{name}_") as out:
        config = Config.from_dict({
            "model": model,
            "data": {"tasks": tasks, "max_examples": args.max_examples},
            "training": {"epochs": args.epochs, "batch_size": 32, "lr": args.lr, "seed": seed,
                         "patience": None, "output_dir": out, "progress": False,
                         "keep_checkpoints": 1},
            "sampling": {"method": "temperature", "temperature": 2.0},
        })
        start = time.perf_counter()
        trainer = build_trainer(config, tasks={t: all_tasks[t] for t in tasks}, encoder=encoder)
        result = trainer.fit()
        total = time.perf_counter() - start
    n_params = sum(p.numel() for n, p in trainer.model.named_parameters()
                   if p.requires_grad and not n.startswith("encoder."))
    return {"variant": name, "tasks": tasks, "seed": seed, "test": result.test_metrics,
            "best_epoch": result.best_epoch, "epochs": len(result.history),
            "epoch_seconds": [round(r["seconds"], 2) for r in result.history],
            "total_seconds": round(total, 1), "trainable_params": n_params,
            "device": args.device or "layer default"}


def run_all(args) -> None:
    from qattn_hybrid.config.presets import get_preset
    from qattn_hybrid.config.sections import ModelConfig
    from qattn_hybrid.data.loading import load_tasks
    from qattn_hybrid.modeling.model import load_text_encoder

    torch.set_num_threads(args.threads)
    specs = [get_preset(t).replace(max_examples=args.max_examples) for t in TASKS]
    all_tasks = load_tasks(specs)
    encoder = load_text_encoder(ModelConfig(max_length=32), cache_dir=args.cache_dir)
    texts = [x for t in all_tasks.values() for s in t.splits.values() for x in s.texts]
    start = time.perf_counter()
    n = encoder.cache.warm(texts)
    log = {"event": "features", "texts": len(set(texts)), "encoded_now": n,
           "seconds": round(time.perf_counter() - start, 1)}
    _emit(args.out, log)
    plan = [(name, changes, TASKS) for name, changes in VARIANTS.items()]
    plan += [(f"single_{t}", SINGLE, [t]) for t in TASKS]
    if args.only:
        plan = [p for p in plan if p[0] in args.only]
    for seed in args.seeds:
        for name, changes, tasks in plan:
            _emit(args.out, run_one(name, changes, tasks, seed, args, all_tasks, encoder))


def _emit(path: str | None, record: dict) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


# --------------------------------------------------------------------------- summary
def delta_m(runs: dict, seed: int, variant: str) -> float | None:
    """LibMTL Δm% of a variant against the single-task models of the same seed."""
    terms = []
    for task, metrics in DELTA_METRICS.items():
        base = runs.get((f"single_{task}", seed))
        model = runs.get((variant, seed))
        if base is None or model is None or task not in model["test"]:
            return None
        per = [(model["test"][task][m] - base["test"][task][m]) / base["test"][task][m]
               for m in metrics]
        terms.append(sum(per) / len(per))
    return 100 * sum(terms) / len(terms)


def _ms(values: list[float], scale: float = 100.0) -> str:
    values = [v * scale for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def summarize(path: str) -> str:
    records = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    runs = {(r["variant"], r["seed"]): r for r in records if "variant" in r}
    seeds = sorted({s for _, s in runs})
    variants = [v for v in [*VARIANTS, *(f"single_{t}" for t in TASKS)]
                if any((v, s) in runs for s in seeds)]
    columns = [("clinc_intent", "in_scope_accuracy", "intent in-scope acc"),
               ("clinc_intent", "accuracy", "intent acc (151)"),
               ("clinc_intent", "oos_recall", "intent OOS recall"),
               ("clinc_domain", "accuracy", "domain acc"),
               ("clinc_oos", "macro_f1", "OOS macro-F1"),
               ("clinc_oos", "oos_recall", "OOS recall"),
               ("fin_sentiment", "accuracy", "fin acc"),
               ("fin_sentiment", "macro_f1", "fin macro-F1")]
    head = ["variant"] + [c[2] for c in columns] + ["Δm %", "s/epoch", "params"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    singles = {}
    for v in variants:
        rs = [runs[(v, s)] for s in seeds if (v, s) in runs]
        cells = []
        for task, metric, _ in columns:
            vals = [r["test"][task][metric] for r in rs if task in r["test"]]
            cells.append(_ms(vals) if vals else "")
            if v.startswith("single_") and vals:
                singles[(task, metric)] = _ms(vals)
        dm = [delta_m(runs, s, v) for s in seeds] if not v.startswith("single_") else []
        epoch_s = [statistics.mean(r["epoch_seconds"]) for r in rs]
        cells += [_ms(dm, 1.0) if dm else "(baseline)", f"{statistics.mean(epoch_s):.1f}",
                  str(rs[0]["trainable_params"])]
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nSeeds: {seeds}; runs: {len(runs)}.\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--max-examples", type=int, default=1000, help="rows per split and task")
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--n-qubits", type=int, default=4)
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--device", default=None, help="PennyLane device (default: the layer's)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: stable timings)")
    p.add_argument("--cache-dir", default="runs/feature_cache")
    p.add_argument("--only", nargs="+", help="run only these variants")
    p.add_argument("--out", help="append JSON lines here")
    p.add_argument("--summarize", metavar="JSONL", help="print the markdown table and exit")
    args = p.parse_args(argv)
    if args.summarize:
        print(summarize(args.summarize))
        return 0
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps({"event": "start", "machine": platform.processor() or platform.machine(),
                      "python": platform.python_version(), "torch": torch.__version__,
                      "threads": args.threads, "args": vars(args)}), flush=True)
    run_all(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
