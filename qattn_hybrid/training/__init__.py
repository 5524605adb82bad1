"""Training a MultiTaskModel: the loop and each part it is built from.

    trainer.py      :class:`Trainer`: the loop, validation, early stopping, resume
    factory.py      :func:`build_trainer`: a Trainer and its parts from a Config
    sampling.py     task samplers (which task each step trains) and length buckets
    weighting.py    loss weighting (how task losses become one backward pass)
    schedule.py     learning-rate schedules
    warmup.py       filling a frozen encoder's feature cache before the first step
    checkpoints.py  a run's folder: resumable checkpoints and the ``latest.json`` pointer
    selection.py    per-task model selection
    history.py      the per-epoch record (``metrics.csv`` / ``metrics.json``)
    tracking.py     experiment tracking (TensorBoard)
    baselines.py    the probe and mean pooling trained beside a run
"""

from __future__ import annotations

from qattn_hybrid.utils.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "BASELINES_NAME": "qattn_hybrid.training.baselines",
    "beside": "qattn_hybrid.training.baselines",
    "train_baselines": "qattn_hybrid.training.baselines",
    "LATEST_NAME": "qattn_hybrid.training.checkpoints",
    "RUN_FILES": "qattn_hybrid.training.checkpoints",
    "STATE_NAME": "qattn_hybrid.training.checkpoints",
    "checkpoint_epoch": "qattn_hybrid.training.checkpoints",
    "describe_output_dir": "qattn_hybrid.training.checkpoints",
    "latest_checkpoint": "qattn_hybrid.training.checkpoints",
    "load_checkpoint_state": "qattn_hybrid.training.checkpoints",
    "prepare_output_dir": "qattn_hybrid.training.checkpoints",
    "prune_checkpoints": "qattn_hybrid.training.checkpoints",
    "restore": "qattn_hybrid.training.checkpoints",
    "save": "qattn_hybrid.training.checkpoints",
    "build_model": "qattn_hybrid.training.factory",
    "build_optimizer": "qattn_hybrid.training.factory",
    "build_sampler": "qattn_hybrid.training.factory",
    "build_trainer": "qattn_hybrid.training.factory",
    "build_weighting": "qattn_hybrid.training.factory",
    "epoch_line": "qattn_hybrid.training.history",
    "format_score": "qattn_hybrid.training.history",
    "write_metrics": "qattn_hybrid.training.history",
    "ProportionalSampler": "qattn_hybrid.training.sampling",
    "RoundRobinSampler": "qattn_hybrid.training.sampling",
    "SAMPLERS": "qattn_hybrid.training.sampling",
    "TaskSampler": "qattn_hybrid.training.sampling",
    "TemperatureSampler": "qattn_hybrid.training.sampling",
    "bucket_order": "qattn_hybrid.training.sampling",
    "make_sampler": "qattn_hybrid.training.sampling",
    "SCHEDULES": "qattn_hybrid.training.schedule",
    "lr_factor": "qattn_hybrid.training.schedule",
    "PER_TASK_DIR": "qattn_hybrid.training.selection",
    "best_epochs": "qattn_hybrid.training.selection",
    "save_improved": "qattn_hybrid.training.selection",
    "test_per_task": "qattn_hybrid.training.selection",
    "DEFAULT_DIR_NAME": "qattn_hybrid.training.tracking",
    "NullTracker": "qattn_hybrid.training.tracking",
    "TRACKERS": "qattn_hybrid.training.tracking",
    "TensorBoardTracker": "qattn_hybrid.training.tracking",
    "Tracker": "qattn_hybrid.training.tracking",
    "epoch_scalars": "qattn_hybrid.training.tracking",
    "flat_hparams": "qattn_hybrid.training.tracking",
    "make_tracker": "qattn_hybrid.training.tracking",
    "tracking_dir": "qattn_hybrid.training.tracking",
    "OptimizerBuilder": "qattn_hybrid.training.trainer",
    "TrainResult": "qattn_hybrid.training.trainer",
    "Trainer": "qattn_hybrid.training.trainer",
    "check_tasks": "qattn_hybrid.training.trainer",
    "evaluate": "qattn_hybrid.training.trainer",
    "seed_everything": "qattn_hybrid.training.trainer",
    "WarmupStats": "qattn_hybrid.training.warmup",
    "torch_threads": "qattn_hybrid.training.warmup",
    "warm_features": "qattn_hybrid.training.warmup",
    "DWA": "qattn_hybrid.training.weighting",
    "EqualWeighting": "qattn_hybrid.training.weighting",
    "GradNorm": "qattn_hybrid.training.weighting",
    "JacobianWeighting": "qattn_hybrid.training.weighting",
    "LossWeighting": "qattn_hybrid.training.weighting",
    "UncertaintyWeighting": "qattn_hybrid.training.weighting",
    "WEIGHTINGS": "qattn_hybrid.training.weighting",
    "make_weighting": "qattn_hybrid.training.weighting",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
