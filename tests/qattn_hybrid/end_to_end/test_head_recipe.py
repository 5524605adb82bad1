"""The heads' own recipe: training.head_lr and training.head_weight_decay."""

from __future__ import annotations

import pytest
import torch

from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.config.sections import Config


class TestValidation:
    @pytest.mark.parametrize("field, value, message", [
        ("head_lr", -1e-3, "training.head_lr must be >= 0; got -0.001"),
        ("head_weight_decay", -0.5, "training.head_weight_decay must be >= 0; got -0.5"),
    ])
    def test_invalid(self, field, value, message):
        with pytest.raises(ConfigError, match=message):
            Config.from_dict({"training": {field: value}})

    def test_defaults_leave_one_group(self):
        t = Config().training
        assert (t.head_lr, t.head_weight_decay) == (None, None)


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

    def test_head_lr_0_keeps_the_heads_while_the_attention_moves(self, make_trainer):
        trainer = make_trainer(training={"epochs": 1, "head_lr": 0.0}, model={"dropout": 0.0})
        heads = {k: v.clone() for k, v in trainer.model.heads.state_dict().items()}
        angles = trainer.model.attention.to_angles.weight.detach().clone()
        trainer.fit()
        for k, v in trainer.model.heads.state_dict().items():
            assert torch.equal(v, heads[k]), k  # weight decay scales with lr: 0 too
        assert not torch.allclose(trainer.model.attention.to_angles.weight, angles)

    def test_mean_pool_baseline_with_fixed_probe_heads_is_the_probe(self, make_trainer):
        """head_lr = 0 and attention "mean": nothing can train, so the baseline is evaluated as
        initialised, and mean pooling + the probe's heads predicts what the probe predicts."""
        pytest.importorskip("sklearn")
        from qattn_hybrid.training.baselines import train_baselines

        trainer = make_trainer(training={"epochs": 1, "head_lr": 0.0, "init_heads": "probe"},
                               model={"dropout": 0.0})
        trainer.fit()
        out = train_baselines(trainer)
        assert not (trainer.output_dir / "baselines" / "mean" / "metrics.json").exists()
        for name in trainer.tasks:
            for split in ("validation", "test"):
                assert out["mean"][name][split]["accuracy"] == pytest.approx(
                    out["probe"][name][split]["accuracy"]), (name, split)

