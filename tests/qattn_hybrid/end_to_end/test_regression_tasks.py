"""Regression tasks: standardised targets, losses, original-scale outputs, mixed-task weighting."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest
import torch

from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.config.sections import Config, ModelConfig
from qattn_hybrid.config.taskspec import TaskSpec
from qattn_hybrid.data.loading import load_task
from qattn_hybrid.evaluation.evaluator import evaluate
from qattn_hybrid.modeling.model import MultiTaskModel
from qattn_hybrid.tasks.kinds import ClassificationTask, RegressionTask, task_from_data
from qattn_hybrid.training.factory import build_trainer
from qattn_hybrid.training.weighting import make_weighting

TEXTS = ["what is my card balance", "book a flight please", "shares rise today"]


def small_config(**changes) -> ModelConfig:
    base = {"encoder": "tiny", "circuit": {"n_qubits": 2, "n_layers": 1}, "max_length": 16}
    return ModelConfig(**{**base, **changes})


def zero_head(model: MultiTaskModel, task: str, bias: float = 0.0) -> None:
    with torch.no_grad():
        model.heads[task].weight.zero_()
        model.heads[task].bias.fill_(bias)


class TestStandardisation:
    def test_round_trip(self):
        info = RegressionTask("rating", target_mean=4.2, target_std=1.1)
        y = torch.tensor([1.0, 2.5, 5.0, 4.2], dtype=torch.float64)
        torch.testing.assert_close(info.standardise(y), (y - 4.2) / 1.1)
        torch.testing.assert_close(info.unstandardise(info.standardise(y)), y)

    def test_from_data_uses_the_train_split(self, tmp_path):
        rows = [{"text": f"t{i}", "y": y, "split": s} for i, (y, s) in enumerate(
            [(1, "train"), (2, "train"), (5, "train"), (4, "train"), (100, "test")])]
        path = tmp_path / "r.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        info = task_from_data(load_task(TaskSpec("r", str(path), label_field="y",
                                                     task_type="regression")))
        assert info.target_mean == 3.0  # (1 + 2 + 5 + 4) / 4, test row not used
        assert info.target_std == pytest.approx(math.sqrt((4 + 1 + 4 + 1) / 4))

    def test_constant_targets_get_std_one(self, tmp_path):
        path = tmp_path / "c.jsonl"
        path.write_text("".join(json.dumps({"text": f"t{i}", "y": 3, "split": "train"}) + "\n"
                                for i in range(3)))
        info = task_from_data(load_task(TaskSpec("c", str(path), label_field="y",
                                                     task_type="regression")))
        assert (info.target_mean, info.target_std) == (3.0, 1.0)

    @pytest.mark.parametrize("std", [0.0, -1.0, float("nan")])
    def test_bad_std(self, std):
        with pytest.raises(ValueError, match=r"Task 'r': target_std must be a finite number > 0; "
                                             r"got"):
            RegressionTask("r", target_std=std)


class TestModelScale:
    @pytest.fixture
    def model(self, make_encoder):
        torch.manual_seed(0)
        tasks = [RegressionTask("rating", target_mean=4.0, target_std=2.0),
                 ClassificationTask("mood", ("bad", "good"))]
        return MultiTaskModel(small_config(), tasks, make_encoder()).eval()

    def test_outputs_in_target_scale(self, model):
        zero_head(model, "rating", bias=0.5)  # head says z = 0.5 for every text
        torch.testing.assert_close(model(TEXTS, "rating").logits, torch.full((3,), 5.0))
        assert model.predict(TEXTS, "rating") == [5.0, 5.0, 5.0]

    @pytest.mark.parametrize("kind", ["mse", "huber"])
    def test_loss_on_standardised_targets(self, make_encoder, kind):
        torch.manual_seed(0)
        model = MultiTaskModel(small_config(regression_loss=kind),
                               [RegressionTask("rating", 4.0, 2.0)], make_encoder())
        out = model(TEXTS, "rating")
        y = torch.tensor([1.0, 5.0, 4.5])
        r = (out.logits.detach() - y) / 2.0  # residuals in standard units
        expected = (r ** 2).mean() if kind == "mse" else torch.where(
            r.abs() <= 1, 0.5 * r ** 2, r.abs() - 0.5).mean()
        torch.testing.assert_close(model.loss(out, y, "rating").detach(), expected)

    def test_save_load_keeps_the_scale(self, model, tmp_path):
        zero_head(model, "rating", bias=-0.25)
        model.save_pretrained(tmp_path / "m")
        loaded = MultiTaskModel.from_pretrained(tmp_path / "m")
        assert loaded.tasks["rating"] == model.tasks["rating"]
        torch.testing.assert_close(loaded(TEXTS, "rating").logits, torch.full((3,), 3.5))

    def test_bad_loss_name(self):
        with pytest.raises(ConfigError, match=r"model.regression_loss must be one of 'mse', "
                                              r"'huber'; got 'l1'"):
            Config.from_dict({"model": {"regression_loss": "l1"}})


def mixed_config(config_dict, tmp_path, **training) -> dict:
    """The tiny intent task plus a regression task on a large scale (100s)."""
    rows = [{"text": f"price up {'up ' * (i % 4)}today", "score": 100.0 + 50.0 * (i % 4),
             "split": "train" if i < 16 else ("validation" if i < 20 else "test")}
            for i in range(24)]
    path = tmp_path / "score.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = json.loads(json.dumps(config_dict))
    data["data"]["tasks"] = [data["data"]["tasks"][0],
                             {"name": "score", "file": str(path), "label_field": "score",
                              "task_type": "regression"}]
    data["training"].update({"epochs": 1, **training})
    return data


class TestTraining:
    def test_metrics_in_the_original_scale(self, config_dict, make_encoder, tmp_path):
        trainer = build_trainer(Config.from_dict(mixed_config(config_dict, tmp_path)),
                                encoder=make_encoder())
        info = trainer.model.tasks["score"]
        y_train = trainer.tasks["score"].train.labels.double()
        assert info.target_mean == pytest.approx(float(y_train.mean()))
        zero_head(trainer.model, "score")  # predicts the train mean
        scores = evaluate(trainer.model, trainer.tasks, "test")["score"]
        y = trainer.tasks["score"].split("test").labels.double()
        assert scores["mae"] == pytest.approx(float((y - info.target_mean).abs().mean()))
        assert scores["loss"] == pytest.approx(
            float(((y - info.target_mean) / info.target_std).pow(2).mean()), rel=1e-5)

    @pytest.mark.parametrize("method", ["equal", "uncertainty", pytest.param(
        "dwa", marks=pytest.mark.slow), pytest.param("gradnorm", marks=pytest.mark.slow),
        pytest.param("upgrad", marks=[pytest.mark.slow, pytest.mark.skipif(
            importlib.util.find_spec("torchjd") is None, reason="needs the mtl extra (torchjd)")])])
    def test_weightings_with_classification_and_regression(self, config_dict, make_encoder,
                                                            tmp_path, method):
        data = mixed_config(config_dict, tmp_path, tasks_per_step=2)
        data["weighting"] = {"method": method}
        trainer = build_trainer(Config.from_dict(data), encoder=make_encoder())
        result = trainer.fit()
        assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
        assert set(result.history[0]["train_loss"]) == {"intent", "score"}
        assert set(result.test_metrics["score"]) >= {"mae", "rmse", "r2", "spearman"}
        assert math.isfinite(result.test_metrics["score"]["mae"])


class TestUncertaintyWeighting:
    def test_log_variances_settle_at_log_of_each_loss(self):
        """With constant losses, Σ L_k e^{-s_k} / 2 + s_k / 2 is minimal at s_k = log L_k: a
        cross-entropy of 2.0 and a standardised MSE of 0.25 get weights 1/4 and 2."""
        weighting = make_weighting("uncertainty", ["department", "rating"])
        optimizer = torch.optim.Adam(weighting.parameters(), lr=0.05)
        losses = {"department": torch.tensor(2.0), "rating": torch.tensor(0.25)}
        for _ in range(1500):
            optimizer.zero_grad()
            stats = weighting.backward(losses)
            optimizer.step()
        torch.testing.assert_close(weighting.log_var.detach(),
                                   torch.log(torch.tensor([2.0, 0.25])), atol=1e-3, rtol=0)
        assert stats["weight/department"] == pytest.approx(1 / 4, abs=1e-3)
        assert stats["weight/rating"] == pytest.approx(2.0, abs=1e-2)


def test_eval_table_formats_regression_metrics():
    from qattn_hybrid.cli.tables import table as eval_table

    table = eval_table({"rating": {"loss": 0.5, "mse": 0.66, "mae": 0.6263, "rmse": 0.8124,
                               "r2": -0.0412, "spearman": 0.664}})
    assert table.splitlines()[1].split() == ["rating", "0.6600", "0.6263", "0.8124", "-0.041",
                                             "0.664"]
