"""Baselines beside a run: the probe and the mean-pool model trained with `qattn train`, their
rows printed beside the results and shown again by `qattn eval`."""

import json

import pytest

pytest.importorskip("sklearn")

from qattn_hybrid.cli.parser import main  # noqa: E402
from qattn_hybrid.training.baselines import beside  # noqa: E402


class TestCommandLine:
    @pytest.mark.slow
    def test_train_and_eval_print_baselines_beside(self, config_path, capsys):
        run_dir = config_path.parent / "run"
        assert main(["train", str(config_path), "--quiet", "--epochs", "1", "--no-plots"]) == 0
        out = capsys.readouterr().out
        assert "intent (probe)" in out and "intent (mean-pool)" in out
        saved = json.loads((run_dir / "baselines.json").read_text())
        assert set(saved["probe"]) == set(saved["mean"]) == {"intent", "sentiment"}
        assert main(["eval", str(run_dir), "--quiet"]) == 0
        assert "sentiment (probe)" in capsys.readouterr().out


def test_beside_adds_rows_after_each_task():
    results = {"a": {"accuracy": 0.9}, "b": {"accuracy": 0.5}}
    baselines = {"probe": {"a": {"test": {"accuracy": 0.8}}, "b": {"validation": {}}},
                 "mean": {"b": {"test": {"accuracy": 0.4}}}}
    assert list(beside(results, baselines).items()) == [
        ("a", {"accuracy": 0.9}), ("  a (probe)", {"accuracy": 0.8}),
        ("b", {"accuracy": 0.5}), ("  b (mean-pool)", {"accuracy": 0.4})]
    assert beside(results, {}) == results
