"""The ``qattn`` command line.

    qattn train CONFIG [--resume] [--output-dir DIR] [--epochs N] [--quiet] [--no-baselines]
    qattn eval CHECKPOINT [--split test] [--config CONFIG] [--json]
    qattn probe CONFIG [--split test] [--json]
    qattn predict CHECKPOINT "text" ["text" ...] --task NAME [--attention] [--plot FILE]
    qattn draw [CONFIG] [--n-qubits 4 --n-layers 2 --ansatz ... --conditioning ...]
    qattn resources [CONFIG] [same circuit options]
    qattn cost [CONFIG] [same circuit options] --device NAME --tokens N --shots S
               [--diff-method parameter-shift] [--price-per-task P] [--price-per-shot P]

CHECKPOINT is a saved model folder (``config.json`` + ``model.safetensors``), a training run's
output folder (its ``best/`` model is used) or one of its ``checkpoints/epoch-*`` folders.
This module is the only place in the library that prints.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "quiet", False))
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError, TypeError, FileNotFoundError, ImportError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"qattn {args.command}: error: {message}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qattn", description="Task-conditioned quantum "
                                     "attention: train, evaluate, inspect.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a multi-task model from a TOML/YAML config")
    p.add_argument("config", help="config file (.toml, .yaml, .json)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
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

    for name, run, text in (("draw", _draw, "print the attention circuit for one token"),
                            ("resources", _resources, "gate counts, depth and parameters of "
                             "the circuit (JSON)"),
                            ("cost", _cost, "circuits, jobs, shots and price of a forward "
                             "pass and a training step on a QPU (JSON); sends nothing")):
        p = sub.add_parser(name, help=text)
        p.add_argument("config", nargs="?", help="take the circuit from this config's [model]")
        p.add_argument("--n-qubits", type=int)
        p.add_argument("--n-layers", type=int)
        p.add_argument("--n-tasks", type=int, help="default: the config's task count, else 1")
        p.add_argument("--ansatz")
        p.add_argument("--conditioning")
        p.add_argument("--rotation")
        p.add_argument("--readout")
        p.add_argument("--reupload", action="store_true", default=None)
        p.set_defaults(run=run)
    _cost_arguments(p)  # p is the `cost` parser
    return parser


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(message)s", stream=sys.stderr)
    try:  # transformers' own weight-loading bars
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


# --------------------------------------------------------------------------- train
def _train(args) -> int:
    from qattn_hybrid.config import load_config
    from qattn_hybrid.training import Trainer

    config = load_config(args.config)
    overrides = {"output_dir": args.output_dir, "epochs": args.epochs, "seed": args.seed,
                 "device": args.device}
    training = {k: v for k, v in overrides.items() if v is not None}
    if args.quiet:
        training["progress"] = False
    if training:
        config = config.replace(training=training)
    trainer = Trainer(config)
    if trainer.is_writer:
        tasks = ", ".join(f"{n} ({len(t.train)} train)" for n, t in trainer.tasks.items())
        print(f"Training {config.model.attention} attention on {tasks}")
    result = trainer.fit(resume=args.resume)
    if not trainer.is_writer:
        return 0
    if not args.no_plots and result.history:
        try:
            from qattn_hybrid.plots import plot_training_curves

            png = plot_training_curves(result.output_dir / "metrics.csv",
                                       result.output_dir / "training_curves.png")
            print(f"Training curves: {png}")
        except ImportError as err:
            print(f"(no plots: {err})", file=sys.stderr)
    epoch_s = [r["seconds"] for r in result.history]
    print(f"Best epoch {result.best_epoch} of {len(result.history)}"
          f"{' (early stop)' if result.stopped_early else ''}; "
          f"{sum(epoch_s) / max(len(epoch_s), 1):.1f} s per epoch")
    split = "test" if result.test_metrics else "validation"
    metrics = result.test_metrics or result.history[result.best_epoch - 1]["validation"]
    if not args.no_baselines:
        from qattn_hybrid.probe import beside, train_baselines

        print("Baselines on the same data: linear probe, and the same recipe on mean pooling")
        try:
            metrics = beside(metrics, train_baselines(trainer), split)
        except ImportError as err:  # scikit-learn is the extra `probe`
            print(f"(no baselines: {err})", file=sys.stderr)
    print(f"\n{split.capitalize()} results (best model, {result.output_dir / 'best'}):")
    print(_table(metrics))
    return 0


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
def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A model folder from a model, run or checkpoint folder."""
    path = Path(path)
    for candidate in (path, path / "best", path / "model"):
        if (candidate / "config.json").is_file() and (candidate / "model.safetensors").exists():
            return candidate
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    raise FileNotFoundError(f"checkpoint {path} holds no saved model (config.json + "
                            "model.safetensors, directly or in best/ or model/)")


def _load_model(path):
    from qattn_hybrid.model import MultiTaskModel, read_json

    model_dir = resolve_model_dir(path)
    meta = read_json(model_dir / "config.json", "model config")
    cache_dir = ((meta.get("metadata") or {}).get("data") or {}).get("cache_dir")  # reuse features
    return MultiTaskModel.from_pretrained(model_dir, cache_dir=cache_dir)


def _eval(args) -> int:
    from qattn_hybrid.config import DataConfig, load_config
    from qattn_hybrid.data import load_tasks
    from qattn_hybrid.training import evaluate

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


def _cost_arguments(p) -> None:
    p.add_argument("--device", default="braket.aws.qubit",
                   help="braket.aws.qubit, qiskit.remote, qiskit.estimator, ionq.qpu, ...")
    p.add_argument("--tokens", type=int, default=128,
                   help="circuit rows per batch: real tokens after deduplication")
    p.add_argument("--shots", type=int, default=1000)
    p.add_argument("--diff-method", default="parameter-shift",
                   help="parameter-shift, spsa or finite-diff")
    p.add_argument("--price-per-task", type=float, help="your provider's price per task/job")
    p.add_argument("--price-per-shot", type=float, help="your provider's price per shot")
    p.add_argument("--currency", default="USD")
    p.add_argument("--max-executables", type=int,
                   help="Braket program-set size (default 100)")


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
    """task | metric columns (percent for scores in [0, 1]; loss/mse as is)."""
    metrics = []
    for scores in results.values():
        metrics += [m for m in scores if m not in metrics and m != "loss"]
    header = ["task"] + metrics
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
    if metric in ("mse", "mae"):
        return f"{value:.4f}"
    return f"{100 * value:.1f}"


if __name__ == "__main__":
    sys.exit(main())
