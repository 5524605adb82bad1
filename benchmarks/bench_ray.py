"""Ray Serve throughput at a fixed replica count (issue 21).

    python benchmarks/bench_ray.py [--run-dir RUN] [--replicas 1 2] [--clients 1 8]
                                   [--requests 160] [--texts-per-request 1] [--out FILE]

Starts a local Ray cluster (``--num-cpus``, default 2), deploys the ``qattn serve`` app
(``qattn_hybrid.serving.ray_app.QattnReplica``: the same FastAPI app, folded circuits) with a
*fixed* number of replicas (``num_replicas``: no autoscaling), one CPU and one torch thread
each, waits until that many are RUNNING, sends warm-up requests, then for each client count K
sends ``--requests`` POST /v1/predict requests from K threads (urllib, loopback, each thread a
bounded share) and records requests/s, texts/s and p50/p99 latency. The app is deleted between
replica counts; Ray is shut down at the end. One JSON line per (replicas, clients).

Without ``--run-dir`` a model is built and saved first: the bundled all-MiniLM-L6-v2 encoder
(``minilm``, frozen), quantum attention (4 qubits, 2 layers, 2 heads), two classification heads
at random (throughput does not depend on the heads being trained).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_serve import _emit  # noqa: E402  (this script's folder is on sys.path)
from bench_serve import _machine as cpu_and_torch  # noqa: E402

TEXTS = ["what is my credit card limit", "book me a flight to boston tomorrow",
         "shares of the bank fell sharply after earnings", "i want to transfer money to mom",
         "the stock price is up today, great quarter", "how do i pay my electricity bill",
         "is it going to rain in paris this weekend", "please check my account balance"]


def _machine() -> dict:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {**cpu_and_torch(), "cores": os.cpu_count(), "load_avg_1m": load,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_model(directory: Path) -> Path:
    """A MiniLM + quantum attention model with random heads saved as a run folder."""
    import torch

    from qattn_hybrid.config.sections import ModelConfig
    from qattn_hybrid.modeling.model import MultiTaskModel
    from qattn_hybrid.tasks.kinds import ClassificationTask

    torch.manual_seed(0)
    tasks = [ClassificationTask("sentiment", ("negative", "neutral", "positive")),
             ClassificationTask("domain", ("banking", "travel", "utility", "weather"))]
    config = ModelConfig(encoder="minilm", n_heads=2, max_length=32,
                         circuit={"n_qubits": 4, "n_layers": 2})
    model = MultiTaskModel(config, tasks)
    model.metadata = {"data": {}}
    return model.save_pretrained(directory / "best").parent


def _post(url: str, texts: list[str], timeout: float = 120) -> int:
    body = json.dumps({"texts": texts}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"},
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def load(base: str, clients: int, requests: int, per_request: int) -> dict:
    """``requests`` POSTs from ``clients`` threads (request i goes to thread i % clients)."""
    url = base + "/v1/predict"
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(w: int) -> None:
        for i in range(w, requests, clients):
            texts = [TEXTS[(i + j) % len(TEXTS)] for j in range(per_request)]
            start = time.perf_counter()
            status = _post(url, texts)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                errors[0] += status != 200

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    wall = time.perf_counter() - start
    latencies.sort()
    return {"requests": len(latencies), "errors": errors[0], "wall_s": wall,
            "requests_per_s": len(latencies) / wall,
            "texts_per_s": len(latencies) * per_request / wall,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]}


def deploy_fixed(settings, replicas: int) -> float:
    """Run the app with exactly ``replicas`` replicas (no autoscaling); seconds until all are
    RUNNING."""
    from ray import serve

    from qattn_hybrid.serving.ray_app import APP_NAME, QattnReplica, replica_count

    start = time.perf_counter()
    deployment = serve.deployment(serve.ingress()(QattnReplica)).options(
        name=APP_NAME, num_replicas=replicas, max_ongoing_requests=16,
        ray_actor_options={"num_cpus": 1})
    serve.run(deployment.bind(settings, None, 1), name=APP_NAME, route_prefix="/")
    deadline = time.monotonic() + 300
    while replica_count() != replicas:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{replica_count()} of {replicas} replicas running after 300 s")
        time.sleep(0.5)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", help="a saved run or model folder; default: build a "
                        "MiniLM model with random heads in a temporary folder")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--requests", type=int, default=160, help="requests per client level")
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=10, help="requests before measuring")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--out")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    import ray
    from ray import serve

    from qattn_hybrid.serving.app import ServerSettings
    from qattn_hybrid.serving.ray_app import APP_NAME

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir or str(build_model(Path(tmp) / "run"))
        port = _free_port()
        settings = ServerSettings(run_dir=run_dir, port=port, max_wait_ms=args.max_wait_ms)
        settings.check()
        base = f"http://127.0.0.1:{port}"
        env = {"env_vars": {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
                            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}}
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False,
                 runtime_env=env)
        try:
            serve.start(http_options={"host": "127.0.0.1", "port": port})
            for replicas in args.replicas:
                ready_s = deploy_fixed(settings, replicas)
                for i in range(args.warmup):
                    _post(base + "/v1/predict", [TEXTS[i % len(TEXTS)]])
                for clients in args.clients:
                    row = load(base, clients, args.requests, args.texts_per_request)
                    _emit({"bench": "ray_serve", "replicas": replicas, "clients": clients,
                           "texts_per_request": args.texts_per_request,
                           "model": "given run" if args.run_dir else
                           "minilm + quantum attention (4 qubits, 2 layers), folded",
                           "ray_num_cpus": args.num_cpus, "cpus_per_replica": 1,
                           "max_wait_ms": args.max_wait_ms, "deploy_s": ready_s,
                           **row, **_machine()}, args.out)
                serve.delete(APP_NAME)
        finally:
            serve.shutdown()
            ray.shutdown()


if __name__ == "__main__":
    main()
