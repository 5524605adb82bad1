"""Frozen-encoder runtimes side by side (issue #15): torch, onnxruntime and int8, same texts.

    python benchmarks/bench_encoder.py --texts 1000 --repeats 3 --out benchmarks/encoder_runs.jsonl

The bundled all-MiniLM-L6-v2 encodes the same texts (``--texts`` tweets and as many CLINC
queries, drawn with a fixed seed from the train splits) through the library's own encode path
(``TokenFeatureCache._compute``: length-sorted batches of 64, tokenizer, encoder, padding masked)
with each runtime swapped in as the model:

    torch-fp32        the transformers model, torch float32 (the library's default)
    torch-int8        ``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear`` (qint8)
    ort-fp32          the model exported with ``torch.onnx.export(dynamo=True)``, onnxruntime
    ort-int8          that graph through ``onnxruntime.quantization.quantize_dynamic`` (QInt8)

each with 1 and 2 threads (torch intra-op threads; onnxruntime ``intra_op_num_threads``), at
``--max-lengths`` 32 and 64. A warm-up on every 8th text per runtime, then ``--repeats`` rounds in which
every runtime runs once (interleaved, so load drifts hit all alike); medians of wall and CPU
time. Each runtime's masked-mean features are compared with torch-fp32's (max abs difference,
and the token features' too). One JSON line per (runtime, threads, max_length).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
from torch import nn

THREADS = (1, 2)


class OrtModel(nn.Module):
    """An onnxruntime session behind the ``model(**enc).last_hidden_state`` call the library makes
    (its one parameter only tells ``_run_encoder`` the device)."""

    def __init__(self, path: str, config, threads: int):
        import onnxruntime as ort

        super().__init__()
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.config = config
        self.anchor = nn.Parameter(torch.zeros(()), requires_grad=False)

    def forward(self, **enc):
        feeds = {name: enc[name].numpy() for name in self.inputs}
        (hidden,) = self.session.run(None, feeds)
        return types.SimpleNamespace(last_hidden_state=torch.from_numpy(hidden))


class _Graph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state


def export_onnx(model, tokenizer, directory: Path) -> tuple[str, str]:
    """fp32 and int8 ONNX files of the encoder, batch and tokens dynamic."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    enc = tokenizer(["a first sample text", "and a second, longer sample text here"],
                    padding=True, return_tensors="pt")
    args = (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens", max=512)
    shapes = tuple({0: batch, 1: tokens} for _ in args)
    fp32, int8 = str(directory / "encoder.onnx"), str(directory / "encoder-int8.onnx")
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(_Graph(model).eval(), args, fp32, dynamo=True, dynamic_shapes=shapes,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          external_data=False)
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # one INFO line per tensor otherwise
    try:
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return fp32, int8


def sample_texts(n: int, seed: int) -> list[str]:
    from qattn_hybrid.data.loading import load_tasks

    data = load_tasks(["fin_sentiment", "clinc_intent"])
    rng = random.Random(seed)
    texts = []
    for task in data.values():
        pool = list(dict.fromkeys(task.splits["train"].texts))
        texts += rng.sample(pool, n)
    return texts


def runtimes(model, tokenizer, directory: Path) -> dict:
    """name -> (threads -> model object the library's encode path can call)."""
    fp32_onnx, int8_onnx = export_onnx(model, tokenizer, directory)
    int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {nn.Linear},
                                                  dtype=torch.qint8)
    return {"torch-fp32": {t: model for t in THREADS},
            "torch-int8": {t: int8 for t in THREADS},
            "ort-fp32": {t: OrtModel(fp32_onnx, model.config, t) for t in THREADS},
            "ort-int8": {t: OrtModel(int8_onnx, model.config, t) for t in THREADS}}


def encode(model, tokenizer, texts, max_length: int, threads: int) -> tuple[list, float, float]:
    """Token features per text via the library's path; wall and CPU seconds."""
    from qattn_hybrid.modeling.encoders import TokenFeatureCache

    cache = TokenFeatureCache.__new__(TokenFeatureCache)  # no fingerprint: nothing is stored
    cache.model, cache.tokenizer = model, tokenizer
    cache.max_length, cache.batch_size, cache.storage_dtype = max_length, 64, torch.float32
    torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    rows = cache._compute(texts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    torch.set_num_threads(1)
    return rows, wall, cpu


def differences(rows, reference) -> dict:
    pooled = max(float((r.mean(0) - f.mean(0)).abs().max()) for r, f in zip(rows, reference))
    token = max(float((r - f).abs().max()) for r, f in zip(rows, reference))
    return {"max_abs_diff_pooled": pooled, "max_abs_diff_tokens": token}


def summarize(path: str) -> str:
    """Markdown table of a runs file: one row per (runtime, threads), both max_lengths; (x) is
    the speed-up over torch-fp32 with 1 thread (wall, and CPU time: the whole process's)."""
    records = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    lengths = sorted({r["max_length"] for r in records})
    rows: dict[tuple, dict] = {}
    for r in records:
        rows.setdefault((r["runtime"], r["threads"]), {})[r["max_length"]] = r
    head = " | ".join(f"L={n} texts/s wall (x) | L={n} CPU s (x) | L={n} pooled max abs diff"
                      for n in lengths)
    base = {r["max_length"]: r["cpu_s"] for r in records
            if r["runtime"] == "torch-fp32" and r["threads"] == 1}
    lines = [f"| runtime | threads | {head} |", "|---|---|" + "---|---|---|" * len(lengths)]
    for (name, threads), by_length in rows.items():
        cells = []
        for n in lengths:
            r = by_length.get(n)
            cells += ([f"{r['texts_per_s']:,.0f} (x{r['speedup_vs_torch_fp32_1thread']:.2f})",
                       f"{r['cpu_s']:.1f} (x{base[n] / r['cpu_s']:.2f})",
                       f"{r['max_abs_diff_pooled']:.1e}"]
                      if r else ["–"] * 3)
        lines.append(f"| {name} | {threads} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--summarize", metavar="JSONL", help="print the table of a runs file")
    p.add_argument("--texts", type=int, default=1000, help="tweets and CLINC queries, each")
    p.add_argument("--max-lengths", default="32,64")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--machine", default="")
    p.add_argument("--out", default="benchmarks/encoder_runs.jsonl")
    args = p.parse_args(argv)
    if args.summarize:
        print(summarize(args.summarize))
        return 0
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("qattn_hybrid.modeling.encoders").setLevel(logging.ERROR)  # truncation notes
    from qattn_hybrid.modeling.encoders import load_encoder

    torch.set_num_threads(1)
    texts = sample_texts(args.texts, args.seed)
    model, tokenizer = load_encoder()
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        variants = runtimes(model, tokenizer, Path(tmp))
        for max_length in [int(x) for x in args.max_lengths.split(",")]:
            run_length(variants, tokenizer, texts, max_length, args)
    return 0


def run_length(variants, tokenizer, texts, max_length: int, args) -> None:
    reference, _, _ = encode(variants["torch-fp32"][1], tokenizer, texts, max_length, 1)
    times: dict[tuple, list] = {}
    diffs = {}
    for name, by_threads in variants.items():  # warm-up: a few batches each
        for threads, model in by_threads.items():
            encode(model, tokenizer, texts[::8], max_length, threads)
    for _ in range(args.repeats):
        for name, by_threads in variants.items():
            for threads, model in by_threads.items():
                rows, wall, cpu = encode(model, tokenizer, texts, max_length, threads)
                times.setdefault((name, threads), []).append((wall, cpu))
                diffs.setdefault((name, threads), differences(rows, reference))
    base = statistics.median(w for w, _ in times[("torch-fp32", 1)])
    load = os.getloadavg()[0]
    with open(args.out, "a") as f:
        for (name, threads), values in times.items():
            wall = statistics.median(w for w, _ in values)
            cpu = statistics.median(c for _, c in values)
            record = {"runtime": name, "threads": threads, "max_length": max_length,
                      "texts": len(texts), "repeats": args.repeats,
                      "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                      "texts_per_s": round(len(texts) / wall, 1),
                      "speedup_vs_torch_fp32_1thread": round(base / wall, 3),
                      **diffs[(name, threads)], "load_avg_1min": round(load, 2),
                      "machine": args.machine, "torch": torch.__version__,
                      "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
            f.write(json.dumps(record) + "\n")
            print(f"L={max_length} {name:10s} {threads}t: {record['texts_per_s']:8.1f} texts/s "
                  f"x{record['speedup_vs_torch_fp32_1thread']:.2f} pooled diff "
                  f"{record['max_abs_diff_pooled']:.2e}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
