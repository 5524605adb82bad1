"""Experiment tracking: a tiny run's TensorBoard events read back with TensorBoard's own reader
and compared with the run's metrics.json / run_config.json / test_metrics.json (the trainer's
independent record); config errors; tracking off writes no events; the CLI flag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qattn_hybrid.cli.parser import main
from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.config.sections import Config
from qattn_hybrid.training.tracking import NullTracker, make_tracker

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

TASKS = ("intent", "sentiment")
# constant schedule, no warm-up: the logged lr is the config's lr at every epoch (hand value)
CONSTANT_LR = {"schedule": "constant", "warmup": 0.0, "lr": 0.01}


class Interrupt(Exception):
    pass


def events(directory: Path) -> EventAccumulator:
    acc = EventAccumulator(str(directory), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def scalar_series(acc: EventAccumulator, tag: str) -> tuple[list[int], list[float]]:
    points = acc.Scalars(tag)
    return [p.step for p in points], [p.value for p in points]


def expected_from_history(history: list[dict]) -> dict[str, list[float]]:
    """tag -> one value per epoch, built from metrics.json by hand (not by the tracker)."""
    tags: dict[str, list[float]] = {}
    for rec in history:
        for task in TASKS:
            tags.setdefault(f"train/loss/{task}", []).append(rec["train_loss"][task])
            for metric, value in rec["validation"][task].items():
                tags.setdefault(f"validation/{task}/{metric}", []).append(value)
        tags.setdefault("score", []).append(rec["score"])
        tags.setdefault("lr", []).append(rec["lr"])
        tags.setdefault("seconds/train", []).append(rec["train_seconds"])
        tags.setdefault("seconds/validation", []).append(rec["validation_seconds"])
    return tags


def assert_scalars_match_history(acc: EventAccumulator, history: list[dict]) -> None:
    expected = expected_from_history(history)
    assert {"train/loss/intent", "validation/sentiment/accuracy", "score", "lr"} <= set(expected)
    logged = set(acc.Tags()["scalars"])
    assert set(expected) <= logged, sorted(set(expected) - logged)
    epochs = [rec["epoch"] for rec in history]
    for tag, values in expected.items():
        steps, got = scalar_series(acc, tag)
        assert steps == epochs, tag  # one value per epoch
        assert got == pytest.approx(values, rel=1e-6, abs=1e-7), tag  # stored as float32


@pytest.fixture
def tracked_run(make_trainer):
    trainer = make_trainer(training={"tracking": "tensorboard", **CONSTANT_LR})
    result = trainer.fit()
    return trainer, result


class TestTensorBoard:
    def test_scalars_are_the_history(self, tracked_run):
        _, result = tracked_run
        out = result.output_dir
        history = json.loads((out / "metrics.json").read_text())
        assert len(history) == 2
        assert [rec["lr"] for rec in history] == [0.01, 0.01]  # constant schedule
        acc = events(out / "tensorboard")
        assert_scalars_match_history(acc, history)
        assert scalar_series(acc, "lr") == ([1, 2], pytest.approx([0.01, 0.01]))

    def test_test_metrics_are_logged_at_the_last_epoch(self, tracked_run):
        _, result = tracked_run
        test = json.loads((result.output_dir / "test_metrics.json").read_text())["test"]
        acc = events(result.output_dir / "tensorboard")
        for task in TASKS:
            for metric, value in test[task].items():
                steps, values = scalar_series(acc, f"test/{task}/{metric}")
                assert steps == [2] and values == pytest.approx([value], rel=1e-6, abs=1e-7)

    def test_config_is_logged_as_text_and_hparams(self, tracked_run):
        from tensorboard.plugins.hparams import plugin_data_pb2

        _, result = tracked_run
        acc = events(result.output_dir / "tensorboard")
        [text] = acc.Tensors("config/text_summary")
        markdown = text.tensor_proto.string_val[0].decode()
        body = markdown.removeprefix("```json\n").removesuffix("\n```")
        assert json.loads(body) == json.loads((result.output_dir / "run_config.json").read_text())
        content = acc.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(
            content["_hparams_/session_start_info"]).session_start_info
        assert start.hparams["training.epochs"].number_value == 2
        assert start.hparams["training.lr"].number_value == pytest.approx(0.01)
        assert start.hparams["sampling.method"].string_value == "round_robin"
        experiment = plugin_data_pb2.HParamsPluginData.FromString(
            content["_hparams_/experiment"]).experiment
        assert [m.name.tag for m in experiment.metric_infos] == ["score"]

    def test_resumed_run_logs_each_epoch_once(self, tmp_path, make_trainer):
        sections = {"training": {"tracking": "tensorboard", "epochs": 3,
                                 "output_dir": str(tmp_path / "resumed"), **CONSTANT_LR}}

        def stop_after_2(done: int, record: dict) -> None:
            if done == 2:
                raise Interrupt

        with pytest.raises(Interrupt):
            make_trainer(**sections).fit(on_epoch_end=stop_after_2)
        # resume from epoch 1's checkpoint: epoch 2's events of the first attempt are dropped
        resumed = make_trainer(**sections)
        resumed.fit(resume=tmp_path / "resumed" / "checkpoints" / "epoch-0001")
        history = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
        assert [rec["epoch"] for rec in history] == [1, 2, 3]
        assert_scalars_match_history(events(tmp_path / "resumed" / "tensorboard"), history)

    def test_tracking_dir_outside_the_run(self, tmp_path, make_trainer):
        where = tmp_path / "tb" / "demo"
        trainer = make_trainer(training={"tracking": "tensorboard", "tracking_dir": str(where),
                                         "epochs": 1})
        result = trainer.fit()
        assert list(where.glob("events.out.tfevents.*"))
        assert not (result.output_dir / "tensorboard").exists()
        history = json.loads((result.output_dir / "metrics.json").read_text())
        assert_scalars_match_history(events(where), history)

    def test_overwrite_replaces_the_default_tracking_dir(self, make_trainer):
        make_trainer(training={"tracking": "tensorboard", "epochs": 2}).fit()
        result = make_trainer(training={"tracking": "tensorboard", "epochs": 1}).fit(
            overwrite=True)
        steps, _ = scalar_series(events(result.output_dir / "tensorboard"), "score")
        assert steps == [1]


class TestOff:
    def test_no_tracking_writes_no_event_files(self, make_trainer):
        trainer = make_trainer(training={"epochs": 1})
        result = trainer.fit()
        assert isinstance(trainer.tracker, NullTracker)
        assert list(result.output_dir.rglob("events.out.tfevents.*")) == []
        assert not (result.output_dir / "tensorboard").exists()

    def test_only_the_writer_rank_tracks(self, tiny_config, tmp_path):
        training = tiny_config.replace(training={"tracking": "tensorboard",
                                                 "tracking_dir": str(tmp_path / "tb")}).training
        assert isinstance(make_tracker(training, writer=False), NullTracker)
        assert not (tmp_path / "tb").exists()


class TestConfig:
    def test_unknown_tracker_lists_the_accepted_values(self):
        with pytest.raises(ConfigError, match=r"^training\.tracking must be one of "
                                              r"'tensorboard', or None \(off\); got 'mlflow'$"):
            Config.from_dict({"training": {"tracking": "mlflow"}})

    def test_tracking_must_be_a_str(self):
        with pytest.raises(ConfigError, match=r"^training\.tracking must be a str or None; "
                                              r"got bool True$"):
            Config.from_dict({"training": {"tracking": True}})

    def test_tracking_dir_without_a_tracker_is_refused(self):
        with pytest.raises(ConfigError, match=r"^training\.tracking_dir is set but "
                                              r"training\.tracking is None"):
            Config.from_dict({"training": {"tracking_dir": "tb"}})

    def test_empty_tracking_dir_is_refused(self):
        with pytest.raises(ConfigError, match=r"^training\.tracking_dir must be a non-empty "
                                              r"str; got ''$"):
            Config.from_dict({"training": {"tracking": "tensorboard", "tracking_dir": ""}})

    def test_round_trip(self):
        config = Config.from_dict({"training": {"tracking": "tensorboard",
                                                "tracking_dir": "tb/x"}})
        assert Config.from_dict(config.to_dict()).training.tracking_dir == "tb/x"


class TestCommand:
    def test_tensorboard_flag(self, config_path, tmp_path, capsys):
        where = tmp_path / "tb"
        assert main(["train", str(config_path), "--quiet", "--epochs", "1", "--no-plots",
                     "--no-baselines", "--output-dir", str(tmp_path / "run"),
                     "--tensorboard", str(where)]) == 0
        run_config = json.loads((tmp_path / "run" / "run_config.json").read_text())
        assert run_config["training"]["tracking"] == "tensorboard"
        assert run_config["training"]["tracking_dir"] == str(where)
        history = json.loads((tmp_path / "run" / "metrics.json").read_text())
        assert_scalars_match_history(events(where), history)

    def test_dry_run_names_the_tracking_dir(self, config_path, tmp_path, capsys):
        where = tmp_path / "tb"
        assert main(["train", str(config_path), "--dry-run", "--output-dir",
                     str(tmp_path / "run"), "--tensorboard", str(where)]) == 0
        out = capsys.readouterr().out
        assert f"Tracking: tensorboard events in {where}" in out
        assert not where.exists() and not (tmp_path / "run").exists()
