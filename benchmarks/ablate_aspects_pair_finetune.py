"""Fine-tune MiniLM on MAMS with the aspect as a text pair (BERT-pair style), a scratch loop.

    python benchmarks/ablate_aspects_pair_finetune.py pair [threads]    # "food [SEP] sentence"
    python benchmarks/ablate_aspects_pair_finetune.py plain [threads]   # the sentence alone

Mean pooling of the last layer (unit length, logits x 20), one 3-way head per aspect, AdamW
(encoder lr 5e-5, heads 1e-3), batch 32, 3 epochs, seed 0. Prints one JSON line per epoch:
validation and test (accuracy, macro-F1) over all (sentence, aspect) pairs.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qattn_hybrid.config.sections import load_config  # noqa: E402
from qattn_hybrid.data.loading import load_tasks  # noqa: E402
from qattn_hybrid.modeling.encoders import load_encoder  # noqa: E402


def main() -> None:
    pair = sys.argv[1] == "pair"
    torch.manual_seed(0)
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    data = load_tasks(load_config("configs/aspects.toml").data.task_specs())
    names = [n.removeprefix("mams_") for n in data]
    pairs = {split: [(t.split(split).texts[i], k, int(t.split(split).labels[i]))
                     for k, t in enumerate(data.values())
                     for i in range(len(t.split(split).texts))]
             for split in ("train", "validation", "test")}
    model, tokenizer = load_encoder(None)
    heads = nn.Linear(model.config.hidden_size, 3 * len(names))
    optimiser = torch.optim.AdamW([{"params": model.parameters(), "lr": 5e-5},
                                   {"params": heads.parameters(), "lr": 1e-3}])

    def logits(rows):
        texts = [t for t, _, _ in rows]
        segments = ([names[k] for _, k, _ in rows], texts) if pair else (texts,)
        enc = tokenizer(*segments, padding=True, truncation=True, max_length=128,
                        return_tensors="pt")
        mask = enc["attention_mask"][..., None].float()
        pooled = (model(**enc).last_hidden_state * mask).sum(1) / mask.sum(1)
        out = heads(nn.functional.normalize(pooled, dim=-1)).view(len(rows), len(names), 3)
        return out[torch.arange(len(rows)), torch.tensor([k for _, k, _ in rows])]

    def evaluate(rows):
        model.eval()
        with torch.no_grad():
            pred = [p for s in range(0, len(rows), 64)
                    for p in logits(rows[s:s + 64]).argmax(-1).tolist()]
        model.train()
        true = [y for _, _, y in rows]
        f1 = [2 * sum(p == y == c for p, y in zip(pred, true))
              / max(1, sum(p == c for p in pred) + sum(y == c for y in true)) for c in range(3)]
        return 100 * sum(p == y for p, y in zip(pred, true)) / len(true), 100 * statistics.mean(f1)

    train, start = pairs["train"], time.time()
    for epoch in range(1, 4):
        order = torch.randperm(len(train)).tolist()
        for s in range(0, len(order), 32):
            rows = [train[j] for j in order[s:s + 32]]
            y = torch.tensor([label for _, _, label in rows])
            loss = nn.functional.cross_entropy(logits(rows) * 20, y)  # unit-norm pooled
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        print(json.dumps({"mode": sys.argv[1], "epoch": epoch,
                          "val": evaluate(pairs["validation"]), "test": evaluate(pairs["test"]),
                          "s": round(time.time() - start)}), flush=True)


if __name__ == "__main__":
    main()
