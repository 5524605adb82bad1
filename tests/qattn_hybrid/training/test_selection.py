"""Per-task model selection: each task tested with the model of its own best epoch."""

import json

import pytest


class TestPerTaskSelection:
    @pytest.mark.slow
    def test_each_task_tested_with_its_own_best_epoch(self, tiny_config, make_encoder):
        from qattn_hybrid.evaluation.evaluator import evaluate
        from qattn_hybrid.modeling.model import MultiTaskModel
        from qattn_hybrid.training.factory import build_trainer

        config = tiny_config.replace(training={"epochs": 3, "selection": "per_task"})
        trainer = build_trainer(config, encoder=make_encoder())
        result = trainer.fit()
        saved = json.loads((trainer.output_dir / "test_metrics.json").read_text())
        for task, epoch in saved["best_epoch_per_task"].items():
            scores = [r["validation"][task]["accuracy"] for r in result.history]
            assert epoch == 1 + scores.index(max(scores))  # earliest best epoch
            snapshot = MultiTaskModel.from_pretrained(trainer.output_dir / "best_per_task" / task)
            snapshot.encoder = trainer.model.encoder  # the in-memory tiny encoder
            expected = evaluate(snapshot, {task: trainer.tasks[task]}, "test")[task]
            assert result.test_metrics[task] == pytest.approx(expected)
