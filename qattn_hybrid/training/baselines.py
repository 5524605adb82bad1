"""Baselines beside a trained run: the linear probe (:mod:`qattn_hybrid.evaluation.probe`) and the
same recipe on mean pooling, on the run's tasks, features and encoder.

    baselines = train_baselines(trainer)        # after fit(); also <output_dir>/baselines.json
    table = beside(result.test_metrics, baselines)   # rows "task (probe)", "task (mean-pool)"

``qattn train`` prints them under its results (``--no-baselines`` skips them) and ``qattn eval``
shows the saved ones beside a run's scores.
"""

from __future__ import annotations

import dataclasses
import json
import logging

from qattn_hybrid.evaluation.evaluator import evaluate
from qattn_hybrid.evaluation.probe import run_probe
from qattn_hybrid.training.factory import build_trainer
from qattn_hybrid.utils.files import atomic_write_text

__all__ = ["BASELINES_NAME", "beside", "train_baselines"]

log = logging.getLogger(__name__)
BASELINES_NAME = "baselines.json"


def train_baselines(trainer, splits=("validation", "test")) -> dict:
    """The probe and the mean-pool model on a trained run's tasks, features and recipe.

    Returns ``{"probe": {task: {split: metrics}}, "mean": {...}}`` and writes it to the run's
    ``baselines.json``. The mean-pool model is the same config with ``attention = "mean"``
    (trained in ``<output_dir>/baselines/mean``), on the same shared encoder and data. The
    probe fits of the run (``trainer.probes``, from ``init_heads = "probe"``) are reused for
    the table and for the mean-pool model's heads: the same fit on the same features. A run
    that fine-tuned its encoder gets the probe of the pretrained encoder (frozen, the shared
    feature cache) and no mean-pool model (that would be a second fine-tuning run).
    """
    config, tasks, encoder = trainer.config, trainer.tasks, trainer.model.encoder
    finetuned = encoder.cache is None
    out = {"probe": {}, "mean": {}}
    probes = trainer.probes  # fitted once per run (LP-FT's heads), reused
    if probes is None:
        try:
            probes = _baseline_probes(trainer) if finetuned else run_probe(config, tasks, encoder)
        except ImportError as err:  # scikit-learn missing: the mean-pool baseline still runs
            log.warning("No probe baseline: %s", err)
            probes = {}
    for name, result in (probes or {}).items():
        out["probe"][name] = {s: m for s, m in result.metrics.items() if s in splits}
    if finetuned:  # its mean-pool twin would be a second fine-tuning run
        log.info("No mean-pool baseline for a fine-tuned encoder (it would fine-tune again); "
                 "the probe on the frozen pretrained encoder is the baseline")
        out.pop("mean")
    elif config.model.attention != "mean":
        mean_config = config.replace(
            model={"attention": "mean"},
            training={"output_dir": str(trainer.output_dir / "baselines" / "mean"),
                      "progress": False})
        mean = build_trainer(mean_config, tasks=tasks, encoder=encoder)
        mean.probes = probes or None  # same features and splits: its heads start as these fits
        if _nothing_to_train(mean):  # e.g. heads fixed at the probe (head_lr = 0), no attention
            log.info("Mean-pool baseline: every learning rate is 0, nothing to train; "
                     "evaluated as initialised")
            if mean.init_heads is not None:
                mean.init_heads(mean)
        else:
            mean.fit(overwrite=True)  # a derived baseline: rerun whole with its run
        for split in splits:
            for name, metrics in evaluate(mean.model, tasks, split).items():
                out["mean"].setdefault(name, {})[split] = metrics
    else:
        out.pop("mean")
    if trainer.is_writer:
        atomic_write_text(trainer.output_dir / BASELINES_NAME,
                          json.dumps({"model": dataclasses.asdict(config.model)["attention"],
                                      **out}, indent=2) + "\n")
    return out


def _baseline_probes(trainer) -> dict:
    """A fine-tuned run's probe on the pretrained encoder, fitted now on the encoder the config
    names, loaded frozen (LP-FT runs have theirs in ``trainer.probes`` already)."""
    if trainer.model.encoder_source is None:
        log.warning("No probe baseline: the encoder was fine-tuned in memory and its "
                    "pretrained weights are gone (build it from model.encoder to get one)")
        return {}
    return run_probe(trainer.config, trainer.tasks, None)  # loads the pretrained one, frozen


def _nothing_to_train(trainer) -> bool:
    """Whether no parameter of the trainer's optimizer could move (every group's lr is 0)."""
    return all(group["base_lr"] == 0 for group in trainer.optimizer.param_groups
               if group["params"])


def beside(results: dict, baselines: dict, split: str = "test") -> dict:
    """A results table (task -> metrics) with rows "task (probe)" and "task (mean-pool)" added
    after each task's own row, from :func:`train_baselines`' output."""
    table = {}
    for task, metrics in results.items():
        table[task] = metrics
        for kind, label in (("probe", "probe"), ("mean", "mean-pool")):
            row = (baselines.get(kind) or {}).get(task, {}).get(split)
            if row is not None:
                table[f"  {task} ({label})"] = row
    return table
