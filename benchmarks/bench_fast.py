"""The fast exact path against default.qubit, side by side in one process (JSON lines).

    python benchmarks/bench_fast.py [--qubits 4 8] [--tokens 256 4096] [--repeats 5]
                                    [--what layer circuit]

For each (Q, T): the same QuantumAttention layer (2 layers, one task, float64) or the same
bare circuit (`build_qnode`, backprop), run forward+backward on `default.qubit` (parameter
broadcasting) and on `qattn.torch`; one warm-up pass, then the median of --repeats timed
passes, one torch thread (shared machines make two threads 11-39x slower, see NOTES.md).
Peak memory is the tracemalloc peak of one extra pass (Python-side allocations, which
include torch's CPU tensors only through their Python objects: see `peak_rss_mib` for the
process high-water mark). One line per device, then a line with the ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
import tracemalloc

import torch

from circuits import CircuitSpec, build_qnode, expectations, init_parameters, select
from qattn_hybrid import QuantumAttention

DEVICES = ("default.qubit", "qattn.torch")


def layer_step(device: str, n_qubits: int, n_tokens: int, d_model: int = 32):
    """A forward+backward closure on the QuantumAttention layer."""
    torch.manual_seed(0)
    layer = QuantumAttention(d_model, n_tasks=2, n_qubits=n_qubits, n_layers=2,
                             device=device).double()
    x = torch.randn(1, n_tokens, d_model, dtype=torch.float64)

    def step() -> None:
        layer.zero_grad(set_to_none=True)
        layer(x, 0).pooled.sum().backward()

    return step


def circuit_step(device: str, n_qubits: int, n_tokens: int):
    """A forward+backward closure on the bare circuit (one task, unbroadcast weights)."""
    spec = CircuitSpec(n_qubits=n_qubits, n_layers=2)
    qnode = build_qnode(spec, device=device, diff_method="backprop")
    params = init_parameters(spec, generator=torch.Generator().manual_seed(0),
                             dtype=torch.float64)
    params = {k: v.requires_grad_() for k, v in params.items()}
    angles = torch.rand(n_tokens, n_qubits, dtype=torch.float64, requires_grad=True)

    def step() -> None:
        expectations(qnode, angles, select(spec, params, 0)).sum().backward()

    return step


def measure(what: str, device: str, n_qubits: int, n_tokens: int, repeats: int) -> dict:
    make = layer_step if what == "layer" else circuit_step
    step = make(device, n_qubits, n_tokens)
    step()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seconds = statistics.median(times)
    return {"bench": f"fast_{what}", "device": device, "n_qubits": n_qubits, "n_layers": 2,
            "n_tokens": n_tokens, "median_s": round(seconds, 5),
            "tokens_per_s": round(n_tokens / seconds), "repeats": repeats,
            "peak_traced_mib": round(peak / 2**20, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "threads": torch.get_num_threads(), "machine": platform.machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--tokens", type=int, nargs="+", default=[256, 4096])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--what", nargs="+", choices=["layer", "circuit"], default=["layer"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for what in args.what:
        for q in args.qubits:
            for t in args.tokens:
                rows = {d: measure(what, d, q, t, args.repeats) for d in DEVICES}
                for row in rows.values():
                    print(json.dumps(row), flush=True)
                ratio = rows[DEVICES[0]]["median_s"] / rows[DEVICES[1]]["median_s"]
                print(json.dumps({"bench": f"fast_{what}", "n_qubits": q, "n_tokens": t,
                                  "speedup": round(ratio, 2)}), flush=True)


if __name__ == "__main__":
    main()
