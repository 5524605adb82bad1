"""The ``qattn`` command line.

    qattn train CONFIG [--resume | --overwrite] [--dry-run] [--output-dir DIR] [--epochs N]
               [--no-baselines] [--tensorboard DIR]
    qattn eval CHECKPOINT [--split test] [--config CONFIG] [--json]
    qattn probe CONFIG [--split test] [--json]
    qattn predict CHECKPOINT "text" ["text" ...] --task NAME [--attention] [--plot FILE]
    qattn attend CHECKPOINT "text" [--tasks T1,T2] [--output FILE.png] [--top K] [--json]
    qattn rank CHECKPOINT ITEMS.jsonl --task NAME [--label L] [--top K] [--json]
    qattn draw [CONFIG] [--n-qubits 4 --n-layers 2 --ansatz ... --conditioning ...]
    qattn resources [CONFIG] [same circuit options]
    qattn cost [CONFIG] [same circuit options] --qml-device NAME --tokens N --shots S
               [--diff-method parameter-shift] [--price-per-task P] [--price-per-shot P]
    qattn monitor RUN [--follow FILE [--from-start]] [--config MONITOR.toml] [--webhook URL]
                  [--metrics-port PORT] [--plot FILE.png]
    qattn export RUN_DIR --format onnx|torch [--quantize int8] [--output DIR]
    qattn serve RUN_DIR [--host 127.0.0.1] [--port 8000] [--api-key-file F] [--max-batch 64]
                [--max-wait-ms 10] [--no-fold]
    qattn serve-ray RUN_DIR [same options as serve] [--min-replicas 1] [--max-replicas 2]
                [--target-ongoing-requests 2] [--upscale-delay-s 30] [--downscale-delay-s 600]
                [--address RAY_ADDRESS]

CHECKPOINT is a saved model folder (``config.json`` + ``model.safetensors``), a training run's
output folder (its ``best/`` model is used) or one of its ``checkpoints/epoch-*`` folders.
This module parses the command line; each command's handler lives in
``qattn_hybrid.cli`` (``serving.commands`` for export and serving) and is imported only when
that command runs. It imports only the standard library at start-up (``qattn --help`` takes a
fraction of a second); torch, PennyLane and transformers load inside the commands that need
them. These modules are the only ones in the library that print.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from qattn_hybrid.cli.tables import table as _table  # noqa: F401  (stdlib only)

__all__ = ["main"]
_START = time.perf_counter()  # this module loads first: ~the process start


# Each handler imports its command's module when it runs (so `--help` stays light); plain
# imports, so tests/test_layering.py sees who imports whom.
def _train(args) -> int:
    from qattn_hybrid.cli.train import train
    return train(args)


def _probe(args) -> int:
    from qattn_hybrid.cli.train import probe
    return probe(args)


def _eval(args) -> int:
    from qattn_hybrid.cli.models import evaluate
    return evaluate(args)


def _predict(args) -> int:
    from qattn_hybrid.cli.models import predict
    return predict(args)


def _attend(args) -> int:
    from qattn_hybrid.cli.attend import attend
    return attend(args)


def _rank(args) -> int:
    from qattn_hybrid.cli.models import rank
    return rank(args)


def _monitor(args) -> int:
    from qattn_hybrid.cli.monitor import monitor
    return monitor(args)


def _circuit(args) -> int:
    from qattn_hybrid.cli import circuit
    return getattr(circuit, args.command)(args)  # draw, resources or cost


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "quiet", False))
    args.started = _START  # `qattn train` reports where the wall time went
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, LookupError, TypeError, OSError, ImportError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        message = " ".join(str(message).split()) or type(err).__name__  # always one line
        print(f"qattn {args.command}: error: {message}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    """The ``qattn`` argument parser, every subcommand and flag (the docs' commands are checked
    against it)."""
    parser = argparse.ArgumentParser(prog="qattn", description="Task-conditioned quantum "
                                     "attention: train, evaluate, inspect.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a multi-task model from a TOML/YAML config")
    p.add_argument("config", help="config file (.toml, .yaml, .json)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in the "
                   "output folder (without this or --resume a non-empty folder is refused)")
    p.add_argument("--dry-run", action="store_true", help="validate the config, data, encoder, "
                   "circuit and output folder and print the plan; train and write nothing")
    p.add_argument("--output-dir", help="override training.output_dir")
    p.add_argument("--epochs", type=int, help="override training.epochs")
    p.add_argument("--seed", type=int, help="override training.seed")
    p.add_argument("--torch-device", "--device", dest="torch_device", metavar="DEVICE",
                   help="override training.torch_device: cpu, cuda, cuda:1 (--device is the "
                        "old name)")
    p.add_argument("--no-plots", action="store_true", help="skip the training-curve PNG")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or epoch logs")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip the probe and mean-pool baselines printed beside the results")
    p.add_argument("--tensorboard", metavar="DIR", help="log the run to TensorBoard event "
                   "files in DIR (training.tracking = 'tensorboard', training.tracking_dir = "
                   "DIR); view with `tensorboard --logdir DIR`")
    p.set_defaults(run=_train)

    p = sub.add_parser("probe", help="the baseline: a linear probe (logistic / ridge "
                       "regression) on the mean-pooled frozen features of a config's tasks")
    p.add_argument("config", help="config file (.toml, .yaml, .json)")
    p.add_argument("--split", default="test", help="split to report (default: test)")
    p.add_argument("--json", action="store_true", help="print JSON (every split, chosen C)")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(run=_probe)

    p = sub.add_parser("eval", help="evaluate a saved model on its tasks' data")
    p.add_argument("checkpoint", help="model folder, run folder or checkpoint folder")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument("--config", help="take the tasks from this config instead of the model's")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(run=_eval)

    p = sub.add_parser("predict", help="label texts with a saved model")
    p.add_argument("checkpoint", help="model folder, run folder or checkpoint folder")
    p.add_argument("texts", nargs="+", help="one or more texts")
    p.add_argument("--task", required=True, help="task name (see the model's config.json)")
    p.add_argument("--attention", action="store_true", help="also print token weights")
    p.add_argument("--plot", help="write a PNG heatmap of every task's attention on the "
                   "first text")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(run=_predict)

    p = sub.add_parser("attend", help="which words of a text each task attends to: top "
                       "words per task, and a heatmap PNG (rows = tasks, columns = words)")
    p.add_argument("checkpoint", help="model folder, run folder or checkpoint folder")
    p.add_argument("text", help="the text (its words are its whitespace-separated parts)")
    p.add_argument("--tasks", help="comma-separated task names (default: all of the model's)")
    p.add_argument("--output", "-o", metavar="FILE.png", help="write the heatmap PNG here")
    p.add_argument("--top", type=int, default=3, metavar="K",
                   help="most attended words listed per task (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON: every word's weight per "
                   "task, the top words, the predictions")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(run=_attend)

    p = sub.add_parser("rank", help="rank items (texts in a JSONL file) by a task's prediction")
    p.add_argument("checkpoint", help="model folder, run folder or checkpoint folder")
    p.add_argument("items", help="JSONL: one item per line, {\"id\": ..., \"text\": ...} or "
                   "\"texts\": [...]; lines with one id are one item")
    p.add_argument("--task", required=True, help="task to score by (regression: the "
                   "prediction; classification: P(--label))")
    p.add_argument("--label", help="class whose probability is the score (default for a "
                   "binary task: the second label in sorted order)")
    p.add_argument("--top", type=int, help="print only the best K items")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(run=_rank)

    _monitor_parser(sub)

    p = sub.add_parser("export", help="fold a trained model and export it (ONNX or "
                       "torch.export) so that it runs without PennyLane")
    p.add_argument("run_dir", help="model folder, run folder or checkpoint folder")
    p.add_argument("--format", choices=("onnx", "torch"), default="onnx")
    p.add_argument("--output", "-o", help="export folder (default: RUN_DIR/export-FORMAT)")
    p.add_argument("--quantize", choices=("int8",), help="int8 dynamic quantization of the "
                   "linear layers (ONNX); prints the accuracy change")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(run=_export)

    p = sub.add_parser("serve", help="answer predictions over HTTP (FastAPI + uvicorn), with a "
                       "web page, auth and Prometheus metrics")
    _serve_arguments(p)
    p.set_defaults(run=_serve)

    p = sub.add_parser("serve-ray", help="the same server as Ray Serve replicas that scale "
                       "with the load (a local Ray cluster, or the one at --address)")
    _serve_arguments(p)
    _ray_arguments(p)
    p.set_defaults(run=_serve_ray)

    for name, text in (("draw", "print the attention circuit for one token"),
                       ("resources", "gate counts, depth and parameters of the circuit (JSON)"),
                       ("cost", "circuits, jobs, shots and price of a forward pass and a "
                        "training step on a QPU (JSON); sends nothing")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("config", nargs="?",
                       help="take the circuit from this config's [model.circuit]")
        _circuit_arguments(p)
        p.set_defaults(run=_circuit)
    _cost_arguments(p)  # p is the `cost` parser
    return parser


def _monitor_parser(sub) -> None:
    p = sub.add_parser("monitor", help="score a live stream of JSON lines and alert when the "
                       "negative share of a topic ($CASHTAG or \"topic\") surges")
    p.add_argument("run_dir", metavar="RUN", help="model folder, run folder or checkpoint folder")
    p.add_argument("--follow", metavar="FILE", help="read lines appended to FILE (tail -f) "
                   "instead of stdin")
    p.add_argument("--from-start", action="store_true", help="with --follow: also the lines "
                   "already in FILE")
    p.add_argument("--idle-exit", type=float, metavar="S", help="with --follow: stop after S "
                   "seconds without a new line (default: never)")
    p.add_argument("--task", help="task to score (default: the model's only task)")
    p.add_argument("--negative-label", help="the task's negative label (default: Bearish)")
    p.add_argument("--config", help="TOML file whose [monitor] section sets the thresholds")
    for name, kind in (("window", int), ("baseline-alpha", float), ("margin", float),
                       ("min-share", float), ("min-count", int), ("cooldown", int)):
        p.add_argument(f"--{name}", type=kind, help="override monitor." + name.replace("-", "_"))
    p.add_argument("--batch-size", type=int, default=8, help="texts per forward pass "
                   "(default: %(default)s; 1 for the lowest latency)")
    p.add_argument("--webhook", metavar="URL", help="POST each alert as JSON to URL")
    p.add_argument("--webhook-timeout", type=float, default=5.0, metavar="S")
    p.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus "
                   "/metrics on 127.0.0.1:PORT (0: any free port)")
    p.add_argument("--plot", metavar="FILE.png", help="write the trend plot at the end")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(run=_monitor)


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(message)s", stream=sys.stderr)


def _export(args) -> int:
    from qattn_hybrid.cli.serve import export_command

    print("\n".join(export_command(args)))
    return 0


def _serve(args) -> int:
    from qattn_hybrid.cli.serve import serve_command

    serve_command(args, say=lambda line: print(line, flush=True))
    return 0


def _serve_ray(args) -> int:
    from qattn_hybrid.cli.serve import serve_ray_command

    serve_ray_command(args, say=lambda line: print(line, flush=True))
    return 0


def _serve_arguments(p) -> None:
    """What `serve` and `serve-ray` share: the model, the address, auth and request limits."""
    p.add_argument("run_dir", help="model folder, run folder or checkpoint folder")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key-file", help="file holding the API key; /v1/* then needs "
                   "'Authorization: Bearer KEY' (without one, only localhost may bind)")
    p.add_argument("--max-batch", type=int, default=64, help="texts per forward pass")
    p.add_argument("--max-wait-ms", type=float, default=10.0, help="how long a request waits "
                   "for others to share its forward pass")
    p.add_argument("--max-texts", type=int, default=64, help="texts per request")
    p.add_argument("--max-bytes", type=int, default=65536, help="request body size limit")
    p.add_argument("--no-fold", action="store_true", help="run the circuits (slower) instead "
                   "of their exact folded form")
    p.add_argument("--store-samples", metavar="FILE", help="append served texts and their "
                   "labels to this JSONL file (masked unless --no-mask)")
    p.add_argument("--max-samples", type=int, default=1000, metavar="N",
                   help="texts the samples file may hold (default: %(default)s)")
    p.add_argument("--no-mask", action="store_true", help="keep emails, phone, card and "
                   "account numbers in logs and stored samples (masked by default)")
    p.add_argument("--quiet", "-q", action="store_true")


def _ray_arguments(p) -> None:
    """Ray Serve's replicas and autoscaling (defaults: serving.ray_app.ScalingSettings)."""
    p.add_argument("--min-replicas", type=int, default=1, metavar="N",
                   help="replicas kept however idle (default: %(default)s)")
    p.add_argument("--max-replicas", type=int, default=2, metavar="N",
                   help="replicas at most (default: %(default)s)")
    p.add_argument("--target-ongoing-requests", type=float, default=2.0, metavar="N",
                   help="requests in flight per replica the autoscaler aims at "
                        "(default: %(default)s)")
    p.add_argument("--max-ongoing-requests", type=int, default=16, metavar="N",
                   help="requests one replica takes at once; more wait in Ray's queue "
                        "(default: %(default)s)")
    p.add_argument("--upscale-delay-s", type=float, default=30.0, metavar="S",
                   help="seconds above target before a replica is added (default: %(default)s)")
    p.add_argument("--downscale-delay-s", type=float, default=600.0, metavar="S",
                   help="seconds below target before one is removed (default: %(default)s)")
    p.add_argument("--cpus-per-replica", type=float, default=1.0, metavar="N",
                   help="Ray CPUs per replica, also its torch threads (default: %(default)s)")
    p.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else start a "
                   "local one)")


# --------------------------------------------------------------------------- circuit options
# The circuit's choices and defaults, written out so `--help` needs no PennyLane import;
# tests/qattn_hybrid/cli/test_parser.py checks them against circuits.spec.
CIRCUIT_CHOICES = {"ansatz": ("hardware_efficient", "strongly_entangling", "no_entanglement"),
                   "conditioning": ("per_task_weights", "task_rotations"),
                   "rotation": ("X", "Y", "Z"), "readout": ("z", "z_zz")}
CIRCUIT_DEFAULTS = {"n_qubits": 4, "n_layers": 2, "ansatz": "hardware_efficient",
                    "conditioning": "per_task_weights", "rotation": "Y", "readout": "z"}
HARDWARE_DIFF_METHODS = ("parameter-shift", "spsa", "finite-diff")


def _circuit_arguments(p) -> None:
    """Circuit options; unset ones come from CONFIG's [model.circuit], else the defaults shown."""
    def default(name: str) -> str:
        return f"(default: the config's, else {CIRCUIT_DEFAULTS[name]})"

    p.add_argument("--n-qubits", type=int, metavar="N", help=f"wires {default('n_qubits')}")
    p.add_argument("--n-layers", type=int, metavar="N",
                   help=f"variational layers {default('n_layers')}")
    p.add_argument("--n-tasks", type=int, metavar="N",
                   help="tasks the circuit is conditioned on (default: the config's task "
                        "count, else 1)")
    for name, what in (("ansatz", "variational block"), ("conditioning", "task conditioning"),
                       ("rotation", "embedding axis"), ("readout", "observables")):
        choices = CIRCUIT_CHOICES[name]
        p.add_argument(f"--{name}", choices=choices, metavar="{" + ",".join(choices) + "}",
                       help=f"{what} {default(name)}")
    p.add_argument("--reupload", action="store_true", default=None,
                   help="re-embed the angles before every layer (default: the config's, "
                        "else off)")


def _cost_arguments(p) -> None:
    p.add_argument("--qml-device", "--device", dest="qml_device", metavar="NAME",
                   default="braket.aws.qubit",
                   help="PennyLane QPU device: braket.aws.qubit, qiskit.remote, "
                        "qiskit.estimator, ionq.qpu, ...; --device is the old name "
                        "(default: %(default)s)")
    p.add_argument("--tokens", type=int, default=128, metavar="N",
                   help="circuit rows per batch: real tokens after deduplication "
                        "(default: %(default)s)")
    p.add_argument("--shots", type=int, default=1000, metavar="N",
                   help="shots per circuit (default: %(default)s)")
    p.add_argument("--diff-method", default="parameter-shift", choices=HARDWARE_DIFF_METHODS,
                   help="hardware gradient method (default: %(default)s)")
    p.add_argument("--price-per-task", type=float, metavar="P",
                   help="your provider's price per task/job (default: none, no price shown)")
    p.add_argument("--price-per-shot", type=float, metavar="P",
                   help="your provider's price per shot (default: none, no price shown)")
    p.add_argument("--currency", default="USD", help="currency of the prices "
                   "(default: %(default)s)")
    p.add_argument("--max-executables", type=int, metavar="N",
                   help="Braket program-set size (default: 100)")



if __name__ == "__main__":
    sys.exit(main())
