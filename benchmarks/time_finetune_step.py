"""Seconds per fine-tuning step of the bundled MiniLM on real texts, split into forward,
backward and AdamW step: what to expect of a fine-tuning epoch before starting one, and what
fixing the embeddings and length-sorted batches save (issue #11 item 5).

    python benchmarks/time_finetune_step.py --task clinc_intent --steps 12 --threads 1

Modes (one line each, JSON): ``all`` (every encoder parameter trains), ``no_embeddings`` (the
library default: token / position embeddings fixed), ``top3`` (only the top 3 of 6 layers),
each on length-sorted batches (rows of a random sample sorted by length within chunks, batches
shuffled, as ``training.length_buckets`` does), and ``no_embeddings_random`` (plain random
batches). A surrogate loss on the pooled features stands in for the heads (their cost is
negligible next to the encoder's). The first step of every mode is a warm-up, not timed; the
medians of the rest are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time

import torch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="clinc_intent")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--modes", default="all,no_embeddings,top3,no_embeddings_random")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from qattn_hybrid.config.sections import DataConfig
    from qattn_hybrid.data.loading import load_tasks
    from qattn_hybrid.modeling.encoders import _run_encoder, load_encoder

    texts = list(load_tasks(DataConfig(tasks=[args.task]).task_specs())[args.task].train.texts)
    model, tokenizer = load_encoder(None)
    model.train()
    rng = random.Random(0)
    sample = rng.sample(range(len(texts)), (args.steps + 1) * args.batch_size)
    random_batches = [sample[i : i + args.batch_size]
                      for i in range(0, len(sample), args.batch_size)]
    ordered = sorted(sample, key=lambda i: len(texts[i]))
    sorted_batches = [ordered[i : i + args.batch_size]
                      for i in range(0, len(ordered), args.batch_size)]
    rng.shuffle(sorted_batches)
    for mode in args.modes.split(","):
        model.requires_grad_(True)
        if mode != "all":
            model.embeddings.requires_grad_(False)
        if mode == "top3":
            for layer in model.encoder.layer[:3]:
                layer.requires_grad_(False)
        optimizer = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad],
                                      lr=2e-5)
        batches = random_batches if mode.endswith("_random") else sorted_batches
        times = {"forward": [], "backward": [], "optimizer": []}
        for k, batch in enumerate(batches[: args.steps + 1]):
            t0 = time.perf_counter()
            features, mask = _run_encoder(model, tokenizer, [texts[i] for i in batch],
                                          args.max_length)
            loss = features.sum(1).pow(2).mean() * 1e-6
            t1 = time.perf_counter()
            optimizer.zero_grad()
            loss.backward()
            t2 = time.perf_counter()
            optimizer.step()
            t3 = time.perf_counter()
            if k:  # the first step warms up
                for name, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
                    times[name].append(dt)
        med = {k: round(statistics.median(v), 3) for k, v in times.items()}
        print(json.dumps({"task": args.task, "mode": mode, "batch_size": args.batch_size,
                          "threads": args.threads, **med,
                          "step": round(sum(med.values()), 3),
                          "trainable": sum(q.numel() for q in model.parameters()
                                           if q.requires_grad),
                          "load": round(os.getloadavg()[0], 1)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
