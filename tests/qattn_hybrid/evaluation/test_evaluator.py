"""evaluate / model_targets / primary_score against hand-computed values."""

from __future__ import annotations

import json

import pytest
import torch
from torch.nn import functional as F

from qattn_hybrid.config.taskspec import TaskSpec
from qattn_hybrid.data.loading import load_task, load_tasks
from qattn_hybrid.evaluation.evaluator import evaluate, model_targets, primary_score
from qattn_hybrid.modeling.model import MultiTaskModel
from qattn_hybrid.tasks.kinds import ClassificationTask, RegressionTask, task_from_data


@pytest.fixture
def setup(tiny_config, make_encoder):
    """An untrained tiny model (eval mode, seeded) and the two synthetic tasks."""
    torch.manual_seed(0)
    tasks = load_tasks(tiny_config.data.task_specs())
    infos = [task_from_data(task) for task in tasks.values()]
    return MultiTaskModel(tiny_config.model, infos, make_encoder()).eval(), tasks


def test_metrics_and_loss_equal_a_hand_computation(setup):
    model, tasks = setup
    results = evaluate(model, tasks, "test", batch_size=4)  # several batches per task
    for name, task in tasks.items():
        data = task.split("test")
        with torch.no_grad():
            logits = model(data.texts, name).logits
        assert results[name]["loss"] == pytest.approx(float(F.cross_entropy(logits, data.labels)),
                                                      rel=1e-5)
        hits = (logits.argmax(-1) == data.labels).float().mean()
        assert results[name]["accuracy"] == pytest.approx(float(hits))
    assert model.training is False


def test_restores_train_mode_and_skips_tasks_without_the_split(setup):
    model, tasks = setup
    model.train()
    assert evaluate(model, tasks, "nonexistent") == {}
    assert model.training


def test_labels_are_matched_to_the_model_by_name(setup):
    model, tasks = setup
    intent = tasks["intent"]
    reordered = ClassificationTask("intent", tuple(reversed(intent.labels)))
    other = MultiTaskModel(model.config, [reordered], model.encoder)
    labels = torch.tensor([0, 1, 2])
    expected = [len(intent.labels) - 1 - i for i in labels.tolist()]  # reversed label order
    assert model_targets(other, intent, labels).tolist() == expected
    assert model_targets(model, intent, labels) is labels  # same order: passed through


def test_label_missing_from_the_model_label_map(setup, tmp_path):
    model, _ = setup
    rows = [{"text": "refund my card", "label": "refund", "split": "train"},
            {"text": "pay my bill", "label": "payment", "split": "train"}]
    path = tmp_path / "new.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = load_task(TaskSpec("intent", str(path)))
    with pytest.raises(KeyError, match=r"labels \['refund'\] are not in its label map"):
        evaluate(model, {"intent": task}, "train")


def test_unknown_task_name(setup):
    model, tasks = setup
    with pytest.raises(KeyError, match="Unknown task 'weather'"):
        evaluate(model, {"weather": tasks["intent"]}, "validation")


class TestPrimaryScore:
    @pytest.fixture
    def model(self, make_encoder, tiny_config):
        infos = [ClassificationTask("intent", ("a", "b")), RegressionTask("score")]
        return MultiTaskModel(tiny_config.model, infos, make_encoder())

    METRICS = {"intent": {"accuracy": 0.75, "macro_f1": 0.5, "loss": 0.3},
               "score": {"mse": 0.25, "mae": 0.4, "loss": 0.25}}

    def test_mean_of_main_metrics_with_errors_negated(self, model):
        assert primary_score(model, self.METRICS, "mean") == pytest.approx((0.75 - 0.25) / 2)

    def test_one_task(self, model):
        assert primary_score(model, self.METRICS, "intent") == 0.75
        assert primary_score(model, self.METRICS, "score") == -0.25

    def test_unknown_monitor(self, model):
        with pytest.raises(ValueError, match=r"training.monitor must be 'mean' or a task name; "
                                             r"got 'nope' \(tasks: intent, score\)"):
            primary_score(model, self.METRICS, "nope")
