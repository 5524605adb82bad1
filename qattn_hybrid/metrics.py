"""Per-task evaluation metrics, vectorised in torch.

Every metric is a :class:`Metric`: a name, whether higher is better, and a function
``fn(predictions, targets) -> float`` on 1-D tensors (class ids for classification, values for
regression). :func:`task_metrics` gives the metrics of a task from its type and labels, and
:func:`compute_metrics` applies them to model outputs (logits (N, C) or ids (N,))::

    metrics = task_metrics("classification", task.labels)     # accuracy, macro_f1 (+ OOS ones)
    scores = compute_metrics(metrics, logits, targets)          # {"accuracy": 0.93, ...}
    better = metrics["accuracy"].better(scores["accuracy"], best)

A task whose labels include ``"oos"`` (CLINC150's out-of-scope class) also gets
``in_scope_accuracy`` (accuracy over the rows whose target is not oos, the paper's in-scope
accuracy) and ``oos_recall`` (recall of the oos class).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import torch

__all__ = [
    "OOS_LABEL",
    "Metric",
    "accuracy",
    "compute_metrics",
    "in_scope_accuracy",
    "macro_f1",
    "mae",
    "mse",
    "oos_recall",
    "primary_metric",
    "task_metrics",
]

OOS_LABEL = "oos"


class Metric(NamedTuple):
    name: str
    higher_is_better: bool
    fn: Callable[[torch.Tensor, torch.Tensor], float]  # (predictions (N,), targets (N,)) -> float

    def better(self, value: float, best: float | None) -> bool:
        """Whether ``value`` improves on ``best`` (None: nothing yet)."""
        if best is None:
            return True
        return value > best if self.higher_is_better else value < best


def _check(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.dim() != 1 or len(pred) == 0:
        raise ValueError(f"predictions and targets must be non-empty 1-D tensors of one shape; "
                         f"got {tuple(pred.shape)} and {tuple(target.shape)}")


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of rows with pred == target."""
    _check(pred, target)
    return float((pred == target).double().mean())


def macro_f1(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Unweighted mean of per-class F1 over the classes present in target or pred (as sklearn).

    A class with precision + recall = 0 has F1 = 0.
    """
    _check(pred, target)
    pred, target = pred.long(), target.long()
    n = int(torch.maximum(pred.max(), target.max())) + 1
    tp = torch.bincount(target[pred == target], minlength=n).double()
    n_pred = torch.bincount(pred, minlength=n).double()
    n_true = torch.bincount(target, minlength=n).double()
    present = (n_pred + n_true) > 0
    f1 = 2 * tp / (n_pred + n_true).clamp(min=1)  # = 2PR/(P+R)
    return float(f1[present].mean())


def _class_id(labels: Sequence[str], label: str) -> int:
    if label not in labels:
        raise ValueError(f"labels must include {label!r} for this metric; got {list(labels)[:5]}...")
    return list(labels).index(label)


def oos_recall(pred: torch.Tensor, target: torch.Tensor, oos_id: int) -> float:
    """Recall of the out-of-scope class: of the rows whose target is oos, the fraction predicted
    oos. NaN when no target is oos."""
    _check(pred, target)
    rows = target == oos_id
    return float((pred[rows] == oos_id).double().mean()) if bool(rows.any()) else float("nan")


def in_scope_accuracy(pred: torch.Tensor, target: torch.Tensor, oos_id: int) -> float:
    """Accuracy over the rows whose target is not oos (a prediction of oos there is wrong)."""
    _check(pred, target)
    rows = target != oos_id
    return float((pred[rows] == target[rows]).double().mean()) if bool(rows.any()) else float("nan")


def mse(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean squared error."""
    _check(pred, target)
    return float((pred.double() - target.double()).pow(2).mean())


def mae(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean absolute error."""
    _check(pred, target)
    return float((pred.double() - target.double()).abs().mean())


def task_metrics(task_type: str, labels: Sequence[str] = ()) -> dict[str, Metric]:
    """The metrics of a task, keyed by name; the first is the primary one."""
    if task_type == "regression":
        return {"mse": Metric("mse", False, mse), "mae": Metric("mae", False, mae)}
    if task_type != "classification":
        raise ValueError(f"task_type must be 'classification' or 'regression'; got {task_type!r}")
    metrics = {"accuracy": Metric("accuracy", True, accuracy),
               "macro_f1": Metric("macro_f1", True, macro_f1)}
    if OOS_LABEL in labels:
        k = _class_id(labels, OOS_LABEL)
        metrics["in_scope_accuracy"] = Metric(
            "in_scope_accuracy", True, lambda p, t: in_scope_accuracy(p, t, k))
        metrics["oos_recall"] = Metric("oos_recall", True, lambda p, t: oos_recall(p, t, k))
    return metrics


def primary_metric(task_type: str, labels: Sequence[str] = ()) -> Metric:
    """The metric used for model selection: accuracy, or MSE for regression."""
    return next(iter(task_metrics(task_type, labels).values()))


def compute_metrics(metrics: Mapping[str, Metric], outputs: torch.Tensor,
                    targets: torch.Tensor) -> dict[str, float]:
    """Apply ``metrics`` to outputs: logits (N, C) (argmax taken), ids (N,) or values (N,)/(N, 1)."""
    outputs, targets = outputs.detach(), targets.detach()
    if outputs.dim() == 2:
        outputs = outputs[:, 0] if targets.is_floating_point() else outputs.argmax(dim=1)
    return {name: m.fn(outputs, targets) for name, m in metrics.items()}
