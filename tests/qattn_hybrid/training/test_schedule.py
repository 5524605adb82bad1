"""The learning-rate schedule: warm-up, then cosine / linear / constant; the trainer follows
it step by step."""

import math

import pytest

from qattn_hybrid.training.schedule import lr_factor


class TestSchedule:
    def test_warmup_then_cosine(self):
        total = 100
        f = [lr_factor(s, total, warmup=0.1, kind="cosine") for s in range(total)]
        assert f[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
        assert f[10] == pytest.approx(1.0)
        assert f[55] == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))
        assert f[-1] < 0.01

    def test_constant_and_linear(self):
        assert lr_factor(50, 100, 0.0, "constant") == 1.0
        assert lr_factor(50, 100, 0.0, "linear") == pytest.approx(0.5)

    def test_trainer_follows_it(self, tiny_config, make_encoder):
        from qattn_hybrid.training.factory import build_trainer

        config = tiny_config.replace(training={"epochs": 2, "warmup": 0.25})
        trainer = build_trainer(config, encoder=make_encoder())
        seen = []
        step = trainer.optimizer.step

        def spy(*a, **k):
            seen.append(trainer.optimizer.param_groups[0]["lr"])
            return step(*a, **k)

        trainer.optimizer.step = spy
        trainer.fit()
        total = 2 * trainer.steps_per_epoch
        expected = [0.01 * lr_factor(s, total, 0.25, "cosine") for s in range(total)]
        assert seen == pytest.approx(expected)

    def test_bad_schedule(self):
        from qattn_hybrid.config.checks import ConfigError
        from qattn_hybrid.config.sections import Config

        with pytest.raises(ConfigError, match="training.schedule must be one of 'cosine', "
                                              "'linear', 'constant'; got 'step'"):
            Config.from_dict({"training": {"schedule": "step"}})
