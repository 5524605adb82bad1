"""Training of a :class:`~qattn_hybrid.modeling.model.MultiTaskModel` (the loop; evaluation lives in
:mod:`qattn_hybrid.evaluation.evaluator`, checkpoint files in
:mod:`qattn_hybrid.training.checkpoints`).

    trainer = build_trainer(load_config("configs/demo.toml"))   # qattn_hybrid.training.factory
    result = trainer.fit()                  # or fit(resume=True) to continue the latest checkpoint
    result.test_metrics["clinc_intent"]["accuracy"]

One epoch: the task sampler draws ``steps_per_epoch`` (task, rows) batches; every
``tasks_per_step`` draws make one AdamW step whose task losses the loss weighting combines.
After each epoch: validation on every task, metrics appended to ``metrics.csv`` / ``metrics.json``,
a resumable checkpoint, the best model so far in ``best/``, and early stopping on the monitored
score. At the end the best model is evaluated on the test splits (``test_metrics.json``).

Output folder::

    run_config.json          the validated config of the run
    tensorboard/             TensorBoard events, with training.tracking = "tensorboard"
                             (qattn_hybrid.training.tracking; the folder is training.tracking_dir
                             if set)
    metrics.csv, metrics.json
    checkpoints/epoch-0003/  model (config.json + model.safetensors), optimizer.pt,
                             weighting.safetensors, rng.safetensors, trainer_state.json
    latest.json              {"checkpoint": "checkpoints/epoch-0003"}: the newest complete one
    best/                    the best model (MultiTaskModel.from_pretrained)
    test_metrics.json

A fresh run refuses a non-empty output folder (``fit(resume=True)`` continues it,
``fit(overwrite=True)`` replaces it). Every file is written atomically (temporary name, then
``os.replace``); a checkpoint folder is complete before it gets its final name and before
``latest.json`` points at it, and old ones are pruned by epoch number only after that, so an
interruption never leaves a partial checkpoint as the latest (see
:mod:`qattn_hybrid.training.checkpoints`, which saves, verifies and restores them). Epoch times in
the log and in ``metrics.json`` (``seconds``) include validation (``train_seconds`` +
``validation_seconds``). With ``training.progress = None`` and stderr not a terminal, each epoch
logs a progress line every ~10 s or 10 % instead of drawing a bar.

Distributed: under ``torchrun`` (``qattn_hybrid.utils.distributed.setup`` joins its process group)
each rank trains on its shard of every task (the sampler's rank / world_size), with
``training.batch_size`` the global batch (batch_size / world_size rows per rank and step, so a
run gives the same updates on any number of processes); the model is wrapped in DDP, train
losses are summed over ranks, evaluation is sharded and gathered, and only rank 0 writes files.
A run resumes with a different world size (same global batch).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import set_seed

from qattn_hybrid.config.sections import Config
from qattn_hybrid.data.loading import TaskData
from qattn_hybrid.evaluation.evaluator import device_of, evaluate, model_targets, primary_score
from qattn_hybrid.modeling.model import MultiTaskModel
from qattn_hybrid.training import checkpoints, selection
from qattn_hybrid.training.history import epoch_line, write_metrics
from qattn_hybrid.training.sampling import TaskSampler
from qattn_hybrid.training.schedule import lr_factor
from qattn_hybrid.training.tracking import NullTracker, Tracker
from qattn_hybrid.training.weighting import LossWeighting
from qattn_hybrid.utils import distributed
from qattn_hybrid.utils.files import atomic_write_text, read_safetensors
from qattn_hybrid.utils.manifest import check_finite, verify_manifest
from qattn_hybrid.utils.progress import progress

__all__ = ["OptimizerBuilder", "TrainResult", "Trainer", "check_tasks", "evaluate",
           "seed_everything"]

log = logging.getLogger(__name__)
OptimizerBuilder = Callable[[nn.Module, LossWeighting], torch.optim.Optimizer]
STATE_NAME, LATEST_NAME = checkpoints.STATE_NAME, checkpoints.LATEST_NAME


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's, torch's and every accelerator's generators (transformers'
    set_seed). NumPy takes seeds below 2**32 only: a larger seed reaches it reduced mod 2**32
    and Python and torch whole."""
    set_seed(seed % 2**32)
    if seed >= 2**32:
        random.seed(seed)
        torch.manual_seed(seed)


@dataclass
class TrainResult:
    output_dir: Path
    best_epoch: int  # 1-based epoch of the best validation score
    best_score: float
    history: list = field(default_factory=list)  # one dict per epoch (see metrics.json)
    test_metrics: dict = field(default_factory=dict)  # task -> metric -> value
    stopped_early: bool = False


# --------------------------------------------------------------------------- the trainer
class Trainer:
    """Trains ``model`` on ``tasks`` as ``config.training`` says; see the module docstring.

    It builds nothing: :func:`qattn_hybrid.training.factory.build_trainer` makes every part from the
    config (the usual way); code with a part of its own passes them all here.

    model: a MultiTaskModel with a head per task, on this rank's torch device.
    tasks: task name -> TaskData (the training rows, validation and test splits).
    weighting: a LossWeighting over the tasks; the trainer asks it only what it declares
        (``writes_grads_itself``, ``parameters()``, ``backward``, ``end_epoch``).
    sampler: a TaskSampler over the tasks' train rows: this rank's shard, batch per rank.
    optimizer: a torch optimizer over the model's and the weighting's trainable parameters, or
        a callable ``(model, weighting) -> optimizer``. The schedule scales each group's
        ``base_lr`` (its ``lr`` when not set).
    dist: this process's place in a torchrun group (``distributed.setup``); default: one
        process on the model's device.
    init_heads: ``init_heads(trainer) -> dict`` called before the first epoch of a fresh run
        (LP-FT: ``probe.init_heads_from_probe``), its result logged.
    tracker: a :class:`qattn_hybrid.training.tracking.Tracker` (``tracking.make_tracker``) sent the
        config, every epoch's record and the test metrics; used on rank 0 only. Default: none.
    """

    def __init__(self, config: Config, *, model: MultiTaskModel,
                 tasks: Mapping[str, TaskData], weighting: LossWeighting, sampler: TaskSampler,
                 optimizer: torch.optim.Optimizer | OptimizerBuilder,
                 dist: distributed.DistContext | None = None,
                 init_heads: Callable[[Trainer], dict] | None = None,
                 tracker: Tracker | None = None):
        self.config, self.model, self.weighting, self.sampler = config, model, weighting, sampler
        self.tasks = dict(tasks)
        check_tasks(self.tasks)
        _check_parts(list(self.tasks), weighting, sampler)
        self.dist = dist if dist is not None else distributed.DistContext(device=device_of(model))
        self.rank, self.world_size = self.dist.rank, self.dist.world_size
        if (sampler.rank, sampler.world_size) != (self.rank, self.world_size):
            raise ValueError(f"sampler must draw rank {self.rank} of {self.world_size}'s shard; "
                             f"got rank {sampler.rank} of {sampler.world_size}")
        self.output_dir = Path(config.training.output_dir)
        self.init_heads = init_heads
        self.net = distributed.wrap(self.model, self.dist)  # DDP when world_size > 1
        # DDP syncs one forward + one backward per step. A weighting that writes .grad itself
        # (writes_grads_itself: torchjd's methods) is unseen by its hooks, and several tasks per
        # step mean several forwards: those run on the bare model and their gradients are
        # averaged over ranks by hand.
        t = config.training
        self.sync_by_hand = self.weighting.writes_grads_itself or t.tasks_per_step > 1
        self.optimizer = optimizer if hasattr(optimizer, "param_groups") \
            else optimizer(model, weighting)
        for group in self.optimizer.param_groups:
            group.setdefault("base_lr", group["lr"])  # the schedule scales this (_schedule_lr)
        self.steps_per_epoch = math.ceil(len(self.sampler) / t.tasks_per_step)  # optimizer steps
        self._step_in_epoch = 0
        self.epoch = 0  # epochs completed
        self.history: list[dict] = []
        self.best_score, self.best_epoch, self.bad_epochs = -math.inf, 0, 0
        # task -> qattn_hybrid.evaluation.probe.ProbeResult: fitted once (init_heads = "probe"),
        # reused by the baselines (the table's probe, the mean-pool run's heads): same features
        # and splits
        self.probes: dict | None = None
        self.warmup_stats = None  # qattn_hybrid.training.warmup.WarmupStats, once the cache is warm
        # only rank 0 writes (the factory gives other ranks a NullTracker already)
        self.tracker = tracker if tracker is not None and self.is_writer else NullTracker()

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    # ---- the loop
    def fit(self, resume: bool | str | os.PathLike = False, overwrite: bool = False,
            on_epoch_end: Callable[[int, dict], None] | None = None) -> TrainResult:
        """Train until ``training.epochs`` or early stopping; evaluate the best model on test.

        resume: True continues from ``output_dir/latest.json`` (fresh start when there is none);
        a path continues from that checkpoint folder. Without it a non-empty ``output_dir`` is
        refused, unless ``overwrite`` (the previous run's files are removed first; see
        :func:`qattn_hybrid.training.checkpoints.prepare_output_dir`).
        ``on_epoch_end(epoch, record)`` is called after each epoch's checkpoint is written.
        """
        check = (checkpoints.prepare_output_dir if self.is_writer
                 else checkpoints.describe_output_dir)
        check(self.output_dir, resume=bool(resume), overwrite=overwrite)  # refuses a used folder
        distributed.barrier()  # every rank has looked before rank 0 writes anything
        if resume:
            checkpoints.restore(self, resume)
        if self.is_writer:
            atomic_write_text(self.output_dir / "run_config.json",
                              json.dumps(self.config.to_dict(), indent=2) + "\n")
        self.warm_features()
        t = self.config.training
        if self.init_heads is not None and self.epoch == 0:  # e.g. LP-FT: heads = the probes
            log.info("Heads initialised by %s: %s", getattr(self.init_heads, "__name__", "?"),
                     self.init_heads(self))
        try:
            self.tracker.start(self.config.to_dict(), first_epoch=self.epoch + 1)
            stopped = False
            while self.epoch < t.epochs and not stopped:
                record = self._train_epoch()
                stopped = self._end_epoch(record)
                if on_epoch_end is not None:
                    on_epoch_end(self.epoch, record)
            return self._finish(stopped)
        finally:
            self.tracker.close()

    def warm_features(self):
        """Frozen encoder: encode every distinct text of the run once (with
        ``training.encode_threads`` threads), before the first step; see
        :mod:`qattn_hybrid.training.warmup`. Returns its WarmupStats (None for a fine-tuned
        encoder); later calls return the first call's."""
        if self.warmup_stats is None:
            from qattn_hybrid.training.warmup import warm_features

            self.warmup_stats = warm_features(self)
        return self.warmup_stats

    def _train_epoch(self) -> dict:
        t = self.config.training
        self.model.train()
        start = time.perf_counter()
        sums: dict[str, list[float]] = {name: [0.0, 0] for name in self.tasks}
        # a bar on a terminal, log lines elsewhere (training.progress None), rank 0 only
        bar = progress(len(self.sampler), f"epoch {self.epoch + 1}/{t.epochs}", "steps",
                       wanted=t.progress if self.is_writer else False)
        group: list[tuple[str, torch.Tensor]] = []
        for task, indices in self.sampler:
            group.append((task, indices))
            if len(group) == t.tasks_per_step:
                _add_losses(sums, group, self.step(group))
                group = []
            bar.update(1, postfix=f"{task} loss {sums[task][0] / max(sums[task][1], 1):.3f}")
        if group:
            _add_losses(sums, group, self.step(group))
        bar.close()
        distributed.average_buffers(self.weighting)  # e.g. DWA's loss sums: same on all ranks
        self.weighting.end_epoch()
        totals = distributed.all_reduce_sums(
            {f"{k}/{i}": v for k, pair in sums.items() for i, v in enumerate(pair)})
        train_loss = {k: totals[f"{k}/0"] / totals[f"{k}/1"] for k in sums if totals[f"{k}/1"]}
        seconds = time.perf_counter() - start
        return {"epoch": self.epoch + 1, "train_loss": train_loss, "seconds": seconds,
                "train_seconds": seconds, "lr": self.optimizer.param_groups[0]["lr"]}

    def step(self, group: list[tuple[str, torch.Tensor]]) -> dict[str, float]:
        """One optimizer step on a group of (task, train row indices) draws, as the sampler
        yields them: each task's mean loss over its draws, combined by the loss weighting,
        gradients clipped, the learning rate scheduled. Returns the tasks' mean losses.
        ``fit`` calls it for every ``training.tasks_per_step`` draws; a loop of one's own
        may call it directly (with the model in train mode)."""
        model, device = self.model, device_of(self.model)
        net = self.model if self.sync_by_hand else self.net
        per_task: dict[str, list[torch.Tensor]] = {}
        for task, indices in group:
            texts, labels = self.tasks[task].train.batch(indices)
            out = net(texts, task)
            loss = model.loss(out, model_targets(model, self.tasks[task], labels).to(device), task)
            per_task.setdefault(task, []).append(loss)
        losses = {task: torch.stack(ls).mean() for task, ls in per_task.items()}
        self.optimizer.zero_grad(set_to_none=True)
        shared = [p for n, p in model.named_parameters() if not n.startswith("heads.")]
        heads = list(model.heads.parameters())
        self.weighting.backward(losses, shared, task_params=heads)
        by_hand = [*self.weighting.parameters(), *(model.parameters() if self.sync_by_hand else ())]
        distributed.average_grads(by_hand)  # DDP syncs the model's (unless sync_by_hand)
        if self.config.training.grad_clip is not None:
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.config.training.grad_clip)
        self._schedule_lr()
        self.optimizer.step()
        return {task: float(loss.detach()) for task, loss in losses.items()}

    def _schedule_lr(self) -> None:
        """Every group's lr = its base lr x the schedule's factor at this step (stateless)."""
        t = self.config.training
        step = self.epoch * self.steps_per_epoch + self._step_in_epoch
        factor = lr_factor(step, t.epochs * self.steps_per_epoch, t.warmup, t.schedule)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        self._step_in_epoch += 1

    def _end_epoch(self, record: dict) -> bool:
        """Validate, log, checkpoint; returns True when early stopping says stop."""
        t = self.config.training
        self.epoch += 1
        start = time.perf_counter()
        self._step_in_epoch = 0
        val = evaluate(self.model, self.tasks, "validation", t.eval_batch_size)
        record["validation_seconds"] = time.perf_counter() - start
        record["seconds"] = record["train_seconds"] + record["validation_seconds"]
        if not val:  # no validation split anywhere: select on the training loss
            val = {k: {"loss": v} for k, v in record["train_loss"].items()}
            score = -float(np.mean(list(record["train_loss"].values())))
        else:
            score = primary_score(self.model, val, t.monitor)
        record.update({"validation": val, "score": score})
        self.history.append(record)
        improved = score > self.best_score
        if improved:
            self.best_score, self.best_epoch, self.bad_epochs = score, self.epoch, 0
        else:
            self.bad_epochs += 1
        if self.is_writer:
            log.info("%s", epoch_line(record, improved))
        if t.selection == "per_task":
            selection.save_improved(self, record)
        if self.is_writer:
            if improved:
                self.model.save_pretrained(self.output_dir / "best")
            write_metrics(self.output_dir, self.history)
            self.save_checkpoint()
            self.tracker.log_epoch(record)  # after the checkpoint: a resume re-logs no epoch
        distributed.barrier()
        return t.patience is not None and self.bad_epochs >= t.patience

    def _finish(self, stopped: bool) -> TrainResult:
        best = self.output_dir / "best"
        if self.best_epoch and (best / "model.safetensors").is_file():
            verify_manifest(best)
            state = read_safetensors(best / "model.safetensors", device=device_of(self.model))
            check_finite(state, best / "model.safetensors")
            self.model.load_weights(state, best)
        test = evaluate(self.model, self.tasks, "test", self.config.training.eval_batch_size)
        extra = {}
        if self.config.training.selection == "per_task":  # each task with its own best epoch
            per_task, epochs = selection.test_per_task(self, evaluate)
            test, extra = {**test, **per_task}, {"best_epoch_per_task": epochs}
        self.tracker.log_test(test, step=self.epoch)
        if self.is_writer and test:
            atomic_write_text(self.output_dir / "test_metrics.json",
                              json.dumps({"best_epoch": self.best_epoch, **extra, "test": test},
                                         indent=2) + "\n")
        return TrainResult(self.output_dir, self.best_epoch, self.best_score, self.history, test,
                           stopped)

    # ---- checkpoints (qattn_hybrid.training.checkpoints)
    def save_checkpoint(self) -> Path:
        """Write ``checkpoints/epoch-NNNN`` completely, then point ``latest.json`` at it."""
        return checkpoints.save(self)

# --------------------------------------------------------------------------- helpers
def check_tasks(tasks: Mapping[str, TaskData]) -> None:
    """Every task has train rows, and a validation split unless it allows none."""
    if not tasks:
        raise ValueError("tasks must hold at least one task; got none")
    for name, task in tasks.items():
        if len(task.train) == 0:
            raise ValueError(f"Task {name!r}: the train split must not be empty; got 0 rows")
        if "validation" not in task.splits and not task.spec.allow_no_validation:
            raise ValueError(
                f"Task {name!r}: the validation split must have rows (it picks the best epoch); "
                f"got none. Set validation_from_train = 0.1 in the task to carve one from train, "
                f"or allow_no_validation = true to train without one")


def _check_parts(tasks: list[str], weighting: LossWeighting, sampler: TaskSampler) -> None:
    if list(weighting.tasks) != tasks:
        raise ValueError(f"weighting must weigh the trainer's tasks {tasks}; got {weighting.tasks}")
    if list(sampler.tasks) != tasks:
        raise ValueError(f"sampler must draw the trainer's tasks {tasks}; got {sampler.tasks}")


def _add_losses(sums: dict[str, list[float]], group: list[tuple[str, torch.Tensor]],
                losses: dict[str, float]) -> None:
    """Add one step's mean losses to the epoch's [loss x draws, draws] per task."""
    for task, loss in losses.items():
        draws = sum(1 for t, _ in group if t == task)
        sums[task][0] += loss * draws
        sums[task][1] += draws
