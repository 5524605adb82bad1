"""Ablations of the MAMS aspect-sentiment layer (issue #20) on cached per-layer token features.

    python benchmarks/ablate_aspects.py --dump runs/mams_states.pt      # once: every hidden state
    python benchmarks/ablate_aspects.py --states runs/mams_states.pt \\
        --run kind=quantum,score_layers=0.1.2,value_layers=4.5.6 --tag q_s012_v456 \\
        --out benchmarks/aspects_ablation_runs.jsonl

A scratch training loop, faster than ``qattn train`` for a grid: one frozen forward of
all-MiniLM-L6-v2 per sentence, every hidden state kept (float16), then the library's attention
layers (QuantumAttention / ClassicalAttention) and one linear head per aspect on top, trained on
all (sentence, aspect) pairs together. The best epoch is chosen on validation accuracy; the
test metrics are accuracy and macro-F1 over the 901 test pairs (as in bench_aspects.py).

Settings (``--run key=value,...``; lists with '.'):
  kind          quantum | classical | mean
  score_layers  hidden states whose mean the attention scores read (default 0.2.4.6)
  value_layers  hidden states whose mean the attention pools (default: score_layers)
  G, Q, L       circuits per task, qubits, ansatz layers (quantum); heads: attention heads
  reupload      1: the angles are re-encoded before every ansatz layer (quantum)
  context       quantum | classical: a task-conditioned self-attention encoder layer (pre-norm,
                feed-forward width D, context_heads heads, the same circuit) before the pooling
  window        the scores read each token with its +-window neighbours (mean), 0 = alone
  rnn           N > 0: a bidirectional GRU of N units per direction reads the tokens (the
                score-layer features) first; the attention scores and pools its outputs (a
                span-aware diagnostic: each token's vector then carries its neighbours)
  drop          dropout on the GRU outputs
  cond          the circuit's conditioning: per_task_weights | task_rotations (quantum)
  readout       z | z_zz: what each circuit measures (quantum)
  task_readout  1: each task its own readout of the circuits' values (quantum; default shared)
  gain          the angle map's initial weights times this (quantum)
  readout_lr    > 0: the attention's readout trains at this rate (default: lr)
  epochs, lr, head_lr, bs, seed
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn

DEFAULTS = {"kind": "quantum", "score_layers": "0.2.4.6", "value_layers": "", "G": 8, "Q": 4,
            "L": 2, "reupload": 0, "heads": 1, "window": 0, "epochs": 10, "lr": 3e-3,
            "head_lr": 1e-2, "bs": 32, "seed": 0, "context": "", "context_heads": 2, "rnn": 0,
            "drop": 0.0, "cond": "per_task_weights", "readout": "z",
            "task_readout": 0, "gain": 1.0, "readout_lr": 0.0}


def dump(path: str, config_path: str, prompt: bool = False) -> None:
    """Every hidden state of every MAMS sentence (train / validation / test), float16; with
    ``prompt``, of every (aspect name, sentence) pair encoded as a text pair."""
    from qattn_hybrid.config.sections import load_config
    from qattn_hybrid.data.loading import load_tasks
    from qattn_hybrid.modeling.encoders import load_encoder

    config = load_config(config_path)
    data = load_tasks(config.data.task_specs())
    pairs = {split: [(t.split(split).texts[i], k, int(t.split(split).labels[i]))
                     for k, t in enumerate(data.values()) for i in range(len(t.split(split).texts))]
             for split in ("train", "validation", "test")}
    names = [name.removeprefix("mams_") for name in data]
    sentences = sorted({(names[k], s) if prompt else s for rows in pairs.values()
                        for s, k, _ in rows})
    model, tokenizer = load_encoder(None)
    model.eval()
    states = {}
    with torch.inference_mode():
        for start in range(0, len(sentences), 64):
            batch = sentences[start:start + 64]
            text = ([a for a, _ in batch], [t for _, t in batch]) if prompt else (batch,)
            enc = tokenizer(*text, padding=True, truncation=True,
                            max_length=config.model.max_length, return_tensors="pt")
            hidden = torch.stack(model(**enc, output_hidden_states=True).hidden_states, 1)
            for s, h, m in zip(batch, hidden, enc["attention_mask"].bool()):
                states[s] = h[:, m].half().clone()  # (n_layers + 1, T, D)
    torch.save({"states": states, "pairs": pairs, "tasks": list(data), "prompt": prompt,
                "names": names}, path)


class Window(nn.Module):
    """Each token as the mean of itself and its +-w real neighbours (w = 0: unchanged)."""

    def __init__(self, w: int):
        super().__init__()
        self.w = w

    def forward(self, x, mask):
        if not self.w:
            return x
        m = mask[..., None].to(x.dtype)
        k = 2 * self.w + 1
        pad = lambda t: nn.functional.avg_pool1d(t.transpose(1, 2), k, 1, self.w,
                                                 count_include_pad=True).transpose(1, 2)
        return pad(x * m) / pad(m).clamp_min(1e-6) * m


class Model(nn.Module):
    def __init__(self, s: dict, d: int, n_tasks: int):
        super().__init__()
        from qattn_hybrid.layers.classical import ClassicalAttention, count_parameters
        from qattn_hybrid.layers.common import pool
        from qattn_hybrid.layers.quantum import QuantumAttention

        self.kind, self.pool, self.window = s["kind"], pool, Window(s["window"])
        self.rnn = None
        if s["rnn"]:
            self.rnn = nn.GRU(d, s["rnn"], batch_first=True, bidirectional=True)
            self.drop = nn.Dropout(s["drop"])
            d = 2 * s["rnn"]
        if s["kind"] == "quantum":
            self.attention = QuantumAttention(d, n_tasks, n_qubits=s["Q"], n_layers=s["L"],
                                              n_heads=s["heads"], n_circuits=s["G"],
                                              reupload=bool(s["reupload"]),
                                              conditioning=s["cond"], readout=s["readout"])
        elif s["kind"] == "classical":
            reference = QuantumAttention(d, n_tasks, n_qubits=s["Q"], n_layers=s["L"],
                                         n_heads=s["heads"], n_circuits=s["G"],
                                         conditioning="per_task_weights",
                                         qml_device="default.qubit")
            self.attention = ClassicalAttention.matching(count_parameters(reference), d, n_tasks,
                                                         s["heads"])
        self.context = None
        if s["context"]:  # a task-conditioned self-attention layer before the pooling
            from qattn_hybrid.layers.self_attention import (ClassicalSelfAttention,
                                                            QuantumEncoderLayer)

            self.context = QuantumEncoderLayer(
                d, n_tasks, dim_feedforward=d, dropout=0.1, norm_first=True,
                n_heads=s["context_heads"], n_qubits=s["Q"], n_layers=s["L"],
                conditioning="per_task_weights")
            if s["context"] == "classical":
                self.context.self_attn = ClassicalSelfAttention(
                    d, n_heads=s["context_heads"], spec=self.context.self_attn.spec)
            for linear in (self.context.self_attn.out, self.context.feed_forward[-1]):
                nn.init.zeros_(linear.weight)  # both residual branches start at 0
                nn.init.zeros_(linear.bias)
        if s["kind"] == "quantum" and s["gain"] != 1.0:
            with torch.no_grad():
                self.attention.to_angles.weight.mul_(s["gain"])
        self.task_readout = None
        if s["task_readout"]:  # (K, H, G·n_out), zero: the layer starts as mean pooling
            readout = self.attention.readout.weight
            self.task_readout = nn.Parameter(readout.new_zeros(n_tasks, *readout.shape))
        self.heads = nn.ModuleList(nn.Linear(d, 3) for _ in range(n_tasks))

    def forward(self, xs, xv, mask, tasks):
        task = int(tasks[0]) if bool((tasks == tasks[0]).all()) else tasks
        if self.context is not None:
            xs = xv = self.context(xs, task, mask).out
        if self.rnn is not None:
            lengths = mask.sum(1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(xs, lengths, batch_first=True,
                                                       enforce_sorted=False)
            out, _ = self.rnn(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                      total_length=xs.shape[1])
            xs = xv = self.drop(out)
        if self.kind == "mean":
            pooled = (xv * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        else:
            if self.task_readout is not None:
                z = self.attention.expectation_values(self.window(xs, mask), task, mask)
                scores = torch.einsum("btj,bhj->bht", z, self.task_readout[tasks])
                scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
            else:
                scores = self.attention.scores(self.window(xs, mask), task, mask)
            pooled = self.pool(scores, xv).pooled
        pooled = nn.functional.normalize(pooled, dim=-1)  # unit length, as normalize_pooled
        weight = torch.stack([h.weight for h in self.heads])[tasks]  # (B, 3, D)
        bias = torch.stack([h.bias for h in self.heads])[tasks]
        return torch.einsum("bcd,bd->bc", weight, pooled) + bias


def batches(rows, states, s, shuffle: bool, generator=None, names=None):
    bs = s["bs"]
    # one task per batch, as the library's trainer steps (the circuit's per-row-task path is
    # ~10x slower); training: rows shuffled within each task, then the batches shuffled
    order = torch.randperm(len(rows), generator=generator).tolist() if shuffle else range(len(rows))
    by_task = {}
    for i in order:
        by_task.setdefault(rows[i][1], []).append(i)
    chunks = [idx[j:j + bs] for idx in by_task.values() for j in range(0, len(idx), bs)]
    if shuffle:
        chunks = [chunks[i] for i in torch.randperm(len(chunks), generator=generator).tolist()]
    score_layers = [int(i) for i in s["score_layers"].split(".")]
    value_layers = [int(i) for i in (s["value_layers"] or s["score_layers"]).split(".")]
    for idx in chunks:
        chunk = [rows[i] for i in idx]
        hs = [states[(names[k], text) if names else text] for text, k, _ in chunk]
        T = max(h.shape[1] for h in hs)
        D = hs[0].shape[-1]
        xs = torch.zeros(len(hs), T, D)
        xv = torch.zeros(len(hs), T, D)
        mask = torch.zeros(len(hs), T, dtype=torch.bool)
        for i, h in enumerate(hs):
            xs[i, :h.shape[1]] = h[score_layers].float().mean(0)
            xv[i, :h.shape[1]] = h[value_layers].float().mean(0)
            mask[i, :h.shape[1]] = True
        yield (xs, xv, mask, torch.tensor([k for _, k, _ in chunk]),
               torch.tensor([y for _, _, y in chunk]))


def macro_f1(pred: list[int], true: list[int]) -> float:
    f1 = []
    for c in sorted(set(true)):
        tp = sum(p == y == c for p, y in zip(pred, true))
        n = sum(p == c for p in pred) + sum(y == c for y in true)
        f1.append(2 * tp / n if n else 0.0)
    return statistics.mean(f1)


def evaluate(model, rows, states, s, names=None) -> tuple[float, float]:
    pred, true = [], []
    model.eval()
    with torch.no_grad():
        for xs, xv, mask, tasks, y in batches(rows, states, s | {"bs": 128}, False,
                                              names=names):
            pred += model(xs, xv, mask, tasks).argmax(-1).tolist()
            true += y.tolist()
    model.train()
    return 100 * sum(p == y for p, y in zip(pred, true)) / len(true), 100 * macro_f1(pred, true)


def run(settings: dict, blob: dict) -> dict:
    s = DEFAULTS | settings
    torch.manual_seed(s["seed"])
    states, pairs = blob["states"], blob["pairs"]
    names = blob["names"] if blob.get("prompt") else None
    d = next(iter(states.values())).shape[-1]
    model = Model(s, d, len(blob["tasks"]))
    attention = [p for n, p in model.named_parameters() if not n.startswith("heads.")]
    readout = [p for n, p in model.named_parameters()
               if s["readout_lr"] and n.startswith(("attention.readout", "task_readout"))]
    rest = [p for p in attention if not any(p is q for q in readout)]
    groups = [{"params": model.heads.parameters(), "lr": s["head_lr"]},
              {"params": rest, "lr": s["lr"]}]
    if readout:
        groups.append({"params": readout, "lr": s["readout_lr"]})
    optimiser = torch.optim.Adam(groups)
    generator = torch.Generator().manual_seed(s["seed"])
    best = (-1.0, None, 0)
    start = time.perf_counter()
    for epoch in range(1, s["epochs"] + 1):
        for xs, xv, mask, tasks, y in batches(pairs["train"], states, s, True, generator,
                                              names):
            loss = nn.functional.cross_entropy(model(xs, xv, mask, tasks), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        val, _ = evaluate(model, pairs["validation"], states, s, names)
        if val > best[0]:
            best = (val, evaluate(model, pairs["test"], states, s, names), epoch)
    val, (acc, f1), epoch = best
    return s | {"prompt": bool(names), "val": val, "test_acc": acc, "test_f1": f1,
                "best_epoch": epoch,
                "params": sum(p.numel() for p in attention),
                "s": round(time.perf_counter() - start, 1)}


def parse(text: str) -> dict:
    out = {}
    for item in filter(None, text.split(",")):
        key, value = item.split("=", 1)
        if key not in DEFAULTS:
            raise SystemExit(f"--run keys must be among {', '.join(DEFAULTS)}; got {key!r}")
        out[key] = type(DEFAULTS[key])(value) if not isinstance(DEFAULTS[key], str) else value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/aspects.toml")
    parser.add_argument("--dump", metavar="PT", help="write every sentence's hidden states")
    parser.add_argument("--prompt", action="store_true",
                        help="--dump (aspect name, sentence) text pairs instead of sentences")
    parser.add_argument("--states", metavar="PT", help="the --dump file to train on")
    parser.add_argument("--run", action="append", default=[], metavar="KEY=VALUE,...")
    parser.add_argument("--tag", action="append", default=[], help="a name per --run")
    parser.add_argument("--out", default="benchmarks/aspects_ablation_runs.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.dump:
        dump(args.dump, args.config, args.prompt)
        return
    blob = torch.load(args.states)
    for i, spec in enumerate(args.run):
        row = {"tag": args.tag[i] if i < len(args.tag) else spec} | run(parse(spec), blob)
        with Path(args.out).open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{row['tag']}: test {row['test_acc']:.1f} / {row['test_f1']:.1f} "
              f"(val {row['val']:.1f}, epoch {row['best_epoch']}, {row['s']} s)", flush=True)


if __name__ == "__main__":
    main()
