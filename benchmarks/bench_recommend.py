"""Recommendation benchmark: women's clothing reviews (rating regression, would-recommend,
department), frozen all-MiniLM-L6-v2 features, quantum attention beside its baselines, and items
of the held-out split ranked by predicted rating.

Rows (each trained model: every seed; single-task = one model per task, multi-task = one model
for the three tasks):
  probe      sklearn on mean-pooled, L2-normalised frozen features: ridge regression (rating),
             logistic regression (recommend, department); alpha / C picked on validation
  mean       mean pooling (uniform weights over real tokens) + the model's heads, trained with
             the same recipe as the attention models (the attention-free control)
  classical  classical attention with the quantum layer's parameter count
  quantum    task-conditioned quantum attention (configs/recommend.toml's [model])

Every row uses the same train rows (``--train-rows``: a seeded subset of the train split, the same
texts for all three tasks), the same validation rows (``--val-rows``) for model selection, and the
whole test split (4,653 reviews of 220 unseen items). Ranking: test items with >= 5 reviews
(65) ordered by mean predicted rating; NDCG@10, Spearman, precision@10
(qattn_hybrid.evaluation.ranking).

Δm% (LibMTL; Maninis et al. 2019): Δm = (1/K) Σ_k (1/N_k) Σ_i (-1)^{l_ki} (M_ki - B_ki) / B_ki
· 100, l_ki = 1 when lower is better (MAE, RMSE), so an improvement is positive in either
direction; against two baselines: the probe, and the single-task models of the same kind+seed.

    python benchmarks/bench_recommend.py --seeds 0 --out benchmarks/recommend_runs.jsonl
    python benchmarks/bench_recommend.py --summarize benchmarks/recommend_runs.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

TASKS = ["clothing_rating", "clothing_recommend", "clothing_department"]
DELTA_METRICS = {  # task -> {metric: lower_is_better}
    "clothing_rating": {"mae": True, "rmse": True},
    "clothing_recommend": {"macro_f1": False, "roc_auc": False},
    "clothing_department": {"accuracy": False, "macro_f1": False},
}
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "qattn_hybrid" / "datasets" / "womens_clothing_reviews" / (
    "womens_clothing_reviews.jsonl")
log = logging.getLogger("bench_recommend")


# --------------------------------------------------------------------------- data
def subset(tasks: dict, n_train: int | None, n_val: int | None, n_test: int | None = None) -> dict:
    """The same train / validation texts for every task (train: a prefix of a seeded shuffle)."""
    from qattn_hybrid.data.loading import TaskData, TaskSplit

    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    train = [r["text"] for r in rows if r["split"] == "train"]
    random.Random(0).shuffle(train)  # the order the feature cache was filled in
    val = [r["text"] for r in rows if r["split"] == "validation"]
    keep = {"train": set(train[:n_train] if n_train else train),
            "validation": set(random.Random(1).sample(val, n_val) if n_val else val)}
    out = {}
    for name, task in tasks.items():
        splits = {}
        for split, data in task.splits.items():
            idx = ([i for i, t in enumerate(data.texts) if t in keep[split]] if split != "test"
                   else list(range(min(n_test or len(data), len(data)))))  # a prefix (smoke runs)
            splits[split] = TaskSplit([data.texts[i] for i in idx], data.labels[idx])
        out[name] = TaskData(task.spec, task.labels, splits)
    return out


def test_items(tasks: dict) -> tuple[list[str], list[str], list[float], list[bool]]:
    """Texts, item ids, ratings and recommends of the test split, aligned with clothing_rating."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    test = tasks["clothing_rating"].split("test")
    rows = [r for r in rows if r["split"] == "test"][: len(test)]
    if [r["text"] for r in rows] != test.texts:
        raise RuntimeError("test rows and the clothing_rating test split disagree")
    return (test.texts, [r["clothing_id"] for r in rows], [float(r["rating"]) for r in rows],
            [r["recommended"] == "recommended" for r in rows])


def ranking(predictions: torch.Tensor, tasks: dict) -> dict:
    from qattn_hybrid.evaluation.ranking import evaluate_ranking

    texts, ids, ratings, recommends = test_items(tasks)
    got = evaluate_ranking(None, texts, ids, ratings, recommends, "clothing_rating",
                           predictions=predictions)
    return {k: v for k, v in got.items() if k != "n_items"}


# --------------------------------------------------------------------------- probe
def pooled_features(encoder, texts: list[str]) -> np.ndarray:
    """(N, D) mean over real tokens ([CLS], [SEP] included), L2-normalised."""
    out = []
    for s in range(0, len(texts), 256):
        features, mask = encoder.cache.encode(texts[s : s + 256])
        mean = (features * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        out.append(torch.nn.functional.normalize(mean, dim=-1))
    return torch.cat(out).numpy()


def run_probe(tasks: dict, encoder, fixed: bool = False) -> dict:
    """Ridge / logistic regression per task; alpha / C picked on validation (``fixed``: alpha 1,
    C 10, no validation needed)."""
    from sklearn.linear_model import LogisticRegression, Ridge

    from qattn_hybrid.tasks.kinds import task_from_data
    from qattn_hybrid.tasks.metrics import compute_metrics

    start, results, chosen = time.perf_counter(), {}, {}
    feats = {}
    for name, task in tasks.items():
        X = {s: feats.setdefault(tuple(d.texts), pooled_features(encoder, d.texts))
             for s, d in task.splits.items()}
        y = {s: d.labels.numpy() for s, d in task.splits.items()}
        info = task_from_data(task)
        primary = info.primary_metric
        best = None
        grid = [0.1, 1.0, 10.0, 100.0] if task.spec.task_type == "regression" else [0.1, 1.0,
                                                                                   10.0, 100.0]
        if fixed:
            grid = [1.0] if task.spec.task_type == "regression" else [10.0]
        for value in grid:
            model = (Ridge(alpha=value) if task.spec.task_type == "regression"
                     else LogisticRegression(C=value, max_iter=3000))
            model.fit(X["train"], y["train"])
            if fixed:
                best = (None, value, model)
                break
            score = compute_metrics({primary.name: primary}, _outputs(model, X["validation"]),
                                    torch.as_tensor(y["validation"]))[primary.name]
            if best is None or primary.better(score, best[0]):
                best = (score, value, model)
        chosen[name] = best[1]
        outputs = _outputs(best[2], X["test"])
        results[name] = info.evaluate(outputs, torch.as_tensor(y["test"]))
        if name == "clothing_rating":
            results["ranking"] = ranking(outputs.double(), tasks)
    return {"metrics": results, "seconds": time.perf_counter() - start, "chosen": chosen}


def _outputs(model, X) -> torch.Tensor:
    if hasattr(model, "predict_proba"):
        return torch.log(torch.as_tensor(model.predict_proba(X)).clamp(min=1e-12))  # as logits
    return torch.as_tensor(model.predict(X))


# --------------------------------------------------------------------------- trained models
class MeanPool(nn.Module):
    """Uniform weights over real tokens.

    forward(x (B, T, D), task_id, mask (B, T)) -> (pooled (B, D), weights (B, 1, T))
    """

    def forward(self, x, task_id, mask=None):
        from qattn_hybrid.layers.common import AttentionOutput

        m = torch.ones(x.shape[:2], dtype=x.dtype) if mask is None else mask.to(x.dtype)
        weights = (m / m.sum(1, keepdim=True))[:, None, :]  # (B, 1, T)
        return AttentionOutput((weights.transpose(1, 2) * x).sum(1), weights)


def train(kind: str, names: list[str], seed: int, tasks: dict, encoder, base: dict,
          epochs: int) -> dict:
    from qattn_hybrid.config.sections import Config
    from qattn_hybrid.data.loading import TaskData
    from qattn_hybrid.training.factory import build_optimizer, build_trainer

    with tempfile.TemporaryDirectory() as out:
        config = json.loads(json.dumps(base))
        config["model"]["attention"] = "classical" if kind == "mean" else kind
        config["data"]["tasks"] = names
        config["training"].update({"output_dir": out, "seed": seed, "epochs": epochs,
                                   "progress": False, "num_threads": 1, "patience": None})
        no_test = {n: TaskData(tasks[n].spec, tasks[n].labels, {
            s: d for s, d in tasks[n].splits.items() if s != "test"}) for n in names}
        trainer = build_trainer(Config.from_dict(config), tasks=no_test, encoder=encoder)
        if kind == "mean":  # the same model with the attention replaced by mean pooling
            trainer.model.attention = MeanPool()
            trainer.optimizer = build_optimizer(trainer.config.training, trainer.model,
                                                trainer.weighting)
        start = time.perf_counter()
        result = trainer.fit()  # ends with the best epoch's weights loaded
        seconds = time.perf_counter() - start
        metrics = test_metrics(trainer.model, {n: tasks[n] for n in names}, tasks)
        params = sum(p.numel() for n, p in trainer.model.named_parameters()
                     if p.requires_grad and not n.startswith("encoder."))
        return {"metrics": metrics, "seconds": seconds, "best_epoch": result.best_epoch,
                "trainable_params": params}


@torch.no_grad()
def test_metrics(model, names: dict, tasks: dict) -> dict:
    """Test metrics per task from one forward pass each (the rating outputs also rank items)."""
    model.eval()
    out = {}
    for name, task in names.items():
        test = task.split("test")
        logits = torch.cat([model(test.texts[s : s + 256], name).logits.double()
                            for s in range(0, len(test), 256)])
        out[name] = model.tasks[name].evaluate(logits, test.labels)
        if name == "clothing_rating":
            out["ranking"] = ranking(logits, tasks)
    return out


def length_check(args) -> None:
    """The probe at each max_length on the same rows (fixed alpha / C): which length to cache."""
    from qattn_hybrid.config.sections import ModelConfig
    from qattn_hybrid.data.loading import TaskData, load_tasks
    from qattn_hybrid.modeling.model import load_text_encoder

    torch.set_num_threads(1)
    tasks = subset(load_tasks(TASKS), args.train_rows, None, args.test_rows)
    tasks = {n: TaskData(t.spec, t.labels, {s: d for s, d in t.splits.items()
                                            if s != "validation"}) for n, t in tasks.items()}
    for length in args.length_check:
        encoder = load_text_encoder(ModelConfig(max_length=length), cache_dir=args.cache_dir)
        got = run_probe(tasks, encoder, fixed=True)
        _write(args.out, {"row": "probe_length", "mode": "single", "seed": None,
                          "max_length": length, "train_rows": len(tasks["clothing_rating"].train),
                          "test_rows": len(tasks["clothing_rating"].split("test")), **got})


def run(args) -> None:
    from qattn_hybrid.config.sections import ModelConfig, load_config
    from qattn_hybrid.data.loading import load_tasks
    from qattn_hybrid.modeling.model import load_text_encoder

    torch.set_num_threads(1)
    base = load_config(args.config).to_dict()
    base["model"]["max_length"] = args.max_length
    tasks = subset(load_tasks(TASKS), args.train_rows, args.val_rows, args.test_rows)
    encoder = load_text_encoder(ModelConfig(**base["model"]), cache_dir=args.cache_dir)
    common = {"train_rows": len(tasks["clothing_rating"].train),
              "val_rows": len(tasks["clothing_rating"].split("validation")),
              "test_rows": len(tasks["clothing_rating"].split("test")),
              "max_length": args.max_length, "machine": platform.processor() or platform.machine(),
              "date": time.strftime("%Y-%m-%d", time.gmtime()), "torch_threads": 1}
    encoder.cache.warm([t for task in tasks.values() for d in task.splits.values()
                        for t in d.texts])  # must be a no-op on a filled cache
    if "probe" in args.kinds:
        _write(args.out, {"row": "probe", "mode": "single", "seed": None, **common,
                          **run_probe(tasks, encoder)})
    for seed in args.seeds:
        for kind in [k for k in args.kinds if k != "probe"]:
            for mode in args.modes:
                groups = [[t] for t in TASKS] if mode == "single" else [TASKS]
                for names in groups:
                    got = train(kind, names, seed, tasks, encoder, base, args.epochs)
                    _write(args.out, {"row": kind, "mode": mode, "tasks": names, "seed": seed,
                                      **common, **got})


def _write(path: str, record: dict) -> None:
    log.info("%s", json.dumps(record)[:300])
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


# --------------------------------------------------------------------------- summary
SHOW = [("clothing_rating", "mae"), ("clothing_rating", "r2"), ("clothing_recommend", "roc_auc"),
        ("clothing_recommend", "macro_f1"), ("clothing_department", "accuracy"),
        ("ranking", "ndcg@10"), ("ranking", "spearman"), ("ranking", "precision@10")]
MORE = [("clothing_rating", "rmse"), ("clothing_rating", "spearman"),
        ("clothing_recommend", "accuracy"), ("clothing_recommend", "not_recommended_precision"),
        ("clothing_recommend", "not_recommended_recall"), ("clothing_department", "macro_f1")]


def merged(records: list[dict]) -> dict:
    """(row, mode, seed) -> {task: metrics}, single-task runs merged into one entry."""
    out: dict = {}
    for r in records:
        out.setdefault((r["row"], r["mode"], r["seed"]), {}).update(r["metrics"])
    return out


def delta_m(metrics: dict, base: dict) -> float:
    terms = []
    for task, spec in DELTA_METRICS.items():
        rel = [(-1 if low else 1) * (metrics[task][m] - base[task][m]) / base[task][m]
               for m, low in spec.items()]
        terms.append(sum(rel) / len(rel))
    return 100 * sum(terms) / len(terms)


def summarize(path: str, show: list = SHOW) -> str:
    records = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    runs = merged([r for r in records if r["row"] != "probe_length"])
    probe = next(v for (row, _, _), v in runs.items() if row == "probe")
    lines = ["| row | mode | seeds | " + " | ".join(f"{t.split('_')[-1]} {m}" for t, m in show)
             + " | Δm vs probe | Δm vs single |", "|" + "---|" * (len(show) + 5)]
    for row, mode in dict.fromkeys((k[0], k[1]) for k in runs):
        seeds = sorted((k[2] for k in runs if k[:2] == (row, mode)), key=str)
        got = [runs[(row, mode, s)] for s in seeds]
        if any(set(g) < set(DELTA_METRICS) | {"ranking"} for g in got):
            continue  # an unfinished single-task set
        cells = [_mean_std([g[t][m] for g in got]) for t, m in show]
        dprobe = _mean_std([delta_m(g, probe) for g in got], pct=True)
        singles = [runs.get((row, "single", s)) or {} for s in seeds]
        complete = all(set(DELTA_METRICS) <= set(b) for b in singles)
        dsingle = (_mean_std([delta_m(g, b) for g, b in zip(got, singles)], pct=True)
                   if mode == "multi" and complete else "")
        lines.append(f"| {row} | {mode} | {len(seeds)} | " + " | ".join(cells)
                     + f" | {dprobe} | {dsingle} |")
    return "\n".join(lines)


def _mean_std(values: list[float], pct: bool = False) -> str:
    fmt = "{:+.2f}" if pct else "{:.3f}"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.mean(values))} ± {statistics.stdev(values):.3f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "recommend.toml"))
    p.add_argument("--cache-dir", default="/work/feature_cache")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--train-rows", type=int, default=2000, help="0: the whole train split")
    p.add_argument("--val-rows", type=int, default=600, help="0: the whole validation split")
    p.add_argument("--test-rows", type=int, default=0, help="0: the whole test split (else a "
                   "prefix, for smoke runs only)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--kinds", nargs="+", default=["probe", "mean", "classical", "quantum"])
    p.add_argument("--modes", nargs="+", default=["single", "multi"])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "recommend_runs.jsonl"))
    p.add_argument("--summarize", metavar="JSONL", help="print the markdown table and exit")
    p.add_argument("--all-metrics", action="store_true", help="with --summarize: every metric")
    p.add_argument("--length-check", type=int, nargs="+", metavar="L",
                   help="only the probe (alpha 1, C 10) at these max_lengths on --train-rows / "
                   "--test-rows, e.g. --length-check 64 128 --train-rows 1200 --test-rows 800")
    args = p.parse_args(argv)
    if args.summarize:
        print(summarize(args.summarize, SHOW + MORE if args.all_metrics else SHOW))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    length_check(args) if args.length_check else run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
