"""What a task is and how it is scored.

    kinds.py    one :class:`Task` class per task type (classification, regression), the registry
    metrics.py  the metrics a task type reports, and ranking quality (NDCG@k, precision@k)
"""

from __future__ import annotations

from qattn_hybrid.utils.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "ClassificationTask": "qattn_hybrid.tasks.kinds",
    "RegressionTask": "qattn_hybrid.tasks.kinds",
    "TASKS": "qattn_hybrid.tasks.kinds",
    "Task": "qattn_hybrid.tasks.kinds",
    "register_task": "qattn_hybrid.tasks.kinds",
    "task_class": "qattn_hybrid.tasks.kinds",
    "task_from_data": "qattn_hybrid.tasks.kinds",
    "task_from_dict": "qattn_hybrid.tasks.kinds",
    "MINORITY_LABELS": "qattn_hybrid.tasks.metrics",
    "Metric": "qattn_hybrid.tasks.metrics",
    "OOS_LABEL": "qattn_hybrid.tasks.metrics",
    "accuracy": "qattn_hybrid.tasks.metrics",
    "classification_metrics": "qattn_hybrid.tasks.metrics",
    "compute_metrics": "qattn_hybrid.tasks.metrics",
    "in_scope_accuracy": "qattn_hybrid.tasks.metrics",
    "macro_f1": "qattn_hybrid.tasks.metrics",
    "mae": "qattn_hybrid.tasks.metrics",
    "mse": "qattn_hybrid.tasks.metrics",
    "ndcg_at_k": "qattn_hybrid.tasks.metrics",
    "oos_recall": "qattn_hybrid.tasks.metrics",
    "precision": "qattn_hybrid.tasks.metrics",
    "precision_at_k": "qattn_hybrid.tasks.metrics",
    "r2": "qattn_hybrid.tasks.metrics",
    "random_ndcg": "qattn_hybrid.tasks.metrics",
    "ranking_order": "qattn_hybrid.tasks.metrics",
    "recall": "qattn_hybrid.tasks.metrics",
    "regression_metrics": "qattn_hybrid.tasks.metrics",
    "rmse": "qattn_hybrid.tasks.metrics",
    "roc_auc": "qattn_hybrid.tasks.metrics",
    "spearman": "qattn_hybrid.tasks.metrics",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
