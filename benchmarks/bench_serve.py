"""Serving benchmarks: folded vs circuit inference, and the HTTP server under load.

    python benchmarks/bench_serve.py fold  [--qubits 4 8] [--repeats 7] [--out FILE]
    python benchmarks/bench_serve.py http  RUN_DIR [--clients 1 8 32] [--requests 64]
                                           [--texts-per-request 1] [--out FILE]

``fold``: circuit outputs of a QuantumAttention layer on 1,024 tokens (B=32, T=32, d_model 384,
2 layers, 4 tasks), 1 thread, no gradients: the circuit path (``qattn.torch``) against its
folded form, side by side in one process, float64 and float32: the circuit call alone
(angles in, expectation values out) and the layer's ``expectation_values`` (input checks and
the angle map included), with the largest difference between the two. Also the time to fold
(coefficients from the weights) and one forward+backward of the layer's circuit outputs
through each exact path (``exact_path="circuit"`` against ``"fold"``, issue 15 item 3).

``http``: ``qattn serve`` started as a subprocess (folded, then ``--no-fold``), then N
concurrent clients on localhost each sending a bounded number of requests; throughput and
p50/p99 latency. Warm-up requests first; medians over repeats for ``fold``. JSON lines out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _emit(row: dict, out) -> None:
    line = json.dumps(row)
    print(line, flush=True)
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ----------------------------------------------------------------------------- fold vs circuit
def bench_fold(args) -> None:
    from circuits import expectations, select
    from circuits.fold import folded_expectations
    from qattn_hybrid import QuantumAttention

    torch.set_num_threads(1)
    B, T, D = 32, 32, 384
    for q in args.qubits:
        for dtype in (torch.float64, torch.float32):
            torch.manual_seed(0)
            layer = QuantumAttention(D, n_tasks=4, n_qubits=q, n_layers=2,
                                     exact_path="circuit").to(dtype)
            x = torch.randn(B, T, D, dtype=dtype)
            start = time.perf_counter()
            folded = layer.fold()
            fold_s = time.perf_counter() - start
            with torch.no_grad():
                rows = layer.angles(x).reshape(-1, q)  # (1024, Q)
                args_1 = select(layer.spec, {k: v for k, v in layer.circuit.items()}, 1)
                circuit_s = _median_time(lambda: expectations(layer.qnode, rows, args_1),
                                         args.repeats)
                folded_s = _median_time(
                    lambda: folded_expectations(rows, folded.coefficients[1]), args.repeats)
                layer_circuit_s = _median_time(lambda: layer.expectation_values(x, 1),
                                               args.repeats)
                layer_folded_s = _median_time(lambda: folded.expectation_values(x, 1),
                                              args.repeats)
                diff = (layer.expectation_values(x, 1)
                        - folded.expectation_values(x, 1)).abs().max().item()
            train = _training_step(layer, x, args.repeats)
            _emit({"bench": "fold_vs_circuit", "n_qubits": q, "dtype": str(dtype)[6:],
                   "tokens": B * T, "threads": 1, "circuit_tok_s": B * T / circuit_s,
                   "folded_tok_s": B * T / folded_s, "speedup": circuit_s / folded_s,
                   "layer_circuit_tok_s": B * T / layer_circuit_s,
                   "layer_folded_tok_s": B * T / layer_folded_s,
                   "layer_speedup": layer_circuit_s / layer_folded_s,
                   "max_abs_diff": diff, "fold_s": fold_s, **train, **_machine()}, args.out)


def _training_step(layer, x, repeats: int) -> dict:
    """Forward+backward of the layer's circuit outputs: exact_path "circuit" (qattn.torch
    simulation) against "fold" (fold every forward with autograd, then evaluate)."""
    import copy

    folding = copy.deepcopy(layer)
    folding.exact_path = "fold"
    layer.exact_path = "circuit"

    def step(module):
        def run():
            module.zero_grad()
            module.expectation_values(x, 1).sum().backward()
        return run

    return {"train_circuit_s": _median_time(step(layer), max(3, repeats // 2)),
            "train_folded_s": _median_time(step(folding), max(3, repeats // 2))}


def _machine() -> dict:
    model = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {"cpu": model or platform.processor(), "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d", time.gmtime())}


# ----------------------------------------------------------------------------- HTTP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(run_dir: str, port: int, fold: bool, max_batch: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-c", "import torch, sys; torch.set_num_threads(1); "
           "from qattn_hybrid.cli.parser import main; sys.exit(main(sys.argv[1:]))",
           "serve", run_dir, "--port", str(port), "--max-batch", str(max_batch), "-q"]
    if not fold:
        cmd.append("--no-fold")
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def _wait_ready(client, base: str, proc, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if (await client.get(base + "/readyz")).status_code == 200:
                return
        except Exception:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("server not ready in time")


async def _load(base: str, clients: int, requests: int, texts: list[str], per_request: int):
    import httpx

    latencies, errors = [], 0
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=clients)) as c:
        async def worker(w: int):
            nonlocal errors
            for i in range(w, requests, clients):
                body = {"texts": [texts[(i + j) % len(texts)] for j in range(per_request)]}
                start = time.perf_counter()
                r = await c.post(base + "/v1/predict", json=body)
                latencies.append(time.perf_counter() - start)
                errors += r.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*[worker(w) for w in range(clients)])
        wall = time.perf_counter() - start
    latencies.sort()
    return {"requests": len(latencies), "errors": errors, "wall_s": wall,
            "requests_per_s": len(latencies) / wall,
            "texts_per_s": len(latencies) * per_request / wall,
            "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]}


async def _bench_http_path(args, fold: bool, texts: list[str]) -> None:
    import httpx

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start_server(args.run_dir, port, fold, args.max_batch)
    try:
        async with httpx.AsyncClient(timeout=120) as c:
            await _wait_ready(c, base, proc)
            for _ in range(5):  # warm-up
                await c.post(base + "/v1/predict", json={"texts": texts[:2]})
        for clients in args.clients:
            requests = max(args.requests, clients * 4)
            row = await _load(base, clients, requests, texts, args.texts_per_request)
            _emit({"bench": "http", "path": "folded" if fold else "circuit",
                   "clients": clients, "texts_per_request": args.texts_per_request,
                   "max_batch": args.max_batch, **row, **_machine()}, args.out)
    finally:
        proc.terminate()
        proc.wait(30)


def bench_http(args) -> None:
    from qattn_hybrid.serving.export import SAMPLE_TEXTS, check_texts, load_model

    texts = [t for ts, _ in check_texts(load_model(args.run_dir)).values() for t in ts]
    texts = list(dict.fromkeys(texts)) or SAMPLE_TEXTS
    for fold in (True, False):
        asyncio.run(_bench_http_path(args, fold, texts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("fold")
    p.add_argument("--qubits", type=int, nargs="+", default=[4, 8])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out")
    p.set_defaults(run=bench_fold)
    p = sub.add_parser("http")
    p.add_argument("run_dir")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--requests", type=int, default=64, help="requests per client level "
                   "(at least 4 per client)")
    p.add_argument("--texts-per-request", type=int, default=1)
    p.add_argument("--max-batch", type=int, default=64)
    p.add_argument("--out")
    p.set_defaults(run=bench_http)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
