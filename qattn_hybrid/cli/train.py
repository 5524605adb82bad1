"""``qattn train`` and ``qattn probe``: a run from a config, and the baseline beside it."""

from __future__ import annotations

import json
import sys
import time

from qattn_hybrid.cli.models import quiet_transformers
from qattn_hybrid.cli.tables import table

__all__ = ["probe", "train"]


def train(args) -> int:
    from qattn_hybrid.config.sections import load_config

    config = load_config(args.config)
    overrides = {"output_dir": args.output_dir, "epochs": args.epochs, "seed": args.seed,
                 "torch_device": args.torch_device}
    training = {k: v for k, v in overrides.items() if v is not None}
    if args.quiet:
        training["progress"] = False
    if getattr(args, "tensorboard", None) is not None:
        training.update(tracking="tensorboard", tracking_dir=args.tensorboard)
    if training:
        config = config.replace(training=training)
    if args.dry_run:
        from qattn_hybrid.cli.plan import plan_run

        print("\n".join(plan_run(config, resume=args.resume, overwrite=args.overwrite)))
        return 0
    from qattn_hybrid.training.checkpoints import describe_output_dir

    describe_output_dir(config.training.output_dir, resume=args.resume,  # refuse before loading
                        overwrite=args.overwrite)
    quiet_transformers()
    from qattn_hybrid.training.factory import build_trainer

    started = getattr(args, "started", time.perf_counter())
    trainer = build_trainer(config)
    clock = {"start-up": time.perf_counter() - started}  # imports, data, encoder, model
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
        _plot_curves(result.output_dir)
    clock["plots"] = time.perf_counter() - mark
    _report(args, trainer, result, clock)
    print(_phases(clock, trainer, result, started))
    return 0


def _phases(clock: dict, trainer, result, started: float) -> str:
    """One line: where the wall time of `qattn train` went."""
    stats = trainer.warmup_stats
    probe_s = sum(r.seconds for r in (trainer.probes or {}).values())
    epochs_s = sum(r["seconds"] for r in result.history)
    parts = {"start-up": clock["start-up"], "encoding": stats.seconds if stats else 0.0,
             "probe fits": probe_s, f"{len(result.history)} epochs": epochs_s,
             "test and files": clock["fit"] - probe_s - epochs_s,
             "plots": clock.get("plots", 0.0), "baselines": clock.get("baselines", 0.0)}
    return (f"Wall time {time.perf_counter() - started:.1f} s: "
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


def _plot_curves(output_dir) -> None:
    try:
        from qattn_hybrid.evaluation.plots import plot_training_curves

        png = plot_training_curves(output_dir / "metrics.csv", output_dir / "training_curves.png")
        print(f"Training curves: {png}")
    except ImportError as err:
        print(f"(no plots: {err})", file=sys.stderr)


def _report(args, trainer, result, clock: dict) -> None:
    """Epoch time, then the best model's results beside the baselines."""
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
        from qattn_hybrid.training.baselines import beside, train_baselines

        print("Baselines on the same data: linear probe, and the same recipe on mean pooling")
        mark = time.perf_counter()
        try:
            metrics = beside(metrics, train_baselines(trainer), split)
        except ImportError as err:  # scikit-learn is the extra `probe`
            print(f"(no baselines: {err})", file=sys.stderr)
        clock["baselines"] = time.perf_counter() - mark
    print(f"\n{split.capitalize()} results (best model, {result.output_dir / 'best'}):")
    print(table(metrics))


def probe(args) -> int:
    from qattn_hybrid.config.sections import load_config
    from qattn_hybrid.evaluation.probe import run_probe

    results = run_probe(load_config(args.config))
    if args.json:
        print(json.dumps({t: {"param": r.param, "validation_scores": r.scores, **r.metrics}
                          for t, r in results.items()}, indent=2))
        return 0
    scores = {t: r.metrics[args.split] for t, r in results.items() if args.split in r.metrics}
    if not scores:
        raise ValueError(f"no task has a {args.split!r} split")
    print(f"Linear probe on mean-pooled frozen features, {args.split} split:")
    print(table(scores))
    return 0
