"""Quantum self-attention (QSANN-style) against classical self-attention and attention pooling.

    python benchmarks/bench_self_attention.py speed     [--batch 16] [--tokens 32] [--repeats 5]
    python benchmarks/bench_self_attention.py accuracy  [--train 800] [--test 500] [--epochs 8]

`speed`: forward+backward tokens/s of each layer on random (B, T, 384) features, one torch
thread, one warm-up pass, median of --repeats timed passes.

`accuracy`: per-task test accuracy of small multi-task models on the bundled data
(clinc_domain, 11-way; fin_sentiment, 3-way), a seeded subset of each task, with frozen
all-MiniLM-L6-v2 token features (cached under --cache-dir). Every model is

    features (B, T, 384), task ─attention[task]─> pooled (B, 384) ─head[task]─> logits

with the pooled features being, per variant:
    quantum_self    mean over real tokens of x + QuantumSelfAttention(x)   (QSANN: residual, mean)
    classical_self  the same with ClassicalSelfAttention (circuits -> per-task classical maps)
    quantum_pool    QuantumAttention (task-conditioned quantum attention pooling)
    classical_pool  ClassicalAttention with the quantum pooling layer's parameter count
    mean_pool       mean over real tokens (no attention at all: the floor)
Training: AdamW (lr 3e-3), batch 32, tasks alternating step by step, fixed epochs, the final
model evaluated once on the test subset. JSON lines on stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from torch import nn

from qattn_hybrid.layers.classical import ClassicalAttention, count_parameters
from qattn_hybrid.layers.quantum import QuantumAttention
from qattn_hybrid.layers.self_attention import ClassicalSelfAttention, QuantumSelfAttention

D_MODEL = 384  # all-MiniLM-L6-v2 hidden size
TASKS = ("clinc_domain", "fin_sentiment")


# ----------------------------------------------------------------------------- layers
def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D), (B, T) -> (B, D) mean over real tokens."""
    return (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).to(x.dtype)


class ResidualMeanPool(nn.Module):
    """QSANN's readout: mean over real tokens of x + self_attention(x)."""

    def __init__(self, attention: nn.Module | None):
        super().__init__()
        self.attention = attention

    def forward(self, x, task_id, mask):
        if self.attention is None:
            return masked_mean(x, mask)
        return masked_mean(x + self.attention(x, task_id, mask).out, mask)


class Pool(nn.Module):
    """Attention pooling (QuantumAttention / ClassicalAttention) -> pooled (B, D)."""

    def __init__(self, attention: nn.Module):
        super().__init__()
        self.attention = attention

    def forward(self, x, task_id, mask):
        return self.attention(x, task_id, mask).pooled


def make_layer(kind: str, n_tasks: int, args, device: str | None = None,
               batching: str = "stacked") -> nn.Module:
    q = dict(n_qubits=args.qubits, n_layers=args.layers, n_heads=args.heads)
    if kind == "quantum_self":
        return ResidualMeanPool(QuantumSelfAttention(D_MODEL, n_tasks, qml_device=device,
                                                     batching=batching, **q))
    if kind == "classical_self":
        return ResidualMeanPool(ClassicalSelfAttention(D_MODEL, n_tasks, n_heads=args.heads,
                                                       hidden=args.qubits, n_features=args.qubits))
    if kind == "quantum_pool":
        return Pool(QuantumAttention(D_MODEL, n_tasks, qml_device=device or "qattn.torch", **q))
    if kind == "classical_pool":
        reference = QuantumAttention(D_MODEL, n_tasks, **q)
        return Pool(ClassicalAttention.matching(count_parameters(reference), D_MODEL, n_tasks,
                                                args.heads))
    if kind == "mean_pool":
        return ResidualMeanPool(None)
    raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")


KINDS = ("quantum_self", "classical_self", "quantum_pool", "classical_pool", "mean_pool")


# ----------------------------------------------------------------------------- speed
def time_layer(layer: nn.Module, B: int, T: int, repeats: int) -> float:
    torch.manual_seed(0)
    x = torch.randn(B, T, D_MODEL)
    mask = torch.ones(B, T, dtype=torch.bool)

    def step() -> float:
        start = time.perf_counter()
        layer.zero_grad(set_to_none=True)
        layer(x, 0, mask).sum().backward()
        return time.perf_counter() - start

    step()  # warm-up
    return statistics.median(step() for _ in range(repeats))


def speed(args) -> None:
    variants = [("quantum_self", None, "stacked"), ("quantum_self", None, "per_circuit"),
                ("quantum_self", "default.qubit", "stacked"), ("classical_self", None, None),
                ("quantum_pool", None, None), ("classical_pool", None, None)]
    for B in args.batch:
        for T in args.tokens:
            for kind, device, batching in variants:
                torch.manual_seed(0)
                layer = make_layer(kind, 2, args, device=device, batching=batching or "stacked")
                seconds = time_layer(layer, B, T, args.repeats)
                inner = getattr(layer, "attention", None)
                row = {"bench": "self_attention_speed", "layer": kind,
                       "device": getattr(inner, "qml_device", None), "batching": batching,
                       "batch": B, "tokens": T, "d_model": D_MODEL, "n_qubits": args.qubits,
                       "n_layers": args.layers, "n_heads": args.heads,
                       "parameters": count_parameters(layer), "median_s": round(seconds, 5),
                       "tokens_per_s": round(B * T / seconds), "repeats": args.repeats,
                       "threads": torch.get_num_threads(), "machine": platform.machine()}
                print(json.dumps(row), flush=True)


# ----------------------------------------------------------------------------- accuracy
def load_features(args):
    """{task: (train, test)} each (features (N, T, D), mask (N, T), labels (N,)) on a subset."""
    from qattn_hybrid.data.loading import load_tasks
    from qattn_hybrid.modeling.encoders import TokenFeatureCache, load_encoder

    model, tokenizer = load_encoder()
    cache = TokenFeatureCache(model, tokenizer, cache_dir=args.cache_dir, max_length=32)
    g = torch.Generator().manual_seed(args.seed)
    data, n_labels = {}, {}
    for name, task in load_tasks(list(TASKS)).items():
        n_labels[name] = task.num_labels
        parts = []
        for split, n in (("train", args.train), ("test", args.test)):
            rows = task.split(split)
            texts, labels = rows.batch(torch.randperm(len(rows), generator=g)[:n])
            features, mask = cache.encode(texts)
            parts.append((features, mask, labels))
        data[name] = parts
    return data, n_labels


def batches(n: int, size: int, g: torch.Generator):
    order = torch.randperm(n, generator=g)
    return [order[i:i + size] for i in range(0, n, size)]


def train_and_test(kind: str, data, n_labels, args) -> dict:
    torch.manual_seed(args.seed)
    names = list(data)
    pool = make_layer(kind, len(names), args)
    heads = nn.ModuleDict({n: nn.Linear(D_MODEL, n_labels[n]) for n in names})
    params = list(pool.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    for _ in range(args.epochs):
        per_task = {n: batches(len(data[n][0][2]), 32, g) for n in names}
        steps = [(n, idx) for i in range(max(map(len, per_task.values())))
                 for n in names if i < len(per_task[n]) for idx in [per_task[n][i]]]
        for n, idx in steps:  # tasks alternate step by step
            features, mask, labels = data[n][0]
            m = mask[idx]
            T = int(m.sum(1).max())
            logits = heads[n](pool(features[idx, :T], names.index(n), m[:, :T]))
            loss = nn.functional.cross_entropy(logits, labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    train_s = time.perf_counter() - start
    accuracy = {}
    with torch.no_grad():
        for n in names:
            features, mask, labels = data[n][1]
            preds = torch.cat([heads[n](pool(features[i:i + 256], names.index(n), mask[i:i + 256]))
                               .argmax(-1) for i in range(0, len(labels), 256)])
            accuracy[n] = round(float((preds == labels).float().mean()), 4)
    return {"bench": "self_attention_accuracy", "layer": kind, "accuracy": accuracy,
            "mean_accuracy": round(sum(accuracy.values()) / len(accuracy), 4),
            "attention_parameters": count_parameters(pool), "train_s": round(train_s, 1),
            "epochs": args.epochs, "train_per_task": args.train, "test_per_task": args.test,
            "seed": args.seed, "n_qubits": args.qubits, "n_layers": args.layers,
            "n_heads": args.heads, "device": getattr(getattr(pool, "attention", None),
                                                     "qml_device", None),
            "threads": torch.get_num_threads()}


def accuracy(args) -> None:
    data, n_labels = load_features(args)
    for kind in args.kinds:
        print(json.dumps(train_and_test(kind, data, n_labels, args)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("speed", "accuracy"))
    parser.add_argument("--qubits", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=1)
    parser.add_argument("--batch", type=int, nargs="+", default=[16])
    parser.add_argument("--tokens", type=int, nargs="+", default=[32])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train", type=int, default=800, help="train rows per task")
    parser.add_argument("--test", type=int, default=500, help="test rows per task")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--cache-dir", default=".cache/qattn-features")
    args = parser.parse_args()
    torch.set_num_threads(1)
    speed(args) if args.part == "speed" else accuracy(args)


if __name__ == "__main__":
    main()
