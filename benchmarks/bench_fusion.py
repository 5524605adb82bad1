"""Dense fused unitary against gate-by-gate on ``qattn.torch``: where ``FUSE_WIRES`` comes from.

    python benchmarks/bench_fusion.py [--qubits 3 4 5 6 7 8] [--rows 1024 4096]
                                      [--dtypes float32 float64] [--repeats 7]

The bare library circuit (2 layers, one task, hardware-efficient ansatz, Y embedding, ⟨Z⟩
readout), forward+backward on N rows, with ``max_fused_wires`` 0 (gate by gate: one-qubit
layers as two half-width Kronecker products, CNOT rings as one permutation) and 20 (the
unbroadcast gates fused into one dense unitary). Both in one process, alternating; one
warm-up, median CPU and wall seconds of --repeats; one torch thread; JSON lines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from circuits import CircuitSpec, build_qnode, expectations, init_parameters, select

MODES = {"gate_by_gate": 0, "fused": 20}


def step(n_qubits: int, rows: int, dtype: torch.dtype, max_fused_wires: int):
    spec = CircuitSpec(n_qubits=n_qubits, n_layers=2)
    qnode = build_qnode(spec, device="qattn.torch",
                        device_options={"max_fused_wires": max_fused_wires})
    params = init_parameters(spec, generator=torch.Generator().manual_seed(0), dtype=dtype)
    params = {k: v.requires_grad_() for k, v in params.items()}
    angles = torch.rand(rows, n_qubits, dtype=dtype, requires_grad=True)
    return lambda: expectations(qnode, angles, select(spec, params, 0)).sum().backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[3, 4, 5, 6, 7, 8])
    parser.add_argument("--rows", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for dtype in args.dtypes:
        for q in args.qubits:
            for rows in args.rows:
                steps = {m: step(q, rows, getattr(torch, dtype), w) for m, w in MODES.items()}
                for run in steps.values():
                    run()  # warm-up and recording
                wall = {m: [] for m in steps}
                cpu = {m: [] for m in steps}
                for _ in range(args.repeats):
                    for mode, run in steps.items():
                        start_wall, start_cpu = time.perf_counter(), time.process_time()
                        run()
                        wall[mode].append(time.perf_counter() - start_wall)
                        cpu[mode].append(time.process_time() - start_cpu)
                row = {"bench": "fusion", "n_qubits": q, "rows": rows, "dtype": dtype,
                       "repeats": args.repeats, "threads": torch.get_num_threads()}
                for mode in steps:
                    row[f"{mode}_ms"] = round(statistics.median(wall[mode]) * 1e3, 2)
                    row[f"{mode}_cpu_ms"] = round(statistics.median(cpu[mode]) * 1e3, 2)
                row["faster"] = min(steps, key=lambda m: row[f"{m}_cpu_ms"])
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
