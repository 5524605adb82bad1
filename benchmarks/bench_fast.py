"""The fast exact path against default.qubit, side by side in one process (JSON lines).

    python benchmarks/bench_fast.py [--qubits 4 8] [--tokens 256 4096] [--repeats 5]
                                    [--what layer circuit]

For each (Q, T): the same QuantumAttention layer (2 layers, one task, float64) or the same
bare circuit (`build_qnode`, backprop), run forward+backward on `default.qubit` (parameter
broadcasting) and on `qattn.torch`; one warm-up pass, then the median of --repeats timed
passes, the two devices alternating within each repeat; one torch thread (shared machines
make two threads 11-39x slower, see NOTES.md). Wall and CPU (process) seconds are both
reported: on a machine shared with other jobs the CPU-time ratio is the steadier one.
Memory: the tensors autograd saves for the backward pass of one step (the activation memory
a training step holds; allocator-independent). One line per device, then the ratios.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from circuits import CircuitSpec, build_qnode, expectations, init_parameters, select
from qattn_hybrid import QuantumAttention

DEVICES = ("default.qubit", "qattn.torch")


def layer_step(device: str, n_qubits: int, n_tokens: int, d_model: int = 32):
    """A forward+backward closure on the QuantumAttention layer."""
    torch.manual_seed(0)
    layer = QuantumAttention(d_model, n_tasks=2, n_qubits=n_qubits, n_layers=2,
                             qml_device=device).double()
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


def time_pair(what: str, n_qubits: int, n_tokens: int, repeats: int) -> dict[str, dict]:
    """Median wall and CPU seconds per device; the devices alternate within each repeat so
    that load from other jobs on a shared machine hits both alike."""
    make = layer_step if what == "layer" else circuit_step
    steps = {device: make(device, n_qubits, n_tokens) for device in DEVICES}
    for step in steps.values():
        step()  # warm-up
    wall = {device: [] for device in DEVICES}
    cpu = {device: [] for device in DEVICES}
    for _ in range(repeats):
        for device, step in steps.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            step()
            wall[device].append(time.perf_counter() - start_wall)
            cpu[device].append(time.process_time() - start_cpu)
    rows = {}
    for device in DEVICES:
        seconds = statistics.median(wall[device])
        rows[device] = {
            "bench": f"fast_{what}", "device": device, "n_qubits": n_qubits, "n_layers": 2,
            "n_tokens": n_tokens, "median_s": round(seconds, 5),
            "median_cpu_s": round(statistics.median(cpu[device]), 5),
            "tokens_per_s": round(n_tokens / seconds), "repeats": repeats,
            "threads": torch.get_num_threads(), "machine": platform.machine(),
        }
    return rows


def saved_memory(what: str, device: str, n_qubits: int, n_tokens: int) -> float:
    """MiB of tensors autograd keeps for the backward pass of one step (distinct storages):
    the memory a forward+backward pass holds at its peak, beyond parameters and inputs."""
    make = layer_step if what == "layer" else circuit_step
    step = make(device, n_qubits, n_tokens)
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    return round(sum(storages.values()) / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--tokens", type=int, nargs="+", default=[256, 4096])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--what", nargs="+", choices=["layer", "circuit"], default=["layer"])
    parser.add_argument("--no-memory", action="store_true", help="skip the memory pass")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for what in args.what:
        for q in args.qubits:
            for t in args.tokens:
                rows = time_pair(what, q, t, args.repeats)
                for device, row in rows.items():
                    if not args.no_memory:
                        row["saved_for_backward_mib"] = saved_memory(what, device, q, t)
                    print(json.dumps(row), flush=True)
                ref, fast = (rows[d] for d in DEVICES)
                print(json.dumps({
                    "bench": f"fast_{what}", "n_qubits": q, "n_tokens": t,
                    "speedup": round(ref["median_s"] / fast["median_s"], 2),
                    "speedup_cpu": round(ref["median_cpu_s"] / fast["median_cpu_s"], 2),
                }), flush=True)


if __name__ == "__main__":
    main()
