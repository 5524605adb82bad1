"""Where a forward+backward of ``QuantumAttention`` spends its milliseconds, before and after.

    python benchmarks/profile_layer.py [--qubits 4 8] [--shape 32x32] [--steps 30]
                                       [--before-ref 38d06eb] [--dtype float32]

cProfile with a CPU-time clock (steadier than wall time on a shared machine) over --steps
forward+backward passes of ``expectation_values`` (d_model 384, 2 layers, 3 tasks, one task
per batch, one torch thread), for the ``qattn.torch`` device and QNode of --before-ref
(see bench_speed.py) and for this tree. Prints, per variant, the CPU ms per step spent
inside each phase (cumulative: a phase includes what it calls) as JSON lines.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import D_MODEL, N_LAYERS, N_TASKS, before_qnode, import_before  # noqa: E402

from qattn_hybrid import QuantumAttention  # noqa: E402

# phase -> (file suffix, function name); the first match in the profile counts.
PHASES = {
    "input checks": ("common.py", "check_inputs"),
    "angles (Linear, tanh)": ("quantum.py", "angles"),
    "QNode call (all of it)": ("qnode.py", "__call__"),
    "tape construction": ("qnode.py", "construct"),
    "device transforms": ("compile_pipeline.py", "__call__"),
    "device execute": ("fast/device.py", "execute"),
    "recorded program": ("program.py", "run"),
    "recorded program (grouped)": ("program.py", "run_grouped"),
    "gate matrices": ("gates.py", "prepared_matrices"),
    "kernel: final_state": ("kernel.py", "final_state"),
    "measurements": ("measure.py", "measure_all"),
    "backward (autograd engine)": ("", "run_backward"),
}


def profile(layer, x, task, steps: int) -> dict[str, float]:
    def step() -> None:
        layer.zero_grad(set_to_none=True)
        layer.expectation_values(x, task).sum().backward()

    for _ in range(3):
        step()  # warm-up (and recording)
    profiler = cProfile.Profile(time.process_time)
    start = time.process_time()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    total = (time.process_time() - start) / steps
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
    phases = {"step (profiled)": round(total * 1e3, 2)}
    for phase, (suffix, name) in PHASES.items():
        cumulative = [ct for (file, _, fn), (_, _, _, ct, _) in stats.items()
                      if fn.endswith(name) and file.endswith(suffix)]
        if cumulative:
            phases[phase] = round(max(cumulative) / steps * 1e3, 2)
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--shape", default="32x32")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--before-ref", default="38d06eb")
    args = parser.parse_args()
    torch.set_num_threads(1)
    before = import_before(args.before_ref)
    batch, tokens = (int(v) for v in args.shape.split("x"))
    dtype = getattr(torch, args.dtype)
    x = torch.randn(batch, tokens, D_MODEL, generator=torch.Generator().manual_seed(1),
                    dtype=dtype)
    for q in args.qubits:
        for variant in ("before", "after"):
            torch.manual_seed(0)
            layer = QuantumAttention(D_MODEL, N_TASKS, n_qubits=q, n_layers=N_LAYERS).to(dtype)
            if variant == "before":
                layer._qnode = before_qnode(before, layer.spec)
            row = {"bench": "profile", "variant": variant, "n_qubits": q, "shape": args.shape,
                   "dtype": args.dtype, "steps": args.steps,
                   "cpu_ms_per_step": profile(layer, x, 0, args.steps)}
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
