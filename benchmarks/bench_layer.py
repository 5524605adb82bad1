"""Forward+backward throughput of QuantumAttention (tokens/s), JSON lines on stdout.

    python benchmarks/bench_layer.py [--device default.qubit] [--qubits 4 8] [--tokens 256 4096]

One torch thread (shared machines make two threads 11-39x slower, see NOTES.md), one
warm-up pass, then the median of --repeats timed passes. All T tokens are one sequence
(B=1), so the whole batch goes through the circuit in one call.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from qattn_hybrid import QuantumAttention


def time_layer(device: str, n_qubits: int, n_tokens: int, repeats: int, d_model: int) -> dict:
    torch.manual_seed(0)
    layer = QuantumAttention(d_model, n_tasks=2, n_qubits=n_qubits, n_layers=2,
                             qml_device=device).double()
    x = torch.randn(1, n_tokens, d_model, dtype=torch.float64)

    def step() -> float:
        start = time.perf_counter()
        layer.zero_grad(set_to_none=True)
        layer(x, 0).pooled.sum().backward()
        return time.perf_counter() - start

    step()  # warm-up
    seconds = statistics.median(step() for _ in range(repeats))
    return {"bench": "layer", "device": device, "n_qubits": n_qubits, "n_layers": 2,
            "n_tokens": n_tokens, "median_s": round(seconds, 5),
            "tokens_per_s": round(n_tokens / seconds), "repeats": repeats,
            "threads": torch.get_num_threads(), "machine": platform.machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="default.qubit")
    parser.add_argument("--qubits", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--tokens", type=int, nargs="+", default=[256, 4096])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--d-model", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for q in args.qubits:
        for t in args.tokens:
            print(json.dumps(time_layer(args.device, q, t, args.repeats, args.d_model)), flush=True)


if __name__ == "__main__":
    main()
