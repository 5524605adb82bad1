"""Trainer: the whole path on tiny data, exact resume, atomic checkpoints, bad input."""

from __future__ import annotations

import csv
import importlib.util
import json

import pytest
import torch

from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.evaluation.evaluator import evaluate
from qattn_hybrid.modeling.model import MultiTaskModel
from qattn_hybrid.utils.files import CheckpointError


class Interrupt(Exception):
    pass


def stop_after(epoch: int):
    def hook(done: int, record: dict) -> None:
        if done == epoch:
            raise Interrupt
    return hook


class TestWholePath:
    def test_fit_writes_everything_and_reports_per_task(self, make_trainer):
        trainer = make_trainer()
        result = trainer.fit()
        out = result.output_dir
        assert result.best_epoch in (1, 2) and len(result.history) == 2
        assert set(result.test_metrics) == {"intent", "sentiment"}
        assert {"accuracy", "macro_f1", "loss"} <= set(result.test_metrics["intent"])
        for name in ("run_config.json", "metrics.csv", "metrics.json", "latest.json",
                     "test_metrics.json", "best/config.json", "best/model.safetensors"):
            assert (out / name).is_file(), name
        with open(out / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        assert {(r["split"], r["task"]) for r in rows} == {
            (s, t) for s in ("train", "validation") for t in ("intent", "sentiment")}
        assert json.loads((out / "latest.json").read_text())["epoch"] == 2
        assert not list(out.rglob(".tmp-*"))

    def test_best_model_reloads_with_identical_predictions(self, make_trainer):
        trainer = make_trainer()
        result = trainer.fit()  # leaves the best weights in trainer.model
        loaded = MultiTaskModel.from_pretrained(result.output_dir / "best")
        texts = trainer.tasks["intent"].split("test").texts
        trainer.model.eval()
        assert torch.equal(trainer.model(texts, "intent").logits, loaded(texts, "intent").logits)
        scores = evaluate(loaded, trainer.tasks, "test")
        assert scores["intent"]["accuracy"] == pytest.approx(
            result.test_metrics["intent"]["accuracy"])

    def test_early_stopping(self, make_trainer):
        trainer = make_trainer(training={"epochs": 6, "patience": 1, "lr": 1e-9})
        result = trainer.fit()
        assert result.stopped_early and len(result.history) < 6

    @pytest.mark.parametrize("method", ["uncertainty", "dwa", "gradnorm", pytest.param(
        "upgrad", marks=pytest.mark.skipif(importlib.util.find_spec("torchjd") is None,
                                           reason="needs the mtl extra (torchjd)"))])
    def test_weightings_with_several_tasks_per_step(self, method, make_trainer):
        trainer = make_trainer(weighting={"method": method},
                               training={"epochs": 1, "tasks_per_step": 2})
        result = trainer.fit()
        assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
        assert set(result.history[0]["train_loss"]) == {"intent", "sentiment"}

    def test_regression_task(self, config_dict, tmp_path, make_trainer):
        rows = [{"text": f"price up {'up ' * (i % 4)}today", "score": float(i % 4),
                 "split": "train" if i < 16 else "validation"} for i in range(24)]
        path = tmp_path / "score.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        config_dict["data"]["tasks"].append({"name": "score", "file": str(path),
                                             "label_field": "score",
                                             "task_type": "regression"})
        trainer = make_trainer(training={"epochs": 1})
        result = trainer.fit()
        assert set(result.history[0]["validation"]["score"]) == {"loss", "mse", "mae", "rmse", "r2",
                                                                 "spearman"}
        assert isinstance(trainer.model.predict(["price up today"], "score")[0], float)


class TestResume:
    SECTIONS = {"weighting": {"method": "uncertainty"},
                "sampling": {"method": "temperature", "temperature": 2.0},
                "training": {"epochs": 3}}

    def test_interrupted_and_resumed_equals_uninterrupted(self, tmp_path, make_trainer):
        sections = {**self.SECTIONS, "training": {"epochs": 3, "output_dir": str(tmp_path / "a")}}
        straight = make_trainer(**sections)
        straight.fit()

        sections = {**self.SECTIONS, "training": {"epochs": 3, "output_dir": str(tmp_path / "b")}}
        first = make_trainer(**sections)
        with pytest.raises(Interrupt):
            first.fit(on_epoch_end=stop_after(1))
        torch.manual_seed(1234)  # a resumed process starts with other RNG states
        resumed = make_trainer(**sections)
        result = resumed.fit(resume=True)

        assert resumed.epoch == 3 and len(result.history) == 3
        a, b = straight.model.state_dict(), resumed.model.state_dict()
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key
        for key, value in straight.weighting.state_dict().items():
            assert torch.equal(value, resumed.weighting.state_dict()[key])

    def test_resume_without_checkpoint_starts_fresh(self, make_trainer):
        trainer = make_trainer(training={"epochs": 1})
        assert trainer.fit(resume=True).history[0]["epoch"] == 1

    def test_old_checkpoints_are_pruned(self, make_trainer):
        trainer = make_trainer(training={"epochs": 3, "keep_checkpoints": 1})
        result = trainer.fit()
        kept = sorted(p.name for p in (result.output_dir / "checkpoints").iterdir())
        assert kept == ["epoch-0003"]


class TestAtomicCheckpoints:
    def test_failed_write_never_becomes_latest(self, monkeypatch, make_trainer):
        trainer = make_trainer(training={"epochs": 3})
        real_save = torch.save
        calls = {"n": 0}

        def failing_save(obj, path, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 2:  # the second checkpoint: write half a file, then fail
                real_save(obj, path, *args, **kwargs)
                data = open(path, "rb").read()
                open(path, "wb").write(data[: len(data) // 2])
                raise OSError("disk full")
            return real_save(obj, path, *args, **kwargs)

        monkeypatch.setattr(torch, "save", failing_save)
        with pytest.raises(OSError, match="disk full"):
            trainer.fit()
        out = trainer.output_dir
        assert json.loads((out / "latest.json").read_text())["checkpoint"] == \
            "checkpoints/epoch-0001"
        assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch-0001"]
        monkeypatch.setattr(torch, "save", real_save)
        resumed = make_trainer(training={"epochs": 3})
        assert resumed.fit(resume=True).history[-1]["epoch"] == 3

    @pytest.mark.parametrize("victim", ["model/model.safetensors", "optimizer.pt",
                                        "rng.safetensors", "trainer_state.json"])
    def test_corrupt_or_truncated_checkpoint(self, victim, make_trainer):
        trainer = make_trainer(training={"epochs": 1})
        trainer.fit()
        path = trainer.output_dir / "checkpoints" / "epoch-0001" / victim
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 7])
        again = make_trainer(training={"epochs": 2})
        with pytest.raises(CheckpointError, match="corrupt or truncated"):
            again.fit(resume=True)

    def test_missing_checkpoint_folder(self, tmp_path, make_trainer):
        trainer = make_trainer()
        with pytest.raises(CheckpointError, match="does not exist"):
            trainer.fit(resume=tmp_path / "nowhere")


class TestBadInput:
    def test_empty_dataset(self, config_dict, tmp_path, make_trainer):
        empty = tmp_path / "empty.jsonl"
        empty.write_text("")
        config_dict["data"]["tasks"][0]["file"] = str(empty)
        with pytest.raises(ValueError, match="dataset must not be empty"):
            make_trainer()

    def test_missing_text_field(self, config_dict, make_trainer):
        config_dict["data"]["tasks"][0]["text_field"] = "body"
        with pytest.raises(KeyError, match="text_field 'body' must be a field"):
            make_trainer()

    def test_unknown_weighting(self, make_trainer):
        with pytest.raises(ConfigError, match=r"weighting\.method must be one of 'equal', "
                                              r"'uncertainty', .*; got 'nope'"):
            make_trainer(weighting={"method": "nope"})


class TestProgressLines:
    def test_training_logs_progress_lines_when_not_on_a_terminal(self, monkeypatch, caplog,
                                                                 make_trainer):
        """progress = None and stderr not a terminal (as under pytest, CI or nohup): periodic
        INFO lines instead of tqdm bars. A fake clock makes every step take 1 s."""
        from types import SimpleNamespace

        import qattn_hybrid.utils.progress as progress

        assert not __import__("sys").stderr.isatty()
        clock = iter(range(100_000))
        monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=lambda: float(next(clock))))
        trainer = make_trainer(training={"epochs": 1, "progress": None})
        with caplog.at_level("INFO", logger="qattn_hybrid.utils.progress"):
            trainer.fit()
        lines = [r.getMessage() for r in caplog.records if r.name == "qattn_hybrid.utils.progress"]
        steps = len(trainer.sampler)
        assert any(line.startswith(f"epoch 1/1: {steps}/{steps} steps (100%)") for line in lines)

    def test_quiet_runs_log_no_progress(self, caplog, make_trainer):
        trainer = make_trainer(training={"epochs": 1, "progress": False})
        with caplog.at_level("INFO", logger="qattn_hybrid.utils.progress"):
            trainer.fit()
        assert not [r for r in caplog.records if r.name == "qattn_hybrid.utils.progress"]


class TestSeeding:
    @pytest.mark.parametrize("seed", [0, 1234, 2**32 + 7, 2**63 - 1])
    def test_seeds_python_numpy_and_torch_as_by_hand(self, seed):
        """seed_everything draws what seeding each generator by hand draws (NumPy: the seed
        mod 2**32, the only range it takes; Python and torch: the whole seed)."""
        import random

        import numpy as np
        import torch

        from qattn_hybrid.training.trainer import seed_everything

        def draws():
            return random.random(), float(np.random.rand()), float(torch.rand(()))

        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        reference = draws()
        draws()  # move every generator on
        seed_everything(seed)
        assert draws() == reference
