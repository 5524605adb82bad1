"""One training step of QuantumAttention on each QPU plugin path: circuits and jobs before
and after deduplication and packing.

Scenario: B sequences of up to T tokens drawn from a small vocabulary (fixed embedding
table, so a repeated token is an identical row), variable lengths (padding is masked), two
tasks. "before" = every one of the B·T token slots is a circuit and every circuit its own
job; "masked" = padding skipped (what QuantumAttention always does); "after" = identical
(angles, task) rows evaluated once and circuits packed as the plugin allows.

Paths run offline through the same plugin code as hardware (test stand-ins, tests/qpu_standins.py).
Paths in --execute really run (counts measured by the guard and compared with the device
tracker and the stand-in's record of jobs); the others run as a dry run (counted at the
device's execute call, nothing simulated): the counts are the same, as the plugin tests show.

    python benchmarks/bench_qpu.py --execute ionq.qpu,qiskit.estimator > out.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import pennylane as qml
import torch

from circuits.hardware import ExecutionGuard, estimate_cost
from qattn_hybrid import QuantumAttention

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # test-only stand-ins
from qpu_standins import (  # noqa: E402
    OFFLINE_ARN, offline_braket, offline_ibm_backend, offline_ionq,
)

PATHS = ("braket.aws.qubit", "qiskit.remote", "qiskit.estimator", "ionq.qpu")


def scenario(batch: int, tokens: int, vocab: int, d_model: int, seed: int):
    """x (B, T, D), mask (B, T), task ids (B,): repeated tokens, padding, two tasks."""
    gen = torch.Generator().manual_seed(seed)
    table = torch.randn(vocab, d_model, generator=gen)
    ids = torch.randint(0, vocab, (batch, tokens), generator=gen)
    lengths = torch.randint(tokens // 2, tokens + 1, (batch,), generator=gen)
    mask = torch.arange(tokens)[None, :] < lengths[:, None]
    tasks = torch.arange(batch) % 2
    return table[ids], mask, tasks


def standin(path: str):
    """The offline stand-in and device options for `path`."""
    if path == "braket.aws.qubit":
        return offline_braket(), {"device_arn": OFFLINE_ARN}
    if path == "ionq.qpu":
        return offline_ionq(), {}
    return contextlib.nullcontext(None), {"backend": offline_ibm_backend(4), "seed": 0}


def run_path(path: str, args, execute: bool) -> dict:
    x, mask, tasks = scenario(args.batch, args.tokens, args.vocab, args.d_model, args.seed)
    context, options = standin(path)
    times, record = [], {}
    with context as stand:
        for _ in range(args.repeats):
            guard = ExecutionGuard(dry_run=not execute)
            torch.manual_seed(0)
            attn = QuantumAttention(args.d_model, n_tasks=2, n_qubits=args.qubits,
                                    n_layers=args.layers, qml_device=path, shots=args.shots,
                                    diff_method="parameter-shift", device_options=options,
                                    guard=guard)
            tracker = qml.Tracker(attn.qnode.device) if path != "qiskit.estimator" else None
            if stand is not None:
                stand.submitted.clear()
            start = time.perf_counter()
            with tracker or contextlib.nullcontext():
                attn(x, tasks, mask).pooled.sum().backward()
            times.append(time.perf_counter() - start)
            submitted = len(stand.submitted) if stand is not None else None
            if path == "qiskit.estimator":  # the native node keeps its own job record
                submitted = len(attn.qnode.qnode.history)
            record = {"guard": guard.spent, "tracker": tracker, "submitted": submitted}
    rows_all, rows_real = x.shape[0] * x.shape[1], int(mask.sum())
    keys = torch.cat([attn.angles(x)[mask].detach(), tasks[:, None].expand_as(mask)[mask][:, None]
                      .float()], dim=1)
    rows_unique = int(torch.unique(keys, dim=0).shape[0])
    spec = attn.spec

    def est(rows):
        return estimate_cost(spec, rows, "parameter-shift", args.shots, path,
                             max_executables=100).step

    before, masked, after = est(rows_all), est(rows_real), record["guard"]
    out = {
        "bench": "qpu_training_step", "path": path, "executed": execute,
        "B": args.batch, "T": args.tokens, "qubits": args.qubits, "layers": args.layers,
        "shots": args.shots, "P": estimate_cost(spec, 1).gate_parameters,
        "rows_all": rows_all, "rows_real": rows_real, "rows_unique": rows_unique,
        "circuits_before": before.circuits, "jobs_before": before.circuits,  # one job each
        "jobs_plugin_masked_no_dedup": masked.jobs,
        "circuits_after": after.circuits, "jobs_after": after.jobs, "shots_after": after.shots,
        "matches_estimate": after == est(rows_unique),
        "step_s_median": round(statistics.median(times), 3),
    }
    if execute and record["tracker"] is not None:
        out["tracker_circuits"] = record["tracker"].totals.get("executions", 0)
        out["tracker_shots"] = record["tracker"].totals.get("shots", 0)
    if execute and record["submitted"] is not None:
        out["standin_jobs"] = record["submitted"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=32)
    parser.add_argument("--d-model", type=int, default=16)
    parser.add_argument("--qubits", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--shots", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=1, help="timed steps per path (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--execute", default="ionq.qpu",
                        help="paths to really run (others: dry run); 'all' for every path")
    args = parser.parse_args()
    torch.set_num_threads(1)  # other jobs share the machine; see NOTES.md
    execute = set(PATHS) if args.execute == "all" else set(filter(None, args.execute.split(",")))
    for path in args.paths.split(","):
        print(json.dumps(run_path(path, args, path in execute)), flush=True)


if __name__ == "__main__":
    main()
