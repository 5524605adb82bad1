"""Validation data that is never silently missing (issue #11): validation_from_train, the
no-validation error and split_values that match no row."""

import collections
import json

import pytest

from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.config.presets import PRESETS
from qattn_hybrid.config.sections import Config
from qattn_hybrid.config.taskspec import TaskSpec
from qattn_hybrid.data.loading import load_task


def write_rows(path, n_per_label=(40, 20, 10), splits=("train",), extra=()):
    rows = []
    for split in splits:
        for label, n in zip("abc", n_per_label):
            rows += [{"text": f"{split} {label} {i}", "label": label, "split": split}
                     for i in range(n)]
    rows += list(extra)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


class TestValidationFromTrain:
    def test_stratified(self, tmp_path):
        path = write_rows(tmp_path / "t.jsonl", splits=("train", "test"))
        task = load_task(TaskSpec("t", str(path), validation_from_train=0.1))
        val = task.split("validation")
        counts = collections.Counter(task.labels[i] for i in val.labels.tolist())
        assert counts == {"a": 4, "b": 2, "c": 1}  # 10 % of 40, 20 and 10, per label
        train = collections.Counter(task.labels[i] for i in task.train.labels.tolist())
        assert train == {"a": 36, "b": 18, "c": 9}

    def test_disjoint_from_train_and_test(self, tmp_path):
        path = write_rows(tmp_path / "t.jsonl")  # train only: test held out by hash
        task = load_task(TaskSpec("t", str(path), validation_from_train=0.2, test_from_train=0.25))
        train, val, test = (set(task.split(s).texts) for s in ("train", "validation", "test"))
        assert val and test and not (train & val) and not (val & test) and not (train & test)
        assert len(train | val | test) == 70

    def test_seeded(self, tmp_path):
        path = write_rows(tmp_path / "t.jsonl")

        def val(seed):
            spec = TaskSpec("t", str(path), validation_from_train=0.25, seed=seed)
            return load_task(spec).split("validation").texts

        assert val(0) == val(0)
        assert val(0) != val(1)
        assert len(val(0)) == len(val(1)) == 10 + 5 + 2  # round(40/4), round(20/4), round(2.5)

    def test_refused_when_the_file_has_validation(self, tmp_path):
        path = write_rows(tmp_path / "t.jsonl", splits=("train", "validation"))
        with pytest.raises(ValueError, match=r"Task 't': validation_from_train must be 0 when .* "
                                             r"has a validation split; got 0.1 and 70 validation"):
            load_task(TaskSpec("t", str(path), validation_from_train=0.1))

    @pytest.mark.parametrize("bad", [-0.1, 1.0])
    def test_range(self, bad):
        with pytest.raises(ValueError, match=rf"validation_from_train must be in \[0, 1\); "
                                             rf"got {bad}"):
            TaskSpec("t", "x.jsonl", validation_from_train=bad)

    @pytest.mark.slow
    def test_task_added_by_config_alone_trains(self, tmp_path, make_encoder):
        from qattn_hybrid.training.factory import build_trainer

        path = write_rows(tmp_path / "t.jsonl", n_per_label=(12, 12, 12), splits=("train", "test"))
        config = Config.from_dict({
            "model": {"encoder": "tiny", "circuit": {"n_qubits": 2, "n_layers": 1},
                      "max_length": 16},
            "data": {"tasks": [{"name": "new", "file": str(path),
                                "validation_from_train": 0.25}]},
            "training": {"epochs": 1, "batch_size": 8, "output_dir": str(tmp_path / "run"),
                         "progress": False}})
        result = build_trainer(config, encoder=make_encoder()).fit()
        assert set(result.history[0]["validation"]) == {"new"}
        assert "accuracy" in result.test_metrics["new"]


class TestMissingValidation:
    def _config(self, tmp_path, **task):
        path = write_rows(tmp_path / "t.jsonl", n_per_label=(6, 6, 6), splits=("train", "test"))
        return Config.from_dict({
            "model": {"encoder": "tiny", "circuit": {"n_qubits": 2, "n_layers": 1},
                      "max_length": 16},
            "data": {"tasks": [{"name": "new", "file": str(path), **task}]},
            "training": {"epochs": 1, "batch_size": 8, "output_dir": str(tmp_path / "run"),
                         "progress": False}})

    def test_error(self, tmp_path, make_encoder):
        from qattn_hybrid.training.factory import build_trainer

        with pytest.raises(ValueError, match=r"Task 'new': the validation split must have rows "
                                             r".*got none. Set validation_from_train = 0.1"):
            build_trainer(self._config(tmp_path), encoder=make_encoder())

    def test_explicit_opt_out(self, tmp_path, make_encoder):
        from qattn_hybrid.training.factory import build_trainer

        trainer = build_trainer(self._config(tmp_path, allow_no_validation=True),
                                encoder=make_encoder())
        assert "validation" not in trainer.tasks["new"].splits
        trainer.fit()  # selects on the training loss


class TestSplitValues:
    def test_value_matching_no_row(self, tmp_path):
        path = write_rows(tmp_path / "t.jsonl", splits=("train", "dev", "test"))
        spec = TaskSpec("t", str(path),
                        split_values={"train": "train", "validation": "valid", "test": "test"})
        with pytest.raises(ValueError, match=r"Task 't': split_values\['validation'\] must match "
                                             r"rows of .*; got 'valid', which matches 0 rows of "
                                             r"field 'split' \(values found: 'dev', 'test', "
                                             r"'train'\)"):
            load_task(spec)

    def test_explicit_values_that_match(self, tmp_path):
        path = write_rows(tmp_path / "t.jsonl", splits=("train", "dev"))
        task = load_task(TaskSpec("t", str(path), split_values={"train": "train",
                                                                "validation": "dev"}))
        assert set(task.splits) == {"train", "validation"}

    def test_default_takes_the_splits_present(self, tmp_path):
        path = write_rows(tmp_path / "t.jsonl", splits=("train", "test"))
        assert set(load_task(TaskSpec("t", str(path))).splits) == {"train", "test"}

    def test_config_error(self):
        with pytest.raises(ConfigError, match=r"data.tasks\[0\]: Task 'fin_sentiment': "
                                              r"validation_from_train must be in \[0, 1\)"):
            Config.from_dict({"data": {"tasks": [
                {"preset": "fin_sentiment", "validation_from_train": 2.0}]}})


class TestSharedSubsets:
    def test_clinc_tasks_share_one_subset(self):
        """The three CLINC presets draw the same rows, so their texts are encoded once."""
        texts = {name: {s: load_task(PRESETS[name].replace(max_examples=300, seed=1))
                        .split(s).texts for s in ("train", "validation", "test")}
                 for name in ("clinc_intent", "clinc_domain", "clinc_oos")}
        assert texts["clinc_intent"] == texts["clinc_domain"] == texts["clinc_oos"]
        oos = load_task(PRESETS["clinc_oos"].replace(max_examples=300, seed=1))
        assert oos.labels == ("in_scope", "oos")
