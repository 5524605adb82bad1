"""Per-task evaluation metrics, vectorised in torch.

Every metric is a :class:`Metric`: a name, whether higher is better, and a function
``fn(predictions, targets) -> float`` on 1-D tensors (class ids for classification, values for
regression). :func:`classification_metrics` and :func:`regression_metrics` give the metric sets
a task type reports (a :class:`qattn_hybrid.tasks.kinds.Task` picks its own with
``task.metrics()``), and :func:`compute_metrics` applies them to model outputs (logits (N, C) or
ids (N,))::

    metrics = classification_metrics(task.labels)               # accuracy, macro_f1 (+ OOS ones)
    scores = compute_metrics(metrics, logits, targets)          # {"accuracy": 0.93, ...}
    better = metrics["accuracy"].better(scores["accuracy"], best)

A task whose labels include ``"oos"`` (CLINC150's out-of-scope class) also gets
``in_scope_accuracy`` (accuracy over the rows whose target is not oos, the paper's in-scope
accuracy) and ``oos_recall`` (recall of the oos class).

A binary task also gets ``roc_auc``, computed from scores (the softmax probability of label 1,
not the argmax); a task with a label in :data:`MINORITY_LABELS` (``"not_recommended"``) gets
``<label>_precision`` and ``<label>_recall`` of that class. Regression tasks get ``mse``
(primary, lower is better), ``mae``, ``rmse``, ``r2`` and ``spearman``, on predictions in the
targets' own scale.

Ranking quality, for items ranked by a model (:mod:`qattn_hybrid.evaluation.ranking`):
:func:`ndcg_at_k`, :func:`precision_at_k` and :func:`random_ndcg`, the chance level.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import torch

__all__ = [
    "MINORITY_LABELS",
    "OOS_LABEL",
    "Metric",
    "accuracy",
    "classification_metrics",
    "compute_metrics",
    "in_scope_accuracy",
    "macro_f1",
    "mae",
    "mse",
    "ndcg_at_k",
    "oos_recall",
    "precision",
    "precision_at_k",
    "r2",
    "random_ndcg",
    "ranking_order",
    "recall",
    "regression_metrics",
    "rmse",
    "roc_auc",
    "spearman",
]

OOS_LABEL = "oos"
MINORITY_LABELS = ("not_recommended",)  # classes whose precision and recall are reported


class Metric(NamedTuple):
    name: str
    higher_is_better: bool
    fn: Callable[[torch.Tensor, torch.Tensor], float]  # (predictions (N,), targets (N,)) -> float
    uses_scores: bool = False  # fn gets P(label 1) (N,) instead of class ids

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
        raise ValueError(f"labels must include {label!r} for this metric; "
                         f"got {list(labels)[:5]}...")
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


def rmse(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Root mean squared error."""
    return mse(pred, target) ** 0.5


def r2(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (as sklearn; NaN for constant targets)."""
    _check(pred, target)
    y = target.double()
    ss_tot = float((y - y.mean()).pow(2).sum())
    ss_res = float((pred.double() - y).pow(2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def _average_ranks(x: torch.Tensor) -> torch.Tensor:
    """1-based ranks of x, ties given the mean of the ranks they span (as scipy.stats.rankdata)."""
    x = x.double()
    values, inverse, counts = torch.unique(x, sorted=True, return_inverse=True,
                                           return_counts=True)
    first = torch.cumsum(counts, 0) - counts  # 0-based rank of each distinct value's first copy
    return (first + (counts + 1) / 2.0).double()[inverse]


def spearman(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Spearman rank correlation (Pearson correlation of average ranks); NaN if one is constant."""
    _check(pred, target)
    a, b = _average_ranks(pred), _average_ranks(target)
    a, b = a - a.mean(), b - b.mean()
    denom = float(a.norm() * b.norm())
    return float((a * b).sum()) / denom if denom > 0 else float("nan")


def roc_auc(scores: torch.Tensor, target: torch.Tensor) -> float:
    """Area under the ROC curve of ``scores`` for target == 1 (Mann-Whitney U with average ranks
    for ties, as sklearn); NaN when target holds one class only."""
    _check(scores, target)
    positive = target.long() == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(scores)
    u = float(ranks[positive].sum()) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


def precision(pred: torch.Tensor, target: torch.Tensor, k: int) -> float:
    """Of the rows predicted class k, the fraction whose target is k; NaN when none is."""
    _check(pred, target)
    rows = pred == k
    return float((target[rows] == k).double().mean()) if bool(rows.any()) else float("nan")


def recall(pred: torch.Tensor, target: torch.Tensor, k: int) -> float:
    """Of the rows whose target is class k, the fraction predicted k; NaN when none is."""
    _check(pred, target)
    rows = target == k
    return float((pred[rows] == k).double().mean()) if bool(rows.any()) else float("nan")


def regression_metrics() -> dict[str, Metric]:
    """MSE (primary, lower is better), MAE, RMSE, R^2 and Spearman, keyed by name."""
    return {"mse": Metric("mse", False, mse), "mae": Metric("mae", False, mae),
            "rmse": Metric("rmse", False, rmse), "r2": Metric("r2", True, r2),
            "spearman": Metric("spearman", True, spearman)}


def classification_metrics(labels: Sequence[str]) -> dict[str, Metric]:
    """Accuracy (primary) and macro F1; in-scope accuracy and OOS recall when ``labels`` has
    OOS_LABEL; ROC-AUC for two labels; precision / recall of the MINORITY_LABELS it has."""
    metrics = {"accuracy": Metric("accuracy", True, accuracy),
               "macro_f1": Metric("macro_f1", True, macro_f1)}
    if OOS_LABEL in labels:
        k = _class_id(labels, OOS_LABEL)
        metrics["in_scope_accuracy"] = Metric(
            "in_scope_accuracy", True, lambda p, t: in_scope_accuracy(p, t, k))
        metrics["oos_recall"] = Metric("oos_recall", True, lambda p, t: oos_recall(p, t, k))
    if len(labels) == 2:
        metrics["roc_auc"] = Metric("roc_auc", True, roc_auc, uses_scores=True)
    for label in MINORITY_LABELS:
        if label in labels:
            k = _class_id(labels, label)
            metrics[f"{label}_precision"] = Metric(f"{label}_precision", True,
                                                   lambda p, t, k=k: precision(p, t, k))
            metrics[f"{label}_recall"] = Metric(f"{label}_recall", True,
                                                lambda p, t, k=k: recall(p, t, k))
    return metrics


def compute_metrics(metrics: Mapping[str, Metric], outputs: torch.Tensor,
                    targets: torch.Tensor) -> dict[str, float]:
    """Apply ``metrics`` to outputs: logits (N, C) (argmax taken), ids (N,) or values (N,)/(N, 1).

    A metric with ``uses_scores`` (ROC-AUC) gets softmax(logits)[:, 1] and needs 2-column logits.
    """
    outputs, targets = outputs.detach(), targets.detach()
    scores = None
    if outputs.dim() == 2 and not targets.is_floating_point() and outputs.shape[1] == 2:
        scores = torch.softmax(outputs.double(), dim=1)[:, 1]
    if outputs.dim() == 2:
        outputs = outputs[:, 0] if targets.is_floating_point() else outputs.argmax(dim=1)
    result = {}
    for name, m in metrics.items():
        if m.uses_scores:
            if scores is None:
                raise ValueError(f"outputs must be (N, 2) logits for {name}; got class ids or "
                                 f"values of shape {tuple(outputs.shape)}")
            result[name] = m.fn(scores, targets)
        else:
            result[name] = m.fn(outputs, targets)
    return result


# --------------------------------------------------------------------------- ranking quality
def ranking_order(scores: torch.Tensor | Sequence[float]) -> list[int]:
    """Indices by descending score; equal scores keep their input order."""
    values = torch.as_tensor(scores, dtype=torch.float64)
    return torch.sort(-values, stable=True).indices.tolist()


def ndcg_at_k(scores: Sequence[float] | torch.Tensor, relevance: Sequence[float] | torch.Tensor,
              k: int = 10) -> float:
    """NDCG@k of ranking by ``scores`` (descending, ties in input order) with linear gains
    ``relevance`` (>= 0) and discount 1 / log2(position + 1); NaN when every relevance is 0."""
    rel = torch.as_tensor(relevance, dtype=torch.float64)
    score = torch.as_tensor(scores, dtype=torch.float64)
    if rel.dim() != 1 or rel.shape != score.shape or len(rel) == 0:
        raise ValueError(f"scores and relevance must be non-empty 1-D sequences of one length; "
                         f"got {tuple(score.shape)} and {tuple(rel.shape)}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1; got {k!r}")
    if bool((rel < 0).any()):
        raise ValueError(f"relevance must be >= 0; got {float(rel.min())}")
    top = min(k, len(rel))
    discount = 1.0 / torch.log2(torch.arange(2, top + 2, dtype=torch.float64))
    dcg = float((rel[ranking_order(score)[:top]] * discount).sum())
    ideal = float((torch.sort(rel, descending=True).values[:top] * discount).sum())
    return dcg / ideal if ideal > 0 else float("nan")


def precision_at_k(scores: Sequence[float] | torch.Tensor, relevant: Sequence[bool] | torch.Tensor,
                   k: int = 10) -> float:
    """Fraction of the top-k items (by descending score) that are relevant."""
    rel = torch.as_tensor(relevant, dtype=torch.bool)
    if len(rel) == 0 or len(rel) != len(scores):
        raise ValueError(f"scores and relevant must be non-empty and of one length; got "
                         f"{len(scores)} and {len(rel)}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1; got {k!r}")
    top = ranking_order(scores)[:k]
    return float(rel[top].double().mean())


def random_ndcg(relevance: Sequence[float] | torch.Tensor, k: int = 10, draws: int = 2000,
                seed: int = 0) -> float:
    """Mean NDCG@k of random orders (the chance level to read NDCG against)."""
    rel = torch.as_tensor(relevance, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    return float(sum(ndcg_at_k(torch.rand(len(rel), generator=g, dtype=torch.float64), rel, k)
                     for _ in range(draws)) / draws)
