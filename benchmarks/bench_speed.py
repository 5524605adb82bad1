"""Speed where users spend time (issue 15), every variant side by side in one process.

    python benchmarks/bench_speed.py [--qubits 4 8] [--shapes 32x32 1x4096]
        [--tasks single mixed] [--dtypes float32 float64] [--what circuit layer]
        [--repeats 5] [--before-ref 38d06eb] [--out benchmarks/speed_runs.jsonl]

Variants (one `QuantumAttention`, d_model 384, 2 circuit layers, 3 tasks, forward+backward):
  default.qubit   the layer on PennyLane's `default.qubit` (broadcasting, backprop);
  before          the layer running the `qattn.torch` device and QNode of --before-ref (that
                  commit's `circuits/` from `git archive`, imported as `circuits_before`);
  qattn.torch     this tree (recorded calls, rows grouped by task, gate by gate when wide);
  classical       `ClassicalAttention` with the same parameter count (whole layer only).
What: "circuit" = `expectation_values` (the circuit outputs, angles included); "layer" =
the whole forward (scores, softmax, value path, pooling). Shapes are B x T tokens;
"mixed" gives row b task b % 3; a 1 x T shape has one row, so mixed uses 8 rows of T/8.
One warm-up, then the median of --repeats, the variants alternating within each repeat;
one torch thread; wall and CPU (process) seconds. JSON lines to stdout and --out.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pennylane as qml
import torch

from qattn_hybrid import QuantumAttention
from qattn_hybrid.layers.classical import ClassicalAttention, count_parameters

ROOT = Path(__file__).resolve().parents[1]
D_MODEL, N_LAYERS, N_TASKS = 384, 2, 3


def import_before(ref: str):
    """`circuits` as of git `ref`, importable as `circuits_before` (imports rewritten)."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "circuits"],
                          check=True, capture_output=True).stdout
    target = Path(tempfile.mkdtemp(prefix="bench_speed_")) / "circuits_before"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".py"):
                text = tar.extractfile(member).read().decode()
                text = text.replace("from circuits.", "from circuits_before.")
                text = text.replace("from circuits import", "from circuits_before import")
                text = text.replace("import circuits.", "import circuits_before.")
                path = target / Path(member.name).relative_to("circuits")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    sys.path.insert(0, str(target.parent))
    return importlib.import_module("circuits_before")


def before_qnode(before, spec):
    """The QNode `build_qnode` made at the `before` commit on its `qattn.torch` device."""
    device_module = importlib.import_module("circuits_before.torch_device")
    old_spec = before.CircuitSpec(**spec.to_dict())
    dev = device_module.TorchDevice(wires=spec.n_qubits)
    return qml.QNode(before.templates.make_circuit(old_spec), dev, interface="torch",
                     diff_method="best")


def make_layers(n_qubits: int, dtype: torch.dtype, before) -> dict:
    layers = {}
    for variant in ("default.qubit", "before", "qattn.torch"):
        torch.manual_seed(0)
        device = "default.qubit" if variant == "default.qubit" else "qattn.torch"
        layer = QuantumAttention(D_MODEL, N_TASKS, n_qubits=n_qubits, n_layers=N_LAYERS,
                                 qml_device=device)
        if variant == "before":
            layer._qnode = before_qnode(before, layer.spec)
        layers[variant] = layer.to(dtype)
    torch.manual_seed(0)
    n_params = count_parameters(layers["qattn.torch"])
    layers["classical"] = ClassicalAttention.matching(n_params, D_MODEL, N_TASKS).to(dtype)
    return layers


def make_step(layer, what: str, x: torch.Tensor, task):
    def step() -> None:
        layer.zero_grad(set_to_none=True)
        if what == "circuit":
            layer.expectation_values(x, task).sum().backward()
        else:
            layer(x, task).pooled.sum().backward()

    return step


def inputs(shape: tuple[int, int], tasks: str, dtype: torch.dtype):
    batch, tokens = shape
    if tasks == "mixed" and batch == 1:
        batch, tokens = 8, tokens // 8
    x = torch.randn(batch, tokens, D_MODEL, generator=torch.Generator().manual_seed(1),
                    dtype=dtype)
    task = torch.arange(batch) % N_TASKS if tasks == "mixed" else 0
    return x, task


def time_config(layers, what, shape, tasks, dtype, repeats) -> dict[str, tuple[float, float]]:
    x, task = inputs(shape, tasks, dtype)
    steps = {name: make_step(layer, what, x, task) for name, layer in layers.items()
             if not (what == "circuit" and name == "classical")}
    for step in steps.values():
        step()  # warm-up (and recording, for qattn.torch)
    wall = {name: [] for name in steps}
    cpu = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            step()
            wall[name].append(time.perf_counter() - start_wall)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in steps}


def machine() -> dict:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def emit(row: dict, out) -> None:
    line = json.dumps(row)
    print(line, flush=True)
    if out is not None:
        out.write(line + "\n")
        out.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--shapes", nargs="+", default=["32x32", "1x4096"])
    parser.add_argument("--tasks", nargs="+", choices=["single", "mixed"],
                        default=["single", "mixed"])
    parser.add_argument("--dtypes", nargs="+", choices=["float32", "float64"],
                        default=["float32", "float64"])
    parser.add_argument("--what", nargs="+", choices=["circuit", "layer"],
                        default=["circuit", "layer"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before-ref", default="38d06eb",
                        help="git commit of the 'before' qattn.torch (default: the last "
                             "commit before issue 15)")
    parser.add_argument("--out", type=Path, default=None, help="also append JSON lines here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    before = import_before(args.before_ref)
    info = {**machine(), "before_ref": args.before_ref}
    out = args.out.open("a") if args.out else None
    for q in args.qubits:
        for dtype_name in args.dtypes:
            layers = make_layers(q, getattr(torch, dtype_name), before)
            for shape_text in args.shapes:
                shape = tuple(int(v) for v in shape_text.split("x"))
                for tasks in args.tasks:
                    for what in args.what:
                        load = os.getloadavg()[0]
                        times = time_config(layers, what, shape, tasks,
                                            getattr(torch, dtype_name), args.repeats)
                        tokens = shape[0] * shape[1]
                        base = {"bench": "speed", "what": what, "n_qubits": q,
                                "shape": shape_text, "tasks": tasks, "dtype": dtype_name,
                                "tokens": tokens}
                        for name, (wall, cpu) in times.items():
                            emit({**base, "variant": name, "median_s": round(wall, 5),
                                  "median_cpu_s": round(cpu, 5),
                                  "tokens_per_s": round(tokens / wall),
                                  "repeats": args.repeats, "load": round(load, 2), **info}, out)
                        fast = times["qattn.torch"]
                        summary = {**base, "variant": "ratios",
                                   "vs_default_qubit": round(times["default.qubit"][0] / fast[0], 2),
                                   "vs_default_qubit_cpu": round(times["default.qubit"][1] / fast[1], 2),
                                   "vs_before": round(times["before"][0] / fast[0], 2)}
                        if "classical" in times:
                            summary["quantum_over_classical"] = round(
                                fast[0] / times["classical"][0], 2)
                            summary["quantum_over_classical_cpu"] = round(
                                fast[1] / times["classical"][1], 2)
                        emit(summary, out)
    if out is not None:
        out.close()


if __name__ == "__main__":
    main()
