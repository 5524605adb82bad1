"""Evaluation of a :class:`~qattn_hybrid.modeling.model.MultiTaskModel`: metrics and mean loss per
task on a split, sharded over ranks under ``torchrun`` and gathered, and the score that selects the
best epoch.

    results = evaluate(model, tasks, "test")        # task -> metric -> value
    primary_score(model, results, "mean")           # higher is better

Labels are matched to the model's label maps by name (:func:`model_targets`), so a model
evaluates on any data whose labels it knows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from qattn_hybrid.data.loading import TaskData
from qattn_hybrid.modeling.model import MultiTaskModel
from qattn_hybrid.utils import distributed

__all__ = ["device_of", "evaluate", "evaluate_task", "model_targets", "primary_score"]


@torch.no_grad()
def evaluate(model: MultiTaskModel, tasks: Mapping[str, TaskData], split: str = "validation",
             batch_size: int = 256) -> dict[str, dict[str, float]]:
    """Metrics (and mean loss) per task on ``split``; tasks without that split are skipped.

    Labels are matched to the model's label maps by name, so a model evaluates on any data
    whose labels it knows; an unknown label is a clear error.
    """
    was_training = model.training
    model.eval()
    results = {}
    try:
        for name, task in tasks.items():
            model.task_id(name)  # unknown task names raise, listing the model's tasks
            if split not in task.splits:
                continue
            results[name] = evaluate_task(model, task, split, batch_size)
    finally:
        model.train(was_training)
    return results


def evaluate_task(model: MultiTaskModel, task: TaskData, split: str,
                  batch_size: int) -> dict[str, float]:
    data = task.split(split)
    if len(data) == 0:
        raise ValueError(f"Task {task.name!r}: the {split} split must not be empty; got 0 rows")
    targets = model_targets(model, task, data.labels)
    world = distributed.world_size() if len(data) >= distributed.world_size() else 1
    rank = distributed.rank() if world > 1 else 0
    texts, targets = data.texts[rank::world], targets[rank::world]  # this rank's share
    order = _by_length(model, texts)  # a fine-tuned encoder: batches of similar length
    texts, targets = [texts[i] for i in order], targets[order]
    outputs, loss_sum = [], 0.0
    device = device_of(model)
    for start in range(0, len(texts), batch_size):
        out = model(texts[start : start + batch_size], task.name)
        y = targets[start : start + batch_size].to(device)
        loss_sum += float(model.loss(out, y, task.name)) * len(y)
        outputs.append(out.logits.float().cpu())
    back = torch.argsort(order)  # to row order again
    outputs, targets = torch.cat(outputs)[back], targets[back]
    if world > 1:  # every rank gets every row's outputs: metrics like macro F1 need them all
        outputs, targets = distributed.gather_cat(outputs), distributed.gather_cat(targets)
        loss_sum = distributed.all_reduce_sums({"loss": loss_sum})["loss"]
    scores = model.tasks[task.name].evaluate(outputs, targets)
    return {"loss": loss_sum / len(data), **scores}


def _by_length(model: MultiTaskModel, texts) -> torch.Tensor:
    """Row order for evaluation: by text length when the encoder runs on every batch (less
    padding computed), else as given (cached features: padding is cheap)."""
    if getattr(model.encoder, "finetune", False):
        return torch.argsort(torch.tensor([len(t) for t in texts]), stable=True)
    return torch.arange(len(texts))


def model_targets(model: MultiTaskModel, task: TaskData, labels: torch.Tensor) -> torch.Tensor:
    """Data targets -> the model's targets (label ids matched by label name)."""
    model.task_id(task.name)  # unknown task names raise here
    return model.tasks[task.name].targets(task.labels, labels)


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def primary_score(model: MultiTaskModel, metrics: Mapping[str, Mapping[str, float]],
                  monitor: str) -> float:
    """Higher-is-better selection score: one task's main metric, or the mean over tasks."""
    def score(task: str) -> float:
        return model.tasks[task].selection_score(metrics[task])

    if monitor == "mean":
        return float(np.mean([score(t) for t in metrics]))
    if monitor not in metrics:
        raise ValueError(f"training.monitor must be 'mean' or a task name; got {monitor!r} "
                         f"(tasks: {', '.join(metrics)})")
    return score(monitor)
