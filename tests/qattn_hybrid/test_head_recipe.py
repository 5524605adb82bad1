"""The heads' own recipe: training.head_lr, head_weight_decay and head_penalty = "probe"."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from qattn_hybrid.config import Config, ConfigError


class TestValidation:
    @pytest.mark.parametrize("field, value, message", [
        ("head_lr", 0, "training.head_lr must be > 0; got 0"),
        ("head_lr", -1e-3, "training.head_lr must be > 0; got -0.001"),
        ("head_weight_decay", -0.5, "training.head_weight_decay must be >= 0; got -0.5"),
        ("head_penalty", "l1", "training.head_penalty must be one of 'none', 'probe'; "
                               "got 'l1'"),
    ])
    def test_invalid(self, field, value, message):
        with pytest.raises(ConfigError, match=message):
            Config.from_dict({"training": {field: value}})

    def test_defaults_leave_one_group(self):
        t = Config().training
        assert (t.head_lr, t.head_weight_decay, t.head_penalty) == (None, None, "none")


class TestHeadLearningRate:
    def test_heads_have_their_own_group(self, make_trainer):
        trainer = make_trainer(training={"lr": 0.02, "head_lr": 0.001, "weight_decay": 0.01,
                                         "head_weight_decay": 0.0})
        heads = {id(p) for p in trainer.model.heads.parameters()}
        groups = trainer.optimizer.param_groups
        head_groups = [g for g in groups if any(id(p) in heads for p in g["params"])]
        assert len(head_groups) == 1 and {id(p) for p in head_groups[0]["params"]} == heads
        assert (head_groups[0]["base_lr"], head_groups[0]["weight_decay"]) == (0.001, 0.0)
        rest = [g for g in groups if g is not head_groups[0]]
        assert rest[0]["base_lr"] == 0.02 and rest[0]["weight_decay"] == 0.01

    def test_a_tiny_head_lr_leaves_the_heads_while_the_attention_moves(self, make_trainer):
        trainer = make_trainer(training={"epochs": 1, "head_lr": 1e-12, "weight_decay": 0.0},
                               model={"dropout": 0.0})
        heads = {k: v.clone() for k, v in trainer.model.heads.state_dict().items()}
        angles = trainer.model.attention.to_angles.weight.detach().clone()
        trainer.fit()
        for k, v in trainer.model.heads.state_dict().items():
            assert torch.allclose(v, heads[k], atol=1e-9), k
        assert not torch.allclose(trainer.model.attention.to_angles.weight, angles)


class TestProbePenalty:
    def test_the_probe_is_a_stationary_point_of_the_penalised_loss(self, make_trainer):
        """Mean pooling, heads from the probe: the full-batch gradient of mean CE + c |W|^2 at
        the start is ~0 (the probe is the optimum of exactly that), unlike mean CE alone."""
        pytest.importorskip("sklearn")
        from qattn_hybrid.probe import init_heads_from_probe, probe_penalties

        trainer = make_trainer(model={"attention": "mean", "dropout": 0.0},
                               training={"init_heads": "probe", "head_penalty": "probe"})
        init_heads_from_probe(trainer)
        coef = probe_penalties(trainer)
        task = trainer.tasks["intent"]  # 3 classes: sklearn's multinomial fit, every row penalised
        n = len(task.train)
        assert coef["intent"] == pytest.approx(1 / (2 * trainer.probes["intent"].param * n))
        head = trainer.model.heads["intent"]
        trainer.model.eval()
        logits = trainer.model(task.train.texts, "intent").logits
        loss = F.cross_entropy(logits, task.train.labels)
        (plain,) = torch.autograd.grad(loss, head.weight, retain_graph=True)
        (penalised,) = torch.autograd.grad(loss + coef["intent"] * head.weight.square().sum(),
                                           head.weight)
        assert penalised.norm() < 0.05 * plain.norm()

    def test_training_adds_it_to_each_task_loss(self, make_trainer):
        pytest.importorskip("sklearn")
        trainer = make_trainer(model={"attention": "mean", "dropout": 0.0},
                               training={"epochs": 1, "init_heads": "probe",
                                         "head_penalty": "probe", "lr": 1e-9})
        result = trainer.fit()
        assert set(trainer.head_l2) == {"intent", "sentiment"}
        # with lr ~0 the heads stay the probes: the epoch's train loss of a task is its mean CE
        # plus c |W|^2 of its (unchanged) head
        for name in ("intent", "sentiment"):
            head = trainer.model.heads[name]
            ce = F.cross_entropy(trainer.model(trainer.tasks[name].train.texts, name).logits,
                                 trainer.tasks[name].train.labels)
            expected = float(ce) + trainer.head_l2[name] * float(head.weight.square().sum())
            assert result.history[0]["train_loss"][name] == pytest.approx(expected, rel=0.05)

    def test_needs_linear_heads(self, make_trainer):
        pytest.importorskip("sklearn")
        from qattn_hybrid.probe import probe_penalties

        trainer = make_trainer(model={"head_hidden": 8}, training={"head_penalty": "probe"})
        with pytest.raises(ValueError, match="head_penalty = 'probe' needs linear heads"):
            probe_penalties(trainer)
