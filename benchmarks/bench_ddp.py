"""Scaling of a CLINC150 training epoch over processes: DDP on the CPU (gloo), JSON lines.

    python benchmarks/bench_ddp.py [--runs 1:1 2:1 1:2] [--max-examples N] [--epochs 1]
                                   [--batch-size 32] [--n-qubits 4] [--device qattn.torch]

The user path end to end: `qattn train`'s Trainer on the bundled CLINC150 intent task (151
classes; 15,100 train / 3,100 validation / 5,500 test rows, or --max-examples per split) with
the bundled all-MiniLM-L6-v2 encoder frozen (token features cached on disk first, once, and not
timed), quantum attention on the fast exact path, global batch --batch-size.

Each run `W:N` launches `torchrun --standalone --nproc_per_node W` with N torch threads per
rank and reports, from rank 0: `epoch_s` (the training loop of one epoch: the number to
compare), `fit_s` (epoch + validation + checkpoint + test evaluation, sharded over ranks) and
`startup_s` (building the trainer: loading the cached features in every rank). Ranks of one
run train identical weights (the tests check it); W ranks each take batch/W rows per step.
Then `speedup` lines against the first run. The numbers are only as good as the machine:
state its cores; two processes on two cores share them with everything else running there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_config(args, output_dir: Path, threads: int) -> dict:
    return {
        "model": {"encoder": "minilm", "attention": "quantum", "max_length": 32, "dropout": 0.1,
                  "circuit": {"n_qubits": args.n_qubits, "n_layers": 2},
                  "execution": {"qml_device": args.device}},
        "data": {"tasks": ["clinc_intent"], "max_examples": args.max_examples,
                 "cache_dir": str(args.cache_dir)},
        "training": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": 0.005,
                     "patience": None, "seed": 0, "output_dir": str(output_dir),
                     "progress": False, "num_threads": threads},
        "sampling": {"method": "proportional"},
        "weighting": {"method": "equal"},
    }


def warm_cache(config: dict) -> dict:
    """Encode every text of the run once into the disk cache (not part of any timing)."""
    import torch

    from qattn_hybrid.config.sections import Config
    from qattn_hybrid.data.loading import load_tasks
    from qattn_hybrid.modeling.encoders import TextEncoder, load_encoder

    torch.set_num_threads(os.cpu_count() or 1)
    cfg = Config.from_dict(config)
    tasks = load_tasks(cfg.data.task_specs())
    model, tokenizer = load_encoder(None)
    encoder = TextEncoder(model, tokenizer, max_length=cfg.model.max_length,
                          cache_dir=cfg.data.cache_dir)
    texts = [t for task in tasks.values() for split in task.splits.values() for t in split.texts]
    start = time.perf_counter()
    n = encoder.cache.warm(texts)
    return {"bench": "ddp_epoch", "step": "feature_cache", "texts": len(set(texts)),
            "encoded_now": n, "seconds": round(time.perf_counter() - start, 1),
            "rows": {name: {s: len(split) for s, split in task.splits.items()}
                     for name, task in tasks.items()}}


def worker(config_path: Path, result_path: Path) -> None:
    """One rank under torchrun: fit, then rank 0 writes the timings."""
    from qattn_hybrid.config.sections import Config
    from qattn_hybrid.training.factory import build_trainer

    config = Config.from_dict(json.loads(config_path.read_text()))
    start = time.perf_counter()
    trainer = build_trainer(config)
    built = time.perf_counter()
    result = trainer.fit(overwrite=True)  # a rerun replaces the last one
    done = time.perf_counter()
    if trainer.is_writer:
        history = result.history
        result_path.write_text(json.dumps({
            "world_size": trainer.world_size,
            "threads_per_rank": config.training.num_threads,
            "steps_per_epoch": len(trainer.sampler),
            "rows_per_rank_step": trainer.sampler.batch_size,
            "startup_s": round(built - start, 2),
            "epoch_s": round(sum(r["seconds"] for r in history) / len(history), 2),
            "fit_s": round(done - built, 2),
            "validation_accuracy": round(history[-1]["validation"]["clinc_intent"]["accuracy"], 4),
        }))


def launch(world: int, threads: int, args, out: Path) -> dict:
    config_path, result_path = out / f"config-w{world}-t{threads}.json", out / f"result-w{world}-t{threads}.json"
    config_path.write_text(json.dumps(make_config(args, out / f"run-w{world}-t{threads}", threads)))
    result_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={world}", str(Path(__file__).resolve()), "--worker",
           str(config_path), str(result_path)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=args.timeout_s)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"run W={world} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    row = json.loads(result_path.read_text())
    return {"bench": "ddp_epoch", **row, "launch_wall_s": round(wall, 1),
            "n_qubits": args.n_qubits, "device": args.device, "global_batch": args.batch_size,
            "cpu_cores": os.cpu_count(), "machine": platform.machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["1:1", "2:1", "1:2"],
                        help="WORLD:THREADS per run (processes, torch threads per process)")
    parser.add_argument("--max-examples", type=int, default=None,
                        help="rows per split (seeded subset); default: all of CLINC150")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32, help="global batch")
    parser.add_argument("--n-qubits", type=int, default=4)
    parser.add_argument("--device", default="qattn.torch")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "runs" / "feature_cache")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_ddp")
    parser.add_argument("--timeout-s", type=float, default=3600)
    parser.add_argument("--warm-only", action="store_true", help="only fill the feature cache")
    parser.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    print(json.dumps(warm_cache(make_config(args, args.out / "warm", 1))), flush=True)
    if args.warm_only:
        return
    rows = []
    for spec in args.runs:
        world, threads = (int(v) for v in spec.split(":"))
        rows.append(launch(world, threads, args, args.out))
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]
    for row in rows[1:]:
        print(json.dumps({"bench": "ddp_epoch", "speedup_vs": f"{base['world_size']}x"
                          f"{base['threads_per_rank']}", "run": f"{row['world_size']}x"
                          f"{row['threads_per_rank']}",
                          "epoch_speedup": round(base["epoch_s"] / row["epoch_s"], 2),
                          "fit_speedup": round(base["fit_s"] / row["fit_s"], 2)}), flush=True)


if __name__ == "__main__":
    main()
