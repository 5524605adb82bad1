"""One-shot check of a CUDA machine: GPU tests, CUDA-vs-CPU parity, tokens/s (JSON lines).

    python benchmarks/gpu_check.py [--budget-s 270] [--config-cap-s 15] [--skip-tests]

Needs only the project (and its wheels: a CUDA build of torch; `pennylane-lightning-gpu`
from the extra `gpu` for the lightning.gpu test). In order, each step printing JSON lines:

1. `environment`: torch / CUDA / GPU / PennyLane versions.
2. `pytest`: `pytest -m gpu` on the project's tests (skipped if `tests/` is not next to
   `benchmarks/`), with its own timeout.
3. `parity`: the exact fast path (`qattn.torch`, backprop) on CUDA against the CPU, float64:
   expectation values and gradients (angles, weights) must agree within 1e-10.
4. `throughput`: forward+backward tokens/s of the bare circuit (hardware-efficient ansatz,
   2 layers, one task, float32 = complex64, as a float32 model trains) for Q in {4, 8, 12, 16}
   and T in {4096, 65536}, on CUDA and on the CPU (all its threads); all CUDA configs first.
   Tokens go through in chunks whose state batch stays under --chunk-mib (CUDA) or
   --cpu-chunk-mib (Q=16, T=65536 is 32 GiB in one piece, several times that for backprop);
   the chunk size is reported. A warm-up chunk, then timed passes until --repeats or the
   per-config cap (--config-cap-s); the median is reported. When the cap ends the first pass
   (a slow CPU config), the rate of the tokens that ran is reported as a `partial_pass`.

The whole run stays under --budget-s (default 270 s, inside 5 minutes with start-up): a step that would
overrun is skipped with the reason. Without a usable CUDA device it prints one line saying so
and exits 0. `--accelerator cpu` runs every step with the CPU standing in for the GPU (a smoke
test of this script on a machine without one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from circuits import CircuitSpec, build_qnode, expectations, init_parameters, select

ROOT = Path(__file__).resolve().parents[1]
QUBITS = (4, 8, 12, 16)
TOKENS = (4096, 65536)
PARITY_TOL = 1e-10


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


class Budget:
    def __init__(self, seconds: float):
        self.deadline = time.perf_counter() + seconds

    def left(self) -> float:
        return self.deadline - time.perf_counter()


# ----------------------------------------------------------------------------- 1. environment
def usable_cuda() -> tuple[torch.device | None, str]:
    """The CUDA device to test (cuda:0) or None, and why."""
    try:
        device = torch.device("cuda", 0)
        torch.zeros(1, device=device)
        return device, torch.cuda.get_device_name(device)
    except Exception as err:  # CPU-only torch, no driver, no device, busy device, ...
        return None, f"{type(err).__name__}: {err}"


def environment(device: torch.device) -> None:
    import pennylane as qml

    row = {"step": "environment", "torch": torch.__version__, "cuda": torch.version.cuda,
           "pennylane": qml.version(), "python": platform.python_version(),
           "cpu_threads": torch.get_num_threads(), "accelerator": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        row.update(gpu=props.name, gpu_count=torch.cuda.device_count(),
                   gpu_mem_gib=round(props.total_memory / 2**30, 1))
    emit(**row)


# ----------------------------------------------------------------------------- 2. pytest
def run_gpu_tests(budget: Budget, timeout_s: float) -> None:
    tests = ROOT / "tests"
    if not tests.is_dir():
        emit(step="pytest", skipped=f"no tests folder at {tests} (installed without the repo)")
        return
    timeout = min(timeout_s, budget.left() - 150)  # keep time for parity and throughput
    if timeout < 30:
        emit(step="pytest", skipped=f"budget: {budget.left():.0f} s left")
        return
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider",
           str(tests)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        emit(step="pytest", ok=False, error=f"timed out after {timeout:.0f} s")
        return
    summary = [line for line in proc.stdout.splitlines() if line.strip()][-8:]
    emit(step="pytest", ok=proc.returncode == 0, returncode=proc.returncode,
         seconds=round(time.perf_counter() - start, 1), summary=summary)


# ----------------------------------------------------------------------------- 3. parity
def circuit_run(spec: CircuitSpec, n_tokens: int, device, dtype, seed: int = 0):
    """(z, d angles, d weights) of sum(z * coefficients), the same numbers on every device."""
    g = torch.Generator().manual_seed(seed)
    params = {k: v.to(device=device, dtype=dtype).requires_grad_()
              for k, v in init_parameters(spec, generator=g, dtype=torch.float64).items()}
    angles = (torch.rand(n_tokens, spec.n_qubits, generator=g, dtype=torch.float64) * 6 - 3)
    angles = angles.to(device=device, dtype=dtype).requires_grad_()
    qnode = build_qnode(spec, device="qattn.torch", diff_method="backprop")
    z = expectations(qnode, angles, select(spec, params, 0))
    coef = torch.linspace(-1, 1, z.shape[1], dtype=dtype, device=device)
    (z * coef).sum().backward()
    return z.detach(), angles.grad, params["weights"].grad


def parity(device: torch.device, budget: Budget) -> bool:
    ok = True
    for q, n_tokens in ((4, 4096), (8, 1024), (12, 128)):
        if budget.left() < 60:
            emit(step="parity", n_qubits=q, skipped=f"budget: {budget.left():.0f} s left")
            continue
        spec = CircuitSpec(n_qubits=q, n_layers=2, n_tasks=2, readout="z_zz")
        cpu = circuit_run(spec, n_tokens, "cpu", torch.float64)
        acc = circuit_run(spec, n_tokens, device, torch.float64)
        on_device = all(t.device == device for t in acc)
        diff = max(float((a.cpu() - c).abs().max()) for a, c in zip(acc, cpu))
        passed = on_device and diff <= PARITY_TOL
        ok &= passed
        emit(step="parity", n_qubits=q, n_tokens=n_tokens, dtype="float64",
             max_abs_diff=diff, tol=PARITY_TOL, results_on_device=on_device, ok=passed)
    return ok


# ----------------------------------------------------------------------------- 4. throughput
def chunk_tokens(n_qubits: int, n_tokens: int, chunk_mib: float, itemsize: int) -> int:
    """Tokens per chunk so that one state batch (chunk, 2**Q) stays under chunk_mib."""
    per_token = (2**n_qubits) * itemsize
    return max(1, min(n_tokens, int(chunk_mib * 2**20 // per_token)))


def make_pass(n_qubits: int, n_tokens: int, device, dtype, chunk: int):
    """``run(limit_s) -> tokens done``: forward+backward over n_tokens, chunk tokens at a
    time, stopping after the chunk that crosses limit_s (a partial pass)."""
    spec = CircuitSpec(n_qubits=n_qubits, n_layers=2)
    qnode = build_qnode(spec, device="qattn.torch", diff_method="backprop")
    g = torch.Generator().manual_seed(0)
    params = {k: v.to(device=device, dtype=dtype).requires_grad_()
              for k, v in init_parameters(spec, generator=g).items()}
    angles = torch.rand(n_tokens, n_qubits, generator=g).to(device=device, dtype=dtype)
    angles.requires_grad_()

    def run(limit_s: float = float("inf")) -> int:
        start, done = time.perf_counter(), 0
        for p in params.values():
            p.grad = None
        angles.grad = None
        while done < n_tokens:  # at least one chunk, however small limit_s
            rows = angles[done : done + chunk]
            expectations(qnode, rows, select(spec, params, 0)).sum().backward()
            done += len(rows)
            if time.perf_counter() - start >= limit_s:
                break
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return done

    return run


def throughput_one(n_qubits, n_tokens, device, args, budget: Budget) -> dict:
    dtype = torch.float32
    chunk_mib = args.chunk_mib if device.type == "cuda" else args.cpu_chunk_mib
    chunk = chunk_tokens(n_qubits, n_tokens, chunk_mib, itemsize=8)  # complex64
    row = {"step": "throughput", "device": str(device), "n_qubits": n_qubits,
           "n_tokens": n_tokens, "n_layers": 2, "dtype": "float32", "chunk_tokens": chunk}
    cap = min(args.config_cap_s, budget.left() - 10)
    if cap < 2:
        return {**row, "skipped": f"budget: {budget.left():.0f} s left"}
    try:
        run = make_pass(n_qubits, n_tokens, device, dtype, chunk)
        start = time.perf_counter()
        run(limit_s=0.0)  # warm-up: one chunk (QNode construction, caches, CUDA kernels)
        rates, done = [], n_tokens
        while len(rates) < args.repeats and done == n_tokens:
            left = cap - (time.perf_counter() - start)
            if left <= 0:
                break
            t0 = time.perf_counter()
            done = run(limit_s=left)
            rates.append((done, time.perf_counter() - t0))
    except torch.cuda.OutOfMemoryError as err:
        torch.cuda.empty_cache()
        return {**row, "error": f"out of memory: {str(err).splitlines()[0]}"}
    if not rates:
        return {**row, "skipped": f"the warm-up chunk used the whole cap ({cap:.0f} s)"}
    full = [sec for n, sec in rates if n == n_tokens]
    if full:
        seconds = statistics.median(full)
        row.update(median_s=round(seconds, 5), tokens_per_s=round(n_tokens / seconds),
                   repeats=len(full))
    else:  # the cap ended the first pass: report the rate of the part that ran, and say so
        n, sec = rates[0]
        row.update(tokens_per_s=round(n / sec), partial_pass=f"{n} of {n_tokens} tokens in "
                   f"{sec:.1f} s (cap {cap:.0f} s)", repeats=0)
    row["threads"] = torch.get_num_threads()
    if device.type == "cuda":
        row["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
        torch.cuda.reset_peak_memory_stats(device)
    return row


def throughput(device: torch.device, args, budget: Budget) -> None:
    """Every config on the accelerator first (fast), then on the CPU; then the speedups."""
    rows = {}
    devices = [device] if device.type == "cpu" else [device, torch.device("cpu")]
    for dev in devices:
        for n_qubits in QUBITS:
            for n_tokens in TOKENS:
                row = throughput_one(n_qubits, n_tokens, dev, args, budget)
                rows[dev.type, n_qubits, n_tokens] = row
                emit(**row)
    for n_qubits in QUBITS:
        for n_tokens in TOKENS:
            fast, slow = rows.get(("cuda", n_qubits, n_tokens)), rows.get(("cpu", n_qubits, n_tokens))
            if fast and slow and "tokens_per_s" in fast and "tokens_per_s" in slow:
                emit(step="speedup", n_qubits=n_qubits, n_tokens=n_tokens,
                     cuda_over_cpu=round(fast["tokens_per_s"] / slow["tokens_per_s"], 2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=270.0)
    parser.add_argument("--config-cap-s", type=float, default=15.0,
                        help="time cap per throughput config (warm-up + timed passes)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-mib", type=float, default=512.0,
                        help="largest state batch per chunk on CUDA, MiB")
    parser.add_argument("--cpu-chunk-mib", type=float, default=16.0,
                        help="largest state batch per chunk on the CPU, MiB")
    parser.add_argument("--tests-timeout-s", type=float, default=90.0)
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--accelerator", choices=["cuda", "cpu"], default="cuda",
                        help="cpu: smoke-test this script without a GPU")
    args = parser.parse_args()
    budget = Budget(args.budget_s)
    if args.accelerator == "cpu":
        device = torch.device("cpu")
    else:
        device, why = usable_cuda()
        if device is None:
            emit(step="environment", cuda=False, message=f"No CUDA device available ({why}); "
                 "nothing to check. Run this on a machine with an NVIDIA GPU and a CUDA build "
                 "of torch.")
            print("gpu_check: no CUDA device exists on this machine; nothing to check.",
                  file=sys.stderr)
            return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    environment(device)
    if not args.skip_tests:
        run_gpu_tests(budget, args.tests_timeout_s)
    parity(device, budget)
    throughput(device, args, budget)
    emit(step="done", seconds_left=round(budget.left(), 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
