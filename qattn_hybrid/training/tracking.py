"""Experiment tracking: what a training run sends to a tracker (TensorBoard) besides its files.

    [training]
    tracking = "tensorboard"          # None (default): no tracker
    tracking_dir = "runs/tb/demo"     # None: <output_dir>/tensorboard

or ``qattn train CONFIG --tensorboard DIR``; then ``tensorboard --logdir DIR``.

:func:`make_tracker` builds the one ``training.tracking`` names
(:func:`qattn_hybrid.training.factory.build_trainer` passes it to the Trainer). The trainer calls it
at four points and nothing else: :meth:`~Tracker.start` (the config and the first epoch it will
train, once per ``fit``), :meth:`~Tracker.log_epoch` (each epoch's history record, after its
checkpoint is written), :meth:`~Tracker.log_test` (the best model's test metrics) and
:meth:`~Tracker.close`. :class:`NullTracker` (tracking off, and every rank but 0 under torchrun)
does nothing. The per-epoch tags, each with the epoch number as its step::

    train/loss/<task>                       the epoch's mean training loss of the task
    validation/<task>/<metric>              metrics.json's validation entries (loss included)
    score                                   the monitored score (early stopping, best epoch)
    lr                                      the model's learning rate at the epoch's last step
    seconds/train, seconds/validation       wall time of the epoch's two halves
    test/<task>/<metric>                    the best model on the test split (step: last epoch)

and the config as text (``config``, the run_config.json) and as TensorBoard hparams (flattened
``section.field`` keys, with ``score`` as the metric). The values are those of ``metrics.json``,
so the two records agree. A resumed run appends to the same folder, dropping any events logged
after the checkpoint it resumed from (``purge_step``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from qattn_hybrid.config.choices import TRACKERS as TRACKER_NAMES

__all__ = ["DEFAULT_DIR_NAME", "NullTracker", "TRACKERS", "TensorBoardTracker", "Tracker",
           "epoch_scalars", "flat_hparams", "make_tracker", "tracking_dir"]

log = logging.getLogger(__name__)
DEFAULT_DIR_NAME = "tensorboard"  # tracking_dir = None: this folder inside output_dir


class Tracker:
    """The interface the trainer calls; this base class does nothing (tracking off)."""

    def start(self, config: dict, first_epoch: int = 1) -> None:
        """The run's config (``Config.to_dict()``) at the start of every ``fit``; first_epoch:
        the epoch it trains next (> 1 when resumed: later events of an earlier attempt are
        dropped)."""

    def log_epoch(self, record: dict) -> None:
        """One epoch's history record (as in metrics.json)."""

    def log_test(self, test: dict, step: int) -> None:
        """The best model's test metrics (task -> metric -> value), at epoch ``step``."""

    def close(self) -> None:
        """Flush and release the tracker's files."""


class NullTracker(Tracker):
    """Tracking off (``training.tracking = None``, or not rank 0)."""


class TensorBoardTracker(Tracker):
    """Scalars, text and hparams written by ``torch.utils.tensorboard.SummaryWriter`` into
    ``directory`` (opened by :meth:`start`, closed by :meth:`close`)."""

    def __init__(self, directory: str | Path):
        try:
            import torch.utils.tensorboard  # noqa: F401  (fails early without tensorboard)
        except ImportError as err:
            raise ImportError(f"training.tracking = 'tensorboard' needs the tensorboard package "
                              f"(pip install 'qattn-hybrid[tracking]'); got: {err}") from None
        self.directory = Path(directory)
        self.writer = None

    def start(self, config: dict, first_epoch: int = 1) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        purge = first_epoch if first_epoch > 1 else None  # a resume drops what came after
        self.writer = SummaryWriter(log_dir=str(self.directory), purge_step=purge)
        log.info("TensorBoard events in %s (tensorboard --logdir %s)", self.directory,
                 self.directory)
        text = json.dumps(config, indent=2)
        self.writer.add_text("config", "```json\n" + text + "\n```", global_step=0)
        for summary in hparams(flat_hparams(config), {"score": None}):
            self.writer.file_writer.add_summary(summary)  # in this run's file, no sub-folder

    def log_epoch(self, record: dict) -> None:
        for tag, value in epoch_scalars(record).items():
            self.writer.add_scalar(tag, value, global_step=record["epoch"])
        self.writer.flush()

    def log_test(self, test: dict, step: int) -> None:
        for task, scores in test.items():
            for metric, value in scores.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(f"test/{task}/{metric}", value, global_step=step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


TRACKERS: dict[str, type[Tracker]] = {"tensorboard": TensorBoardTracker}


def epoch_scalars(record: dict) -> dict[str, float]:
    """The tag -> value pairs of one history record (see the module docstring)."""
    scalars = {f"train/loss/{task}": loss for task, loss in record["train_loss"].items()}
    for task, scores in record["validation"].items():
        scalars.update({f"validation/{task}/{k}": v for k, v in scores.items()})
    scalars["score"] = record["score"]
    if "lr" in record:
        scalars["lr"] = record["lr"]
    for part in ("train", "validation"):
        if f"{part}_seconds" in record:
            scalars[f"seconds/{part}"] = record[f"{part}_seconds"]
    return {tag: float(value) for tag, value in scalars.items()}


def flat_hparams(config: dict, prefix: str = "") -> dict:
    """Nested config tables as ``section.field`` keys; values TensorBoard's hparams accept
    (bool, int, float, str), anything else (lists, None) as its JSON text."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flat_hparams(value, name + "."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = json.dumps(value)
    return flat


def tracking_dir(training) -> Path:
    """Where a run's tracker writes: ``training.tracking_dir``, or ``<output_dir>/tensorboard``."""
    if training.tracking_dir is not None:
        return Path(training.tracking_dir)
    return Path(training.output_dir) / DEFAULT_DIR_NAME


def make_tracker(training, *, writer: bool = True) -> Tracker:
    """The tracker ``training.tracking`` names (a :class:`NullTracker` when None or when this
    process is not the writer, rank 0)."""
    if training.tracking is None or not writer:
        return NullTracker()
    if training.tracking not in TRACKERS:
        raise ValueError(f"training.tracking must be one of "
                         f"{', '.join(map(repr, TRACKER_NAMES))}, or None; "
                         f"got {training.tracking!r}")
    return TRACKERS[training.tracking](tracking_dir(training))
