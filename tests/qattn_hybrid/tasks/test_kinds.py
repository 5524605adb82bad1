"""Task objects: losses against torch's functionals and hand-worked formulas, metrics against
hand-worked values, how outputs are read, saving, and a task type registered here working
end to end (config, data, model loss, training, evaluation, save/load) with no other change."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from torch.nn import functional as F

from qattn_hybrid.config.sections import ModelConfig
from qattn_hybrid.tasks import metrics as M
from qattn_hybrid.tasks.kinds import (
    TASKS,
    ClassificationTask,
    RegressionTask,
    Task,
    register_task,
    task_class,
    task_from_dict,
)

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0], [1.0, 1.0, 0.0], [-2.0, 4.0, 0.5]])
IDS = torch.tensor([0, 2, 1, 2])  # argmax rows: 0, 2, 0 (tie -> first), 1


class TestLoss:
    def test_classification_is_cross_entropy(self):
        task = ClassificationTask("t", ("a", "b", "c"))
        loss = task.loss(LOGITS, IDS)
        torch.testing.assert_close(loss, F.cross_entropy(LOGITS, IDS))
        by_hand = -torch.stack([LOGITS[i, k] - LOGITS[i].exp().sum().log()
                                for i, k in enumerate(IDS.tolist())]).mean()
        torch.testing.assert_close(loss, by_hand)

    def test_regression_mse_on_standardised_targets(self):
        task = RegressionTask("r", target_mean=3.0, target_std=2.0)
        pred, y = torch.tensor([1.0, 4.0, 7.0]), torch.tensor([3.0, 3.0, 3.0])
        loss = task.loss(pred, y, ModelConfig(regression_loss="mse"))
        torch.testing.assert_close(loss, F.mse_loss((pred - 3) / 2, (y - 3) / 2))
        assert float(loss) == pytest.approx((1 + 0.25 + 4) / 3)  # z residuals -1, 0.5, 2
        assert float(task.loss(pred, y)) == pytest.approx(float(loss))  # MSE by default

    def test_regression_huber_on_standardised_targets(self):
        task = RegressionTask("r", target_mean=3.0, target_std=2.0)
        pred, y = torch.tensor([1.0, 4.0, 7.0]), torch.tensor([3.0, 3.0, 3.0])
        loss = task.loss(pred, y, ModelConfig(regression_loss="huber"))
        torch.testing.assert_close(loss, F.huber_loss((pred - 3) / 2, (y - 3) / 2, delta=1.0))
        # |r| <= 1: r^2 / 2; else |r| - 1/2: residuals -1, 0.5, 2 -> 0.5, 0.125, 1.5
        assert float(loss) == pytest.approx((0.5 + 0.125 + 1.5) / 3)

    def test_loss_has_a_gradient(self):
        logits = LOGITS.clone().requires_grad_()
        ClassificationTask("t", ("a", "b", "c")).loss(logits, IDS).backward()
        expected = (torch.softmax(LOGITS, -1) - F.one_hot(IDS, 3)) / len(IDS)  # d CE / d logit
        torch.testing.assert_close(logits.grad, expected)


class TestMetrics:
    def test_classification_hand_worked(self):
        task = ClassificationTask("t", ("a", "b", "c"))
        scores = task.evaluate(LOGITS, IDS)  # predictions 0, 2, 0, 1 against 0, 2, 1, 2
        # F1: a 2/3 (tp 1, 2 predicted, 1 true), b 0, c 2/3 (tp 1, 1 predicted, 2 true)
        assert scores == pytest.approx({"accuracy": 0.5, "macro_f1": (2 / 3 + 0 + 2 / 3) / 3})
        assert task.primary_metric.name == "accuracy" and task.higher_is_better
        assert task.selection_score(scores) == 0.5

    def test_classification_against_sklearn(self):
        sklearn = pytest.importorskip("sklearn.metrics")
        task = ClassificationTask("t", ("a", "b", "c"))
        g = torch.Generator().manual_seed(0)
        logits, ids = torch.randn(50, 3, generator=g), torch.randint(0, 3, (50,), generator=g)
        scores, pred = task.evaluate(logits, ids), logits.argmax(-1).numpy()
        assert scores["accuracy"] == pytest.approx(sklearn.accuracy_score(ids.numpy(), pred))
        assert scores["macro_f1"] == pytest.approx(
            sklearn.f1_score(ids.numpy(), pred, average="macro"))

    def test_binary_classification_scores_by_probability(self):
        task = ClassificationTask("t", ("no", "yes"))
        logits = torch.tensor([[0.0, 1.0], [0.0, -1.0], [0.0, 2.0], [0.0, 0.5]])
        scores = task.evaluate(logits, torch.tensor([0, 0, 1, 1]))
        # P(yes) follows the logit of "yes": positives 2 and 0.5, negatives 1 and -1; 3 of the
        # 4 (positive, negative) pairs are ordered right (0.5 < 1 is not) -> AUC 3/4
        assert scores["roc_auc"] == pytest.approx(0.75)
        assert scores["accuracy"] == pytest.approx(0.75)  # argmax 1, 0, 1, 1

    def test_regression_hand_worked(self):
        task = RegressionTask("r")
        scores = task.evaluate(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 0.0, 5.0]))
        # residuals 0, 2, -1; targets mean 2, SS_tot 1 + 4 + 9 = 14, SS_res 5
        assert scores == pytest.approx({"mse": 5 / 3, "mae": 1.0, "rmse": (5 / 3) ** 0.5,
                                        "r2": 1 - 5 / 14, "spearman": 0.5})
        assert task.primary_metric.name == "mse" and not task.higher_is_better
        assert task.selection_score(scores) == pytest.approx(-5 / 3)  # higher is better


class TestOutputs:
    def test_classification(self):
        task = ClassificationTask("t", ("a", "b", "c"))
        assert task.n_outputs == 3
        assert task.output(LOGITS) is LOGITS
        assert task.predictions(LOGITS) == ["a", "c", "a", "b"]
        torch.testing.assert_close(task.serve(LOGITS), LOGITS.exp() / LOGITS.exp().sum(-1, True))
        p_b = LOGITS[:, 1].exp() / LOGITS.exp().sum(-1)
        torch.testing.assert_close(task.ranking_score("b")(LOGITS), p_b)

    def test_regression_outputs_are_in_the_targets_scale(self):
        task = RegressionTask("r", target_mean=4.0, target_std=0.5)
        head = torch.tensor([[2.0], [-1.0]])  # (B, 1) standardised
        out = task.output(head)
        torch.testing.assert_close(out, torch.tensor([5.0, 3.5]))
        assert task.n_outputs == 1 and task.predictions(out) == [5.0, 3.5]
        assert task.serve(out) is out and task.ranking_score(None)(out) is out
        torch.testing.assert_close(task.standardise(out), head.squeeze(-1))

    def test_targets_matched_by_label_name(self):
        task = ClassificationTask("t", ("a", "b", "c"))
        ids = torch.tensor([0, 1, 2])
        assert task.targets(("a", "b", "c"), ids) is ids
        assert task.targets(("c", "a", "b"), ids).tolist() == [2, 0, 1]
        with pytest.raises(KeyError, match=r"Task 't': labels \['z'\] are not in its label map"):
            task.targets(("z", "a", "b"), ids)
        assert RegressionTask("r").targets((), torch.tensor([1, 2])).dtype == torch.float32

    def test_ranking_label_errors(self):
        with pytest.raises(ValueError, match=r"label must name the class to rank by for the "
                                             r"3-way task 't'"):
            ClassificationTask("t", ("a", "b", "c")).ranking_score(None)
        with pytest.raises(ValueError, match=r"label must be one of a, b for task 't'; got 'z'"):
            ClassificationTask("t", ("a", "b")).ranking_score("z")
        with pytest.raises(ValueError, match=r"label must be None for the regression task 'r'"):
            RegressionTask("r").ranking_score("a")


class TestSaving:
    @pytest.mark.parametrize("task", [ClassificationTask("t", ("a", "b")),
                                      RegressionTask("r", target_mean=2.5, target_std=0.3)])
    def test_round_trip_through_json(self, task):
        d = json.loads(json.dumps(task.to_dict()))
        assert d["task_type"] == task.task_type and task_from_dict(d) == task

    def test_files_of_older_versions_load(self):
        """Before tasks.py every saved task carried target_mean/target_std."""
        old = {"name": "t", "labels": ["a", "b"], "task_type": "classification",
               "target_mean": 0.0, "target_std": 1.0}
        assert task_from_dict(old) == ClassificationTask("t", ("a", "b"))


class TestErrors:
    @pytest.mark.parametrize("make, message", [
        (lambda: ClassificationTask("t", ("a",)), r"Task 't': a classification task must have "
                                                  r"at least 2 labels; got \['a'\]"),
        (lambda: ClassificationTask("t", ("a", "a")), r"labels must be unique; got \['a', 'a'\]"),
        (lambda: ClassificationTask("a.b", ("x", "y")), r"task name must be a non-empty str "
                                                        r"without '.'; got 'a.b'"),
        (lambda: RegressionTask("r", target_std=0.0), r"target_std must be a finite number > 0; "
                                                      r"got 0.0"),
        (lambda: RegressionTask("r", target_mean=math.nan), r"target_mean must be a finite "
                                                            r"number; got nan"),
        (lambda: task_class("ranking"), r"task_type must be one of 'classification', "
                                        r"'regression'; got 'ranking'"),
    ])
    def test_value_errors(self, make, message):
        with pytest.raises(ValueError, match=message):
            make()

    def test_register_needs_a_task_class(self):
        with pytest.raises(TypeError, match=r"a task type must be a Task subclass with a "
                                            r"task_type; got <class 'int'>"):
            register_task(int)


# --------------------------------------------------------------------------- a new task type
@dataclass(frozen=True)
class BinaryLogitTask(Task):
    """Two labels, one logit (of labels[1]), binary cross-entropy: a type the library does not
    have, written the way a newcomer would (this class + one registry line)."""

    task_type: ClassVar[str] = "binary_logit"
    labels: tuple[str, ...]

    @property
    def n_outputs(self) -> int:
        return 1

    def output(self, head: torch.Tensor) -> torch.Tensor:
        return head.squeeze(-1)  # (B,) logit of labels[1]

    def loss(self, outputs, targets, config=None):
        return F.binary_cross_entropy_with_logits(outputs, targets.to(outputs.dtype))

    def metrics(self):
        return {"accuracy": M.Metric("accuracy", True, M.accuracy)}

    def evaluate(self, outputs, targets):
        return {"accuracy": M.accuracy((outputs > 0).long(), targets)}

    def predictions(self, outputs):
        return [self.labels[int(x > 0)] for x in outputs.tolist()]

    def serve(self, outputs):
        p = torch.sigmoid(outputs)
        return torch.stack([1 - p, p], -1)


@pytest.fixture
def binary_logit(monkeypatch):
    monkeypatch.setitem(TASKS, "binary_logit", BinaryLogitTask)  # the one registry line
    return BinaryLogitTask


class TestNewTaskType:
    def test_the_config_accepts_registered_types_only(self, config_dict, binary_logit):
        from qattn_hybrid.config.checks import ConfigError
        from qattn_hybrid.config.sections import Config
        from qattn_hybrid.config.taskspec import TaskSpec

        config_dict["data"]["tasks"][1]["task_type"] = "binary_logit"
        assert Config.from_dict(config_dict).data.task_specs()[1].task_type == "binary_logit"
        TaskSpec("t", "x.jsonl", task_type="binary_logit", label_map={"*": "a"})  # categorical
        config_dict["data"]["tasks"][1]["task_type"] = "ordinal"
        with pytest.raises((ConfigError, ValueError),
                           match=r"task_type must be one of 'classification', 'regression', "
                                 r"'binary_logit'; got 'ordinal'"):
            Config.from_dict(config_dict).data.task_specs()

    def test_trains_evaluates_and_round_trips(self, config_dict, make_trainer, binary_logit,
                                              tmp_path):
        from qattn_hybrid.evaluation.evaluator import evaluate
        from qattn_hybrid.modeling.model import MultiTaskModel

        config_dict["data"]["tasks"][1]["task_type"] = "binary_logit"
        trainer = make_trainer(training={"epochs": 1})
        model, tasks = trainer.model, trainer.tasks
        task = model.tasks["sentiment"]
        assert isinstance(task, BinaryLogitTask) and task.labels == ("negative", "positive")
        assert model.heads["sentiment"].out_features == 1  # the head is as wide as it asks
        result = trainer.fit()
        assert set(result.test_metrics["sentiment"]) == {"loss", "accuracy"}

        data = tasks["sentiment"].split("test")
        model.eval()
        with torch.no_grad():
            logits = model(data.texts, "sentiment").logits  # (N,)
            loss = model.loss(model(data.texts, "sentiment"), data.labels, "sentiment")
        assert logits.shape == (len(data),)
        y = data.labels.float()  # binary cross-entropy by hand: -y log p - (1 - y) log(1 - p)
        p = 1 / (1 + torch.exp(-logits))
        by_hand = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
        torch.testing.assert_close(loss, by_hand, rtol=1e-5, atol=1e-6)
        scores = evaluate(model, tasks, "test")["sentiment"]
        assert scores["loss"] == pytest.approx(float(by_hand), rel=1e-5)
        hits = ((logits > 0).long() == data.labels).double().mean()
        assert scores["accuracy"] == pytest.approx(float(hits))
        assert model.predict(data.texts[:3], "sentiment") == [
            ("negative", "positive")[int(x > 0)] for x in logits[:3].tolist()]

        model.save_pretrained(tmp_path / "saved")
        loaded = MultiTaskModel.from_pretrained(tmp_path / "saved")
        assert loaded.tasks["sentiment"] == task
        with torch.no_grad():
            torch.testing.assert_close(loaded(data.texts, "sentiment").logits, logits)
