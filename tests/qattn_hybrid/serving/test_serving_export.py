"""qattn export: ONNX and torch.export artefacts reproduce the library (circuit path)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from qattn_hybrid.cli.parser import main
from qattn_hybrid.serving.export import check_texts, export_model
from qattn_hybrid.serving.predictor import ModelPredictor

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

TEXTS = ["what is my card balance please", "book a flight", "shares rise today good " * 4]


@pytest.fixture(scope="module", params=["onnx", "torch"])
def exported(request, model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / request.param
    assert main(["export", str(model_dir), "--format", request.param, "-o", str(out),
                 "-q"]) == 0
    return out


@pytest.mark.slow
class TestExport:
    def test_manifest_and_files(self, exported):
        manifest = json.loads((exported / "qattn_export.json").read_text())
        assert [t["name"] for t in manifest["tasks"]] == ["intent", "sentiment", "score"]
        assert manifest["tasks"][0]["labels"] == ["card", "payment", "travel"]
        assert manifest["parity"]["labels_identical"] is True
        assert manifest["parity"]["max_abs_diff"] <= 1e-5
        assert manifest["parity"]["texts"] == 9 * 2 + 6  # two test splits, samples for "score"
        assert (exported / "tokenizer").is_dir() and (exported / "qattn_runtime.py").is_file()

    def test_reproduces_library_predictions(self, exported, loaded_model):
        sys.path.insert(0, str(exported))
        try:
            from qattn_hybrid.serving.runtime import ExportedModel
        finally:
            sys.path.pop(0)
        library = ModelPredictor(loaded_model)  # circuit path, not folded
        ref, out = library.predict(TEXTS), ExportedModel(exported).predict(TEXTS)
        for r, o in zip(ref, out):
            assert r["tokens"] == o["tokens"] and r["truncated"] == o["truncated"]
            for task in ("intent", "sentiment"):
                assert r["tasks"][task]["label"] == o["tasks"][task]["label"]
                a = np.array(list(r["tasks"][task]["probabilities"].values()))
                b = np.array(list(o["tasks"][task]["probabilities"].values()))
                assert np.abs(a - b).max() <= 1e-5
                assert np.allclose(r["tasks"][task]["attention"], o["tasks"][task]["attention"],
                                   atol=1e-5, rtol=0)
            assert abs(r["tasks"]["score"]["prediction"] - o["tasks"]["score"]["prediction"]) \
                <= 1e-5
        assert out[2]["truncated"] and not out[1]["truncated"]

    def test_labels_match_model_predict(self, exported, loaded_model):
        texts, _ = check_texts(loaded_model)["intent"]
        from qattn_hybrid.serving.runtime import ExportedModel

        out = ExportedModel(exported).predict(texts, ["intent"])
        # model.predict: the library's own path (frozen features from its cache, float16)
        assert [o["tasks"]["intent"]["label"] for o in out] == loaded_model.predict(texts, "intent")

    def test_runs_without_pennylane(self, exported):
        code = ("import sys; sys.modules['pennylane'] = None; sys.modules['qattn_hybrid'] = None;"
                "sys.modules['circuits'] = None; sys.path.insert(0, sys.argv[1]);"
                "import qattn_runtime; sys.exit(qattn_runtime.main(sys.argv[1:]))")
        result = subprocess.run([sys.executable, "-c", code, str(exported), "book a flight"],
                                capture_output=True, text=True, timeout=300,
                                cwd=str(exported))
        assert result.returncode == 0, result.stderr
        row = json.loads(result.stdout)
        assert row["text"] == "book a flight" and row["intent"] in ("card", "payment", "travel")
        assert isinstance(row["score"], float)


@pytest.mark.slow
def test_int8_quantization_is_measured(model_dir, tmp_path, capsys):
    assert main(["export", str(model_dir), "--format", "onnx", "--quantize", "int8",
                 "-o", str(tmp_path / "q")]) == 0
    printed = capsys.readouterr().out
    assert "int8 intent: accuracy" in printed and "int8 score: max prediction change" in printed
    q = json.loads((tmp_path / "q" / "qattn_export.json").read_text())["quantization"]
    assert set(q["tasks"]) == {"intent", "sentiment", "score"}
    assert 0 <= q["tasks"]["intent"]["accuracy_int8"] <= 1


class TestErrors:
    def test_quantize_needs_onnx(self, model_dir, tmp_path):
        with pytest.raises(ValueError, match="format must be 'onnx' with --quantize int8"):
            export_model(model_dir, tmp_path / "x", "torch", "int8")

    def test_unknown_format(self, model_dir, tmp_path):
        with pytest.raises(ValueError, match="format must be one of 'onnx', 'torch'; got 'tf'"):
            export_model(model_dir, tmp_path / "x", "tf")

    def test_missing_run_dir(self, tmp_path, capsys):
        assert main(["export", str(tmp_path / "nope")]) == 2
        assert "does not exist" in capsys.readouterr().err
