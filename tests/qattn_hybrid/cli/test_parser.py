"""The qattn command line, run in-process: train, eval, predict, draw, resources, errors."""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from pathlib import Path

import pytest

from qattn_hybrid.cli.parser import main

ROOT = Path(__file__).resolve().parents[3]
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
        code, out, err = run(capsys, "train", str(trained / "config.json"), "--quiet", "--resume")
        assert code == 0 and "Best epoch" in out, err

    def test_invalid_config_value(self, tmp_path, capsys):
        (tmp_path / "bad.toml").write_text("[training]\nlr = -1\n")
        code, _, err = run(capsys, "train", str(tmp_path / "bad.toml"))
        assert code == 2 and "training.lr must be > 0; got -1" in err


class TestEvalPredict:
    def test_eval_table_and_json(self, trained, capsys):
        code, out, _ = run(capsys, "eval", str(trained / "run"))
        header = out.splitlines()[0].split()[:3]
        assert code == 0 and header == ["task", "accuracy(%)", "macro_f1(%)"]  # with units
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
        with pytest.raises(SystemExit) as exit_info:
            main(["resources", "--ansatz", "magic"])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2
        assert "argument --ansatz: invalid choice: 'magic' (choose from" in err

    def test_bad_circuit_value_from_the_library(self, capsys):
        code, _, err = run(capsys, "resources", "--n-qubits", "0")
        assert code == 2 and "n_qubits must be" in err


def test_console_script_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["qattn"] == "qattn_hybrid.cli.parser:main"


class TestPredictText:
    @pytest.mark.parametrize("text", ["", "   ", "\t\n"])
    @pytest.mark.parametrize("attention", [[], ["--attention"]])
    def test_empty_or_blank_text_is_refused_before_any_label(self, trained, capsys, text,
                                                              attention):
        code, out, err = run(capsys, "predict", str(trained / "run"), "book a flight", text,
                             "--task", "intent", *attention)
        assert code == 2 and out == ""
        assert "text 2 must be a non-empty str (not only whitespace); got" in err
        assert len(err.strip().splitlines()) == 1

    def test_library_predict_refuses_blank_text(self, trained):
        from qattn_hybrid.modeling.model import MultiTaskModel

        model = MultiTaskModel.from_pretrained(trained / "run" / "best")
        with pytest.raises(ValueError, match=r"texts\[1\] must be a non-empty str"):
            model.predict(["book a flight", "  "], "intent")


class TestTrainRuns:
    def test_second_run_into_a_used_folder_is_refused(self, trained, capsys):
        before = (trained / "run" / "test_metrics.json").read_bytes()
        code, out, err = run(capsys, "train", str(trained / "config.json"), "--quiet")
        assert code == 2 and "--resume" in err and "--overwrite" in err
        assert "training.output_dir must be empty or new" in err
        assert (trained / "run" / "test_metrics.json").read_bytes() == before

    def test_epoch_time_includes_validation_and_scores_say_percent(self, trained, capsys,
                                                                    caplog):
        caplog.set_level("INFO", logger="qattn_hybrid.training.trainer")
        code, out, _ = run(capsys, "train", str(trained / "config.json"), "--output-dir",
                           str(trained / "run3"), "--epochs", "1", "--no-plots")
        assert code == 0 and "s per epoch (training + validation)" in out
        record = json.loads((trained / "run3" / "metrics.json").read_text())[0]
        assert record["seconds"] == pytest.approx(record["train_seconds"]
                                                  + record["validation_seconds"])
        line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch"))
        assert "validation" in line and "%" in line  # "accuracy 66.7%", not "0.667"
        assert "Test results" in out and "accuracy(%)" in out

    def test_dry_run_validates_and_writes_nothing(self, trained, capsys, tmp_path):
        code, out, _ = run(capsys, "train", str(trained / "config.json"), "--dry-run",
                           "--output-dir", str(tmp_path / "new"))
        assert code == 0 and "nothing was trained or written" in out
        assert "intent: 3 labels; train 24, validation 9, test 9" in out
        assert f"{tmp_path / 'new'}: a new run" in out and not (tmp_path / "new").exists()

    def test_dry_run_reports_the_used_folder(self, trained, capsys):
        code, _, err = run(capsys, "train", str(trained / "config.json"), "--dry-run")
        assert code == 2 and "--overwrite" in err
        code, out, _ = run(capsys, "train", str(trained / "config.json"), "--dry-run",
                           "--resume")
        assert code == 0 and "resume from" in out and "epoch-0002" in out


    def test_dry_run_counts_the_mixer_and_checks_heads_against_it(self, trained, capsys,
                                                                    tmp_path):
        config = json.loads((trained / "config.json").read_text())
        config["model"].update(mixer="bigru", mixer_units=6, n_heads=5)
        config["training"].update(init_heads="random", output_dir=str(tmp_path / "new"))
        path = tmp_path / "mixer.json"
        path.write_text(json.dumps(config))
        code, _, err = run(capsys, "train", str(path), "--dry-run")
        assert code == 2 and ("model.n_heads must divide the mixer's output size 12 "
                              "(2 x model.mixer_units); got 5") in err
        config["model"]["n_heads"] = 1
        path.write_text(json.dumps(config))
        code, out, _ = run(capsys, "train", str(path), "--dry-run")
        d = int(re.search(r"\(hidden (\d+)\)", out).group(1))
        gru = 3 * (6 * d + 6 * 6 + 2 * 6)  # 3 gates: input and hidden weights, two biases
        assert code == 0 and f"bigru mixer ({2 * gru:,} parameters)" in out

    @pytest.mark.parametrize("flag", ["--torch-device", "--device"])  # --device: old name
    def test_torch_device_override(self, trained, capsys, flag):
        code, out, err = run(capsys, "train", str(trained / "config.json"), "--dry-run",
                             "--resume", flag, "meta")
        assert code == 0, err
        assert "sampling, on meta" in out and "qml_device default" in out


class TestStartUp:
    def test_help_imports_no_heavy_module(self):
        """`qattn --help` must not import torch, PennyLane or transformers (7-15 s before)."""
        import subprocess
        import sys

        code = ("import sys\nfrom qattn_hybrid.cli.parser import main\n"
                "try:\n    main(['train', '--help'])\nexcept SystemExit:\n    pass\n"
                "heavy = [m for m in ('torch', 'pennylane', 'transformers', 'numpy') "
                "if m in sys.modules]\nprint('HEAVY', heavy)")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                cwd=ROOT, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "HEAVY []" in result.stdout

    def test_package_names_resolve_lazily(self):
        import qattn_hybrid

        for name in qattn_hybrid.__all__:
            assert getattr(qattn_hybrid, name).__name__ == name
        with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
            qattn_hybrid.Nope  # noqa: B018


class TestCostHelp:
    def test_help_shows_defaults_and_choices(self, capsys):
        with pytest.raises(SystemExit):
            main(["cost", "--help"])
        out = " ".join(capsys.readouterr().out.split())
        for text in ("(default: braket.aws.qubit)", "(default: 128)", "(default: 1000)",
                     "{parameter-shift,spsa,finite-diff}", "(default: parameter-shift)",
                     "{hardware_efficient,strongly_entangling,no_entanglement}",
                     "{per_task_weights,task_rotations}", "(default: the config's, else 4)",
                     "(default: USD)", "(default: 100)"):
            assert text in out, text

    def test_written_out_choices_match_the_circuit_library(self):
        from circuits.hardware.cost import HARDWARE_DIFF_METHODS
        from circuits.spec import Ansatz, CircuitSpec, Conditioning, Readout, Rotation
        from qattn_hybrid.cli import parser as cli

        for name, enum in (("ansatz", Ansatz), ("conditioning", Conditioning),
                           ("rotation", Rotation), ("readout", Readout)):
            assert cli.CIRCUIT_CHOICES[name] == tuple(m.value for m in enum)
        spec = CircuitSpec()
        for name, value in cli.CIRCUIT_DEFAULTS.items():
            got = getattr(spec, name)
            assert getattr(got, "value", got) == value, name
        assert cli.HARDWARE_DIFF_METHODS == tuple(HARDWARE_DIFF_METHODS)
