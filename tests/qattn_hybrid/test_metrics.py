"""Metrics against hand-worked values (and sklearn when it is installed)."""

import math

import pytest
import torch

from qattn_hybrid.metrics import (
    accuracy,
    compute_metrics,
    in_scope_accuracy,
    macro_f1,
    mae,
    mse,
    oos_recall,
    primary_metric,
    task_metrics,
)

PRED = torch.tensor([0, 0, 1, 2, 2, 2])
TRUE = torch.tensor([0, 1, 1, 2, 2, 0])


class TestClassification:
    def test_accuracy(self):
        assert accuracy(PRED, TRUE) == pytest.approx(4 / 6)

    def test_macro_f1_hand_worked(self):
        # class 0: tp 1, pred 2, true 2 -> F1 1/2; class 1: tp 1, pred 1, true 2 -> 2/3;
        # class 2: tp 2, pred 3, true 2 -> 4/5
        assert macro_f1(PRED, TRUE) == pytest.approx((1 / 2 + 2 / 3 + 4 / 5) / 3)

    def test_macro_f1_class_only_predicted_counts_as_zero(self):
        # class 3 never true but predicted once: F1 0 and it is averaged in (as sklearn)
        pred, true = torch.tensor([0, 3]), torch.tensor([0, 0])
        assert macro_f1(pred, true) == pytest.approx((2 / 3 + 0) / 2)

    def test_against_sklearn(self):
        metrics = pytest.importorskip("sklearn.metrics")
        g = torch.Generator().manual_seed(0)
        pred, true = torch.randint(0, 7, (200,), generator=g), torch.randint(0, 6, (200,), generator=g)
        assert macro_f1(pred, true) == pytest.approx(metrics.f1_score(true, pred, average="macro"))
        assert accuracy(pred, true) == pytest.approx(metrics.accuracy_score(true, pred))

    def test_oos_metrics(self):
        # oos id 2: targets oos at rows 3, 4, 5; predicted oos at 3 and 4 -> recall 2/3
        # in-scope rows 0, 1, 2: correct at 0 and 2 (row 1 predicted oos is wrong) -> 2/3
        pred = torch.tensor([0, 2, 1, 2, 2, 0])
        true = torch.tensor([0, 1, 1, 2, 2, 2])
        assert oos_recall(pred, true, 2) == pytest.approx(2 / 3)
        assert in_scope_accuracy(pred, true, 2) == pytest.approx(2 / 3)
        assert math.isnan(oos_recall(pred, torch.tensor([0, 1, 1, 0, 1, 0]), 2))


class TestRegression:
    def test_mse_mae(self):
        pred, true = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 0.0, 5.0])
        assert mse(pred, true) == pytest.approx(5 / 3)
        assert mae(pred, true) == pytest.approx(1.0)


class TestTaskMetrics:
    def test_classification_with_oos(self):
        labels = ("alarm", "oos", "weather")
        metrics = task_metrics("classification", labels)
        assert list(metrics) == ["accuracy", "macro_f1", "in_scope_accuracy", "oos_recall"]
        assert all(m.higher_is_better for m in metrics.values())
        logits = torch.tensor([[5.0, 0, 0], [0, 5, 0], [0, 5, 0], [0, 0, 5]])
        scores = compute_metrics(metrics, logits, torch.tensor([0, 1, 2, 2]))
        assert scores == pytest.approx({"accuracy": 0.75, "macro_f1": (1 + 2 / 3 + 2 / 3) / 3,
                                        "in_scope_accuracy": 2 / 3, "oos_recall": 1.0})

    def test_regression_lower_is_better(self):
        metrics = task_metrics("regression")
        assert list(metrics) == ["mse", "mae"] and not metrics["mse"].higher_is_better
        scores = compute_metrics(metrics, torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 3.0]))
        assert scores == pytest.approx({"mse": 0.5, "mae": 0.5})
        assert metrics["mse"].better(0.4, 0.5) and not metrics["mse"].better(0.6, 0.5)
        assert metrics["mse"].better(9.0, None)

    def test_primary_metric(self):
        assert primary_metric("classification", ("a", "b")).name == "accuracy"
        assert primary_metric("regression").name == "mse"

    def test_errors(self):
        with pytest.raises(ValueError, match=r"task_type must be 'classification' or 'regression'; "
                                             r"got 'ranking'"):
            task_metrics("ranking")
        with pytest.raises(ValueError, match=r"predictions and targets must be non-empty 1-D "
                                             r"tensors of one shape; got \(2,\) and \(3,\)"):
            accuracy(torch.zeros(2), torch.zeros(3))
