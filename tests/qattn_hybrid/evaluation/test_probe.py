"""The linear probe baseline: features, C / alpha chosen on validation, `qattn probe`, and
heads that start as the probes (LP-FT)."""

import json
import math

import pytest
import torch

pytest.importorskip("sklearn")

from qattn_hybrid.cli.parser import main  # noqa: E402
from qattn_hybrid.config.taskspec import TaskSpec
from qattn_hybrid.data.loading import TaskData, TaskSplit
from qattn_hybrid.evaluation.probe import C_GRID, fit_probe, pooled_features  # noqa: E402


def blobs(n, seed, centers):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(centers)
    x = centers[labels] + 0.8 * torch.randn(n, centers.shape[1], generator=g)
    return x, labels


def classification_task(centers):
    splits = {}
    features = {}
    for i, (split, n) in enumerate((("train", 120), ("validation", 60), ("test", 60))):
        x, y = blobs(n, i, centers)
        splits[split] = TaskSplit([f"{split}{j}" for j in range(n)], y)
        features[split] = x
    return TaskData(TaskSpec("blobs", "x.jsonl"), ("a", "b", "c"), splits), features


class TestFitProbe:
    def test_classification_picks_best_validation_c(self):
        from sklearn.linear_model import LogisticRegression

        centers = torch.tensor([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 2.0]])
        task, features = classification_task(centers)
        result = fit_probe(task, features)
        # reference: each C fitted by hand, scored on validation
        val = {}
        for c in C_GRID:
            model = LogisticRegression(C=c, max_iter=2000).fit(features["train"].double().numpy(),
                                                               task.train.labels.numpy())
            pred = model.predict(features["validation"].double().numpy())
            val[c] = float((torch.as_tensor(pred) == task.split("validation").labels)
                           .double().mean())
        assert result.scores == pytest.approx(val)
        assert val[result.param] == max(val.values())
        assert result.metrics["test"]["accuracy"] > 0.85  # well-separated blobs
        assert set(result.metrics) == {"train", "validation", "test"}

    def test_regression_ridge(self):
        g = torch.Generator().manual_seed(0)
        w = torch.tensor([1.0, -2.0, 0.5])
        splits, features = {}, {}
        for split, n in (("train", 80), ("validation", 40), ("test", 40)):
            x = torch.randn(n, 3, generator=g)
            splits[split] = TaskSplit(["t"] * n, (x @ w + 0.01 * torch.randn(n, generator=g)))
            features[split] = x
        task = TaskData(TaskSpec("r", "x.jsonl", task_type="regression"), (), splits)
        result = fit_probe(task, features)
        assert result.param in (0.01, 0.1, 1.0)  # little shrinkage wins on a noiseless target
        assert result.metrics["test"]["mse"] < 0.01

    def test_pooled_features_are_normalised_masked_means(self):
        x = torch.tensor([[[1.0, 0.0], [3.0, 4.0], [9.0, 9.0]]])
        mask = torch.tensor([[True, True, False]])
        out = pooled_features(lambda texts: (x, mask), ["one"])
        mean = torch.tensor([2.0, 2.0])
        assert torch.allclose(out[0], mean / math.sqrt(8.0))


class TestCommandLine:
    def test_probe_prints_every_task(self, config_path, capsys):
        assert main(["probe", str(config_path), "--quiet"]) == 0
        out = capsys.readouterr().out
        assert "Linear probe" in out and "intent" in out and "sentiment" in out

    def test_probe_json(self, config_path, capsys):
        assert main(["probe", str(config_path), "--json", "--quiet"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["intent"]["param"] in C_GRID
        assert 0 <= data["intent"]["test"]["accuracy"] <= 1

class TestHeadsFromProbe:
    def test_model_starts_at_the_probe(self, tiny_config, make_encoder):
        from qattn_hybrid.evaluation.probe import init_heads_from_probe, pooled_features, run_probe
        from qattn_hybrid.training.factory import build_trainer

        trainer = build_trainer(tiny_config.replace(training={"init_heads": "probe"}),
                                encoder=make_encoder())
        init_heads_from_probe(trainer)
        probes = run_probe(trainer.config, trainer.tasks, trainer.model.encoder)
        trainer.model.eval()
        for name, task in trainer.tasks.items():
            texts = task.split("test").texts
            x = pooled_features(trainer.model.encoder.cache.encode, texts).double().numpy()
            decision = torch.as_tensor(probes[name].model.decision_function(x))
            logits = trainer.model(texts, name).logits.double()
            if decision.dim() == 1:  # binary: the probe's margin is logit 1 - logit 0
                logits = logits[:, 1] - logits[:, 0]
            assert torch.allclose(logits, decision, atol=1e-4)

    def test_needs_normalised_features(self, tiny_config, make_encoder):
        from qattn_hybrid.evaluation.probe import init_heads_from_probe
        from qattn_hybrid.training.factory import build_trainer

        config = tiny_config.replace(model={"normalize_pooled": False})
        with pytest.raises(ValueError, match="needs model.normalize_pooled = true"):
            init_heads_from_probe(build_trainer(config, encoder=make_encoder()))
        config = tiny_config.replace(model={"mixer": "bigru", "mixer_units": 4})
        with pytest.raises(ValueError, match="needs model.mixer = None .*got mixer = 'bigru'"):
            init_heads_from_probe(build_trainer(config, encoder=make_encoder()))
