"""The ``qattn`` command line.

    qattn train CONFIG [--resume | --overwrite] [--dry-run] [--output-dir DIR] [--epochs N]
               [--no-baselines]
    qattn eval CHECKPOINT [--split test] [--config CONFIG] [--json]
    qattn probe CONFIG [--split test] [--json]
    qattn predict CHECKPOINT "text" ["text" ...] --task NAME [--attention] [--plot FILE]
    qattn rank CHECKPOINT ITEMS.jsonl --task NAME [--label L] [--top K] [--json]
    qattn draw [CONFIG] [--n-qubits 4 --n-layers 2 --ansatz ... --conditioning ...]
    qattn resources [CONFIG] [same circuit options]
    qattn cost [CONFIG] [same circuit options] --device NAME --tokens N --shots S
               [--diff-method parameter-shift] [--price-per-task P] [--price-per-shot P]
    qattn export RUN_DIR --format onnx|torch [--quantize int8] [--output DIR]
    qattn serve RUN_DIR [--host 127.0.0.1] [--port 8000] [--api-key-file F] [--max-batch 64]
                [--max-wait-ms 10] [--no-fold]

CHECKPOINT is a saved model folder (``config.json`` + ``model.safetensors``), a training run's
output folder (its ``best/`` model is used) or one of its ``checkpoints/epoch-*`` folders.
This module is the only place in the library that prints. It imports only the standard
library at start-up (``qattn --help`` takes a fraction of a second); torch, PennyLane and
transformers load inside the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

__all__ = ["main"]
_START = time.perf_counter()  # this module loads first: ~the process start


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "quiet", False))
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


def _parser() -> argparse.ArgumentParser:
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
    p.add_argument("--device", help="override training.device (torch device)")
    p.add_argument("--no-plots", action="store_true", help="skip the training-curve PNG")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or epoch logs")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip the probe and mean-pool baselines printed beside the results")
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
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(run=_serve)

    for name, run, text in (("draw", _draw, "print the attention circuit for one token"),
                            ("resources", _resources, "gate counts, depth and parameters of "
                             "the circuit (JSON)"),
                            ("cost", _cost, "circuits, jobs, shots and price of a forward "
                             "pass and a training step on a QPU (JSON); sends nothing")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("config", nargs="?", help="take the circuit from this config's [model]")
        _circuit_arguments(p)
        p.set_defaults(run=run)
    _cost_arguments(p)  # p is the `cost` parser
    return parser


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(message)s", stream=sys.stderr)


def _quiet_transformers() -> None:
    """transformers' own weight-loading bars and chatter off (for commands that load models)."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


# --------------------------------------------------------------------------- train
def _train(args) -> int:
    from qattn_hybrid.config import load_config

    config = load_config(args.config)
    overrides = {"output_dir": args.output_dir, "epochs": args.epochs, "seed": args.seed,
                 "device": args.device}
    training = {k: v for k, v in overrides.items() if v is not None}
    if args.quiet:
        training["progress"] = False
    if training:
        config = config.replace(training=training)
    if args.dry_run:
        from qattn_hybrid.plan import plan_run

        print("\n".join(plan_run(config, resume=args.resume, overwrite=args.overwrite)))
        return 0
    from qattn_hybrid.checkpoints import describe_output_dir

    describe_output_dir(config.training.output_dir, resume=args.resume,  # refuse before loading
                        overwrite=args.overwrite)
    _quiet_transformers()
    from qattn_hybrid.training import Trainer

    trainer = Trainer(config)
    clock = {"start-up": time.perf_counter() - _START}  # imports, data, encoder, model
    if trainer.is_writer:
        tasks = ", ".join(f"{n} ({len(t.train)} train)" for n, t in trainer.tasks.items())
        print(f"Training {config.model.attention} attention on {tasks}")
    _print_warmup(trainer.warm_features(), trainer.is_writer)  # before fit: the count first
    mark = time.perf_counter()
    result = trainer.fit(resume=args.resume, overwrite=args.overwrite)
    clock["fit"] = time.perf_counter() - mark
    if not trainer.is_writer:
        return 0
    mark = time.perf_counter()
    if not args.no_plots and result.history:
        try:
            from qattn_hybrid.plots import plot_training_curves

            png = plot_training_curves(result.output_dir / "metrics.csv",
                                       result.output_dir / "training_curves.png")
            print(f"Training curves: {png}")
        except ImportError as err:
            print(f"(no plots: {err})", file=sys.stderr)
    clock["plots"] = time.perf_counter() - mark
    epoch_s = [r["seconds"] for r in result.history]  # training + validation
    print(f"Best epoch {result.best_epoch} of {len(result.history)}"
          f"{' (early stop)' if result.stopped_early else ''}; "
          f"{sum(epoch_s) / max(len(epoch_s), 1):.1f} s per epoch (training + validation)")
    split = "test" if result.test_metrics else "validation"
    metrics = result.test_metrics or result.history[result.best_epoch - 1]["validation"]
    if not args.no_baselines and trainer.world_size > 1:  # the other ranks have returned
        print("(no baselines under torchrun: run `qattn probe CONFIG` in one process)",
              file=sys.stderr)
    elif not args.no_baselines:
        from qattn_hybrid.probe import beside, train_baselines

        print("Baselines on the same data: linear probe, and the same recipe on mean pooling")
        mark = time.perf_counter()
        try:
            metrics = beside(metrics, train_baselines(trainer), split)
        except ImportError as err:  # scikit-learn is the extra `probe`
            print(f"(no baselines: {err})", file=sys.stderr)
        clock["baselines"] = time.perf_counter() - mark
    print(f"\n{split.capitalize()} results (best model, {result.output_dir / 'best'}):")
    print(_table(metrics))
    print(_phases(clock, trainer, result))
    return 0


def _phases(clock: dict, trainer, result) -> str:
    """One line: where the wall time of `qattn train` went."""
    stats = trainer.warmup_stats
    probe_s = sum(r.seconds for r in (trainer.probes or {}).values())
    epochs_s = sum(r["seconds"] for r in result.history)
    parts = {"start-up": clock["start-up"], "encoding": stats.seconds if stats else 0.0,
             "probe fits": probe_s, f"{len(result.history)} epochs": epochs_s,
             "test and files": clock["fit"] - probe_s - epochs_s,
             "plots": clock.get("plots", 0.0), "baselines": clock.get("baselines", 0.0)}
    return (f"Wall time {time.perf_counter() - _START:.1f} s: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in parts.items() if v >= 0.05))


def _print_warmup(stats, writer: bool) -> None:
    """How many distinct texts the frozen encoder saw, and how many it had to encode."""
    if stats is None or not writer:
        return
    if stats.encoded:
        print(f"Encoded {stats.encoded:,} distinct texts in {stats.seconds:.1f} s "
              f"({stats.threads} batches at once; {stats.distinct:,} distinct texts in all, "
              f"features cached)")
    else:
        print(f"Token features of {stats.distinct:,} distinct texts read from the cache "
              f"(0 encoded)")


def _probe(args) -> int:
    from qattn_hybrid.config import load_config
    from qattn_hybrid.probe import run_probe

    results = run_probe(load_config(args.config))
    if args.json:
        print(json.dumps({t: {"param": r.param, "validation_scores": r.scores, **r.metrics}
                          for t, r in results.items()}, indent=2))
        return 0
    table = {t: r.metrics[args.split] for t, r in results.items() if args.split in r.metrics}
    if not table:
        raise ValueError(f"no task has a {args.split!r} split")
    print(f"Linear probe on mean-pooled frozen features, {args.split} split:")
    print(_table(table))
    return 0


# --------------------------------------------------------------------------- eval / predict
def _load_model(path):
    from qattn_hybrid.files import read_json, resolve_model_dir
    from qattn_hybrid.model import MultiTaskModel

    _quiet_transformers()
    model_dir = resolve_model_dir(path)
    meta = read_json(model_dir / "config.json", "model config")
    cache_dir = ((meta.get("metadata") or {}).get("data") or {}).get("cache_dir")  # reuse features
    return MultiTaskModel.from_pretrained(model_dir, cache_dir=cache_dir)


def _eval(args) -> int:
    from qattn_hybrid.config import DataConfig, load_config
    from qattn_hybrid.data import load_tasks
    from qattn_hybrid.evaluation import evaluate

    model = _load_model(args.checkpoint)
    if args.config:
        data = load_config(args.config).data
    elif "data" in model.metadata:
        data = DataConfig(**model.metadata["data"])
    else:
        raise ValueError("the model does not record its data; pass --config CONFIG")
    tasks = load_tasks(data.task_specs())
    results = evaluate(model, tasks, args.split)
    if not results:
        raise ValueError(f"no task has a {args.split!r} split")
    baselines = _baselines_of(args.checkpoint)
    if baselines and not args.json:
        from qattn_hybrid.probe import beside

        results = beside(results, baselines, args.split)
    print(json.dumps(results, indent=2) if args.json else _table(results))
    return 0


def _baselines_of(checkpoint) -> dict | None:
    """The probe / mean-pool results `qattn train` wrote beside a run (None when absent)."""
    for folder in (Path(checkpoint), Path(checkpoint).parent):
        path = folder / "baselines.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    return None


def _predict(args) -> int:
    for i, text in enumerate(args.texts):  # before anything is loaded or printed
        if not text.strip():
            raise ValueError(f"text {i + 1} must be a non-empty str (not only whitespace); "
                             f"got {text!r}")
    model = _load_model(args.checkpoint)
    model.task_id(args.task)  # unknown task: error listing the model's tasks
    labels = model.predict(args.texts, args.task)
    for text, label in zip(args.texts, labels):
        print(f"{label}\t{text}")
        if args.attention:
            from qattn_hybrid.plots import attention_map

            tokens, _, w = attention_map(model, text, [args.task])
            print("\t" + " ".join(f"{t}:{float(v):.2f}" for t, v in zip(tokens, w[0])))
    if args.plot:
        from qattn_hybrid.plots import plot_attention

        print(f"Attention heatmap: {plot_attention(model, args.texts[0], args.plot)}")
    return 0


# --------------------------------------------------------------------------- serving
def _export(args) -> int:
    from qattn_hybrid.serving.commands import export_command

    print("\n".join(export_command(args)))
    return 0


def _serve(args) -> int:
    from qattn_hybrid.serving.commands import serve_command

    serve_command(args, say=lambda line: print(line, flush=True))
    return 0


# --------------------------------------------------------------------------- circuit
def _spec(args):
    from circuits import CircuitSpec

    values = {}
    n_tasks = 1
    if args.config:
        from qattn_hybrid.config import load_config

        config = load_config(args.config)
        m = config.model
        values = {"n_qubits": m.n_qubits, "n_layers": m.n_layers, "ansatz": m.ansatz,
                  "conditioning": m.conditioning, "rotation": m.rotation,
                  "readout": m.readout, "reupload": m.reupload}
        n_tasks = len(config.data.tasks)
    for name in ("n_qubits", "n_layers", "ansatz", "conditioning", "rotation", "readout",
                 "reupload"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    values["n_tasks"] = args.n_tasks if args.n_tasks is not None else n_tasks
    return CircuitSpec(**values)


def _draw(args) -> int:
    from circuits import draw

    print(draw(_spec(args)))
    return 0


# The circuit's choices and defaults, written out so `--help` needs no PennyLane import;
# tests/qattn_hybrid/test_cli.py checks them against circuits.spec.
CIRCUIT_CHOICES = {"ansatz": ("hardware_efficient", "strongly_entangling", "no_entanglement"),
                   "conditioning": ("per_task_weights", "task_rotations"),
                   "rotation": ("X", "Y", "Z"), "readout": ("z", "z_zz")}
CIRCUIT_DEFAULTS = {"n_qubits": 4, "n_layers": 2, "ansatz": "hardware_efficient",
                    "conditioning": "per_task_weights", "rotation": "Y", "readout": "z"}
HARDWARE_DIFF_METHODS = ("parameter-shift", "spsa", "finite-diff")


def _circuit_arguments(p) -> None:
    """Circuit options; unset ones come from CONFIG's [model], else the defaults shown."""
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
    p.add_argument("--device", default="braket.aws.qubit",
                   help="QPU device: braket.aws.qubit, qiskit.remote, qiskit.estimator, "
                        "ionq.qpu, ... (default: %(default)s)")
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


def _cost(args) -> int:
    from circuits.hardware import PriceTable, estimate_cost

    table = None
    if args.price_per_task is not None or args.price_per_shot is not None:
        table = PriceTable(args.price_per_task or 0.0, args.price_per_shot or 0.0, args.currency)
    estimate = estimate_cost(_spec(args), args.tokens, args.diff_method, args.shots, args.device,
                             table, max_executables=args.max_executables)
    print(json.dumps(estimate.to_dict(), indent=2))
    return 0


def _resources(args) -> int:
    from circuits import resources

    print(json.dumps(resources(_spec(args)), indent=2))
    return 0


# --------------------------------------------------------------------------- output
def _table(results: dict) -> str:
    """task | metric columns; the header gives the unit: (%) for scores in [0, 1]."""
    metrics = []
    for scores in results.values():
        metrics += [m for m in scores if m not in metrics and m != "loss"]
    header = ["task"] + [m if m in ("mse", "mae") else f"{m}(%)" for m in metrics]
    rows = [[task] + [_fmt(m, scores.get(m)) for m in metrics] for task, scores in results.items()]
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
             for r in [header] + rows]
    return "\n".join(lines)


def _fmt(metric: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if metric in ("mse", "mae", "rmse"):  # in the targets' own units
        return f"{value:.4f}"
    if metric in ("r2", "spearman"):  # can be negative: not a percentage
        return f"{value:.3f}"
    return f"{100 * value:.1f}"


# --------------------------------------------------------------------------- rank
def _rank(args) -> int:
    from qattn_hybrid.ranking import rank_items, read_items

    if args.top is not None and args.top < 1:
        raise ValueError(f"--top must be >= 1; got {args.top}")
    items = read_items(args.items)
    model = _load_model(args.checkpoint)
    ranked = rank_items(model, items, args.task, label=args.label)[: args.top]
    if args.json:
        for item in ranked:
            print(json.dumps(item._asdict()))
        return 0
    print(f"{'rank':>4}  {'score':>7}  {'texts':>5}  id")
    for item in ranked:
        print(f"{item.rank:>4}  {item.score:>7.3f}  {item.n_texts:>5}  {item.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
