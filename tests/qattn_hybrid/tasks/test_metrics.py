"""Metrics against hand-worked values (and sklearn when it is installed)."""

import math

import pytest
import torch

from qattn_hybrid.tasks.metrics import (
    accuracy,
    classification_metrics,
    compute_metrics,
    in_scope_accuracy,
    macro_f1,
    mae,
    mse,
    oos_recall,
    precision,
    r2,
    recall,
    regression_metrics,
    rmse,
    roc_auc,
    spearman,
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
        metrics = classification_metrics(labels)
        assert list(metrics) == ["accuracy", "macro_f1", "in_scope_accuracy", "oos_recall"]
        assert all(m.higher_is_better for m in metrics.values())
        logits = torch.tensor([[5.0, 0, 0], [0, 5, 0], [0, 5, 0], [0, 0, 5]])
        scores = compute_metrics(metrics, logits, torch.tensor([0, 1, 2, 2]))
        assert scores == pytest.approx({"accuracy": 0.75, "macro_f1": (1 + 2 / 3 + 2 / 3) / 3,
                                        "in_scope_accuracy": 2 / 3, "oos_recall": 1.0})

    def test_regression_lower_is_better(self):
        metrics = regression_metrics()
        assert list(metrics) == ["mse", "mae", "rmse", "r2", "spearman"]
        assert [m.higher_is_better for m in metrics.values()] == [False, False, False, True, True]
        scores = compute_metrics(metrics, torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 3.0]))
        # residuals 1, 0; targets mean 1.5, SS_tot 4.5, SS_res 1; ranks agree
        assert scores == pytest.approx({"mse": 0.5, "mae": 0.5, "rmse": 0.5 ** 0.5,
                                        "r2": 1 - 1 / 4.5, "spearman": 1.0})
        assert metrics["mse"].better(0.4, 0.5) and not metrics["mse"].better(0.6, 0.5)
        assert metrics["mse"].better(9.0, None)

    def test_primary_metric(self):
        from qattn_hybrid.tasks.kinds import ClassificationTask, RegressionTask

        assert ClassificationTask("t", ("a", "b")).primary_metric.name == "accuracy"
        assert RegressionTask("t").primary_metric.name == "mse"

    def test_errors(self):
        from qattn_hybrid.tasks.kinds import task_class

        with pytest.raises(ValueError, match=r"task_type must be one of 'classification', "
                                             r"'regression'; got 'ranking'"):
            task_class("ranking")
        with pytest.raises(ValueError, match=r"predictions and targets must be non-empty 1-D "
                                             r"tensors of one shape; got \(2,\) and \(3,\)"):
            accuracy(torch.zeros(2), torch.zeros(3))


class TestRegressionMetrics:
    def test_rmse_r2_hand_worked(self):
        pred, true = torch.tensor([2.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 5.0])
        # residuals 1, -1, -1: MSE 1; targets mean 3: SS_tot 8, SS_res 3
        assert rmse(pred, true) == pytest.approx(1.0)
        assert r2(pred, true) == pytest.approx(1 - 3 / 8)
        assert r2(true, true) == 1.0
        assert math.isnan(r2(pred, torch.ones(3)))

    def test_spearman_with_ties_hand_worked(self):
        pred, true = torch.tensor([1.0, 2.0, 2.0, 3.0]), torch.tensor([1.0, 3.0, 2.0, 4.0])
        # average ranks [1, 2.5, 2.5, 4] and [1, 3, 2, 4]; centred dot 4.5, norms √4.5, √5
        assert spearman(pred, true) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
        assert spearman(-pred, true) == pytest.approx(-4.5 / math.sqrt(4.5 * 5))
        assert math.isnan(spearman(torch.ones(4), true))

    def test_against_scipy_and_sklearn(self):
        stats = pytest.importorskip("scipy.stats")
        sk = pytest.importorskip("sklearn.metrics")
        g = torch.Generator().manual_seed(0)
        true = torch.randint(1, 6, (200,), generator=g).double()  # many ties, as ratings have
        pred = true + torch.randn(200, generator=g, dtype=torch.float64)
        pred[::7] = 3.0  # ties in the predictions too
        assert spearman(pred, true) == pytest.approx(stats.spearmanr(pred, true).statistic)
        assert r2(pred, true) == pytest.approx(sk.r2_score(true, pred))
        assert rmse(pred, true) == pytest.approx(sk.mean_squared_error(true, pred) ** 0.5)


class TestBinaryMetrics:
    def test_roc_auc_hand_worked(self):
        # positives 0.35, 0.8 against negatives 0.1, 0.4: 3 of 4 pairs ordered right
        assert roc_auc(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1])) == 0.75
        assert roc_auc(torch.tensor([0.5, 0.5]), torch.tensor([0, 1])) == 0.5  # a tie: half
        assert math.isnan(roc_auc(torch.tensor([0.5, 0.7]), torch.tensor([1, 1])))

    def test_roc_auc_against_sklearn(self):
        sk = pytest.importorskip("sklearn.metrics")
        g = torch.Generator().manual_seed(1)
        target = torch.randint(0, 2, (300,), generator=g)
        scores = (target + 1.5 * torch.randn(300, generator=g)).round(decimals=1)  # with ties
        assert roc_auc(scores, target) == pytest.approx(sk.roc_auc_score(target, scores))

    def test_precision_recall_hand_worked(self):
        pred, true = torch.tensor([0, 0, 1, 1, 1]), torch.tensor([0, 1, 1, 0, 0])
        assert precision(pred, true, 0) == 0.5  # predicted 0: rows 0, 1; right on row 0
        assert recall(pred, true, 0) == pytest.approx(1 / 3)  # true 0: rows 0, 3, 4
        assert math.isnan(precision(torch.ones(3, dtype=torch.long), true[:3], 0))

    def test_recommend_task_metrics_use_scores(self):
        labels = ("not_recommended", "recommended")
        metrics = classification_metrics(labels)
        assert list(metrics) == ["accuracy", "macro_f1", "roc_auc", "not_recommended_precision",
                                 "not_recommended_recall"]
        # P(recommended) = sigmoid(l1 - l0): 0.27, 0.62, 0.5, 0.88 for targets 0, 0, 1, 1
        logits = torch.tensor([[1.0, 0.0], [0.0, 0.5], [0.3, 0.3], [0.0, 2.0]])
        scores = compute_metrics(metrics, logits, torch.tensor([0, 0, 1, 1]))
        # argmax: 0, 1, 0 (tie -> first), 1
        assert scores == pytest.approx({"accuracy": 0.5, "macro_f1": 0.5, "roc_auc": 0.75,
                                        "not_recommended_precision": 0.5,
                                        "not_recommended_recall": 0.5})

    def test_clinc_oos_is_binary_too(self):
        assert "roc_auc" in classification_metrics(("in_scope", "oos"))
        assert "roc_auc" not in classification_metrics(("a", "b", "c"))

    def test_scores_need_logits(self):
        metrics = classification_metrics(("no", "yes"))
        with pytest.raises(ValueError, match=r"outputs must be \(N, 2\) logits for roc_auc; "
                                             r"got class ids or values of shape \(2,\)"):
            compute_metrics(metrics, torch.tensor([0, 1]), torch.tensor([0, 1]))
