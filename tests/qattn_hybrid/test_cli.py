"""The qattn command line, run in-process: train, eval, predict, draw, resources, errors."""

from __future__ import annotations

import importlib.util
import json
import tomllib
from pathlib import Path

import pytest

from qattn_hybrid.cli import main

ROOT = Path(__file__).resolve().parents[2]
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture(scope="module")
def trained(tmp_path_factory, encoder_dir, make_config_dict):
    """One tiny training run through `qattn train`, shared by the eval/predict tests."""
    root = tmp_path_factory.mktemp("cli")
    config = make_config_dict(root / "data", root / "run")
    config["model"]["encoder"] = str(encoder_dir)
    path = root / "config.json"
    path.write_text(json.dumps(config))
    assert main(["train", str(path), "--quiet"]) == 0
    return root


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class TestTrain:
    def test_writes_run_and_plot(self, trained):
        run_dir = trained / "run"
        for name in ("best/config.json", "latest.json", "metrics.csv", "test_metrics.json"):
            assert (run_dir / name).is_file(), name
        assert (run_dir / "training_curves.png").is_file() == HAS_MATPLOTLIB

    def test_prints_per_task_results(self, trained, capsys):
        code, out, _ = run(capsys, "train", str(trained / "config.json"), "--quiet",
                           "--output-dir", str(trained / "run2"), "--epochs", "1",
                           "--no-plots")
        assert code == 0
        assert "Test results" in out and "intent" in out and "sentiment" in out
        assert "accuracy" in out and "macro_f1" in out
        assert not (trained / "run2" / "training_curves.png").exists()

    def test_resume_finished_run(self, trained, capsys):
        code, out, _ = run(capsys, "train", str(trained / "config.json"), "--quiet", "--resume")
        assert code == 0 and "Best epoch" in out

    def test_invalid_config_value(self, tmp_path, capsys):
        (tmp_path / "bad.toml").write_text("[training]\nlr = -1\n")
        code, _, err = run(capsys, "train", str(tmp_path / "bad.toml"))
        assert code == 2 and "training.lr must be > 0; got -1" in err


class TestEvalPredict:
    def test_eval_table_and_json(self, trained, capsys):
        code, out, _ = run(capsys, "eval", str(trained / "run"))
        assert code == 0 and out.splitlines()[0].split()[:3] == ["task", "accuracy", "macro_f1"]
        code, out, _ = run(capsys, "eval", str(trained / "run" / "best"), "--json",
                           "--split", "validation")
        scores = json.loads(out)
        assert set(scores) == {"intent", "sentiment"} and 0 <= scores["intent"]["accuracy"] <= 1

    def test_predict(self, trained, capsys, tmp_path):
        plot = ["--plot", str(tmp_path / "att.png")] if HAS_MATPLOTLIB else []
        code, out, _ = run(capsys, "predict", str(trained / "run"), "check my card please",
                           "book a flight", "--task", "intent", "--attention", *plot)
        assert code == 0
        lines = out.splitlines()
        assert lines[0].split("\t")[0] in {"card", "travel", "payment"}
        assert "[CLS]:" in lines[1]
        assert (tmp_path / "att.png").is_file() == HAS_MATPLOTLIB

    def test_unknown_task(self, trained, capsys):
        code, _, err = run(capsys, "predict", str(trained / "run"), "hello", "--task", "weather")
        assert code == 2 and "Unknown task 'weather'. Available: intent, sentiment" in err

    def test_corrupt_checkpoint(self, trained, tmp_path, capsys):
        import shutil

        copy = tmp_path / "model"
        shutil.copytree(trained / "run" / "best", copy)
        weights = copy / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])
        code, _, err = run(capsys, "eval", str(copy))
        assert code == 2 and "corrupt or truncated" in err

    def test_not_a_checkpoint(self, tmp_path, capsys):
        code, _, err = run(capsys, "eval", str(tmp_path))
        assert code == 2 and "holds no saved model" in err


class TestCircuit:
    def test_draw(self, capsys):
        code, out, _ = run(capsys, "draw", "--n-qubits", "3", "--n-layers", "1")
        assert code == 0 and out.count("\n") >= 3 and "RY" in out

    def test_resources_from_config(self, capsys):
        code, out, _ = run(capsys, "resources", str(ROOT / "configs" / "demo.toml"))
        data = json.loads(out)
        assert code == 0 and data["n_qubits"] == 4 and data["n_tasks"] == 4

    def test_bad_circuit_option(self, capsys):
        code, _, err = run(capsys, "resources", "--ansatz", "magic")
        assert code == 2 and "ansatz must be one of" in err


def test_console_script_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["qattn"] == "qattn_hybrid.cli:main"
