"""Folded layers against the unfolded ones on default.qubit: fresh random weights each run."""

import math
import secrets

import pytest
import torch

from qattn_hybrid import QuantumAttention
from qattn_hybrid.layers.folding import fold_module
from qattn_hybrid.layers.quantum import FoldedAttention
from qattn_hybrid.layers.self_attention import QuantumEncoderLayer, QuantumSelfAttention


def randomise(module: torch.nn.Module) -> int:
    """Fresh weights everywhere (circuit angles anywhere on the circle); returns the seed."""
    seed = secrets.randbits(32)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_((torch.rand(p.shape, generator=g, dtype=p.dtype) - 0.5) * 2 * math.pi
                    if "circuit" in name else
                    torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
    return seed


def inputs(dtype=torch.float64, d=6):
    g = torch.Generator().manual_seed(secrets.randbits(32))
    x = torch.randn(3, 5, d, generator=g, dtype=dtype)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    return x, mask


class TestQuantumAttention:
    @pytest.mark.parametrize("ansatz", ["hardware_efficient", "strongly_entangling",
                                        "no_entanglement"])
    @pytest.mark.parametrize("conditioning", ["per_task_weights", "task_rotations"])
    @pytest.mark.parametrize("readout", ["z", "z_zz"])
    def test_float64_parity(self, ansatz, conditioning, readout):
        layer = QuantumAttention(6, n_tasks=2, n_qubits=3, n_layers=2, n_heads=2, ansatz=ansatz,
                                 conditioning=conditioning, readout=readout,
                                 qml_device="default.qubit").double()
        seed = randomise(layer)
        folded = layer.fold()
        assert isinstance(folded, FoldedAttention)
        x, mask = inputs()
        for task in (1, torch.tensor([0, 1, 1])):  # one task, and rows of different tasks
            ref, out = layer(x, task, mask), folded(x, task, mask)
            assert torch.allclose(out.weights, ref.weights, atol=1e-10, rtol=0), f"seed {seed}"
            assert torch.allclose(out.pooled, ref.pooled, atol=1e-10, rtol=0), f"seed {seed}"
            z_ref = layer.expectation_values(x, task, mask)
            assert torch.allclose(folded.expectation_values(x, task, mask), z_ref, atol=1e-10)

    @pytest.mark.parametrize("rotation", ["X", "Z"])
    def test_rotations_and_no_mask(self, rotation):
        layer = QuantumAttention(6, n_tasks=1, n_qubits=2, rotation=rotation,
                                 qml_device="default.qubit").double()
        seed = randomise(layer)
        x, _ = inputs()
        ref, out = layer(x, 0), layer.fold()(x, 0)
        assert torch.allclose(out.pooled, ref.pooled, atol=1e-10, rtol=0), f"seed {seed}"

    def test_float32_parity(self):
        layer = QuantumAttention(6, n_tasks=2, n_qubits=4, n_heads=2, readout="z_zz",
                                 qml_device="default.qubit")
        seed = randomise(layer)
        folded = layer.fold()
        assert folded.coefficients.dtype == torch.float32
        x, mask = inputs(torch.float32)
        ref, out = layer(x, 1, mask), folded(x, 1, mask)
        assert out.pooled.dtype == torch.float32
        assert torch.allclose(out.weights, ref.weights, atol=1e-5, rtol=0), f"seed {seed}"
        assert torch.allclose(out.pooled, ref.pooled, atol=1e-5, rtol=0), f"seed {seed}"

    def test_same_input_checks(self):
        folded = QuantumAttention(6, n_tasks=2, n_qubits=2).fold()
        with pytest.raises(ValueError, match=r"task_id must be in \[0, 2\); got 5"):
            folded(torch.randn(1, 3, 6), 5)
        with pytest.raises(ValueError, match="x's last dimension must be d_model=6"):
            folded(torch.randn(1, 3, 4), 0)

    def test_no_pennylane_at_inference(self, monkeypatch):
        folded = QuantumAttention(6, n_tasks=1, n_qubits=2).fold()
        import circuits.build

        monkeypatch.setattr(circuits.build, "build_qnode", None)  # any QNode use would fail
        out = folded(torch.randn(2, 3, 6), 0)
        assert out.weights.shape == (2, 1, 3)
        assert not any("qnode" in name.lower() for name, _ in folded.named_buffers())

    def test_refusals(self):
        layer = QuantumAttention(6, n_tasks=1, n_qubits=2, reupload=True)
        with pytest.raises(ValueError, match="reupload must be False to fold"):
            layer.fold()
        layer = QuantumAttention(6, n_tasks=1, n_qubits=2, shots=50)
        with pytest.raises(ValueError, match="shots must be None to fold"):
            layer.fold()
        with pytest.raises(ValueError, match="must contain a QuantumAttention"):
            fold_module(torch.nn.Linear(2, 2))


class TestSelfAttention:
    @pytest.mark.parametrize("score,causal", [("gaussian", False), ("dot", True)])
    def test_float64_parity(self, score, causal):
        layer = QuantumSelfAttention(6, n_tasks=2, n_qubits=2, n_heads=2, score=score,
                                     causal=causal, readout="z_zz",
                                     qml_device="default.qubit").double()
        seed = randomise(layer)
        folded = layer.fold()
        x, mask = inputs()
        for task in (0, torch.tensor([1, 0, 1])):
            ref, out = layer(x, task, mask), folded(x, task, mask)
            assert torch.allclose(out.out, ref.out, atol=1e-10, rtol=0), f"seed {seed}"
            assert torch.allclose(out.weights, ref.weights, atol=1e-10, rtol=0), f"seed {seed}"

    def test_encoder_layer(self):
        layer = QuantumEncoderLayer(6, n_tasks=2, dim_feedforward=8, n_qubits=2,
                                    qml_device="default.qubit").double().eval()
        seed = randomise(layer)
        folded = layer.fold()
        assert not folded.training
        assert layer.self_attn in layer.modules()  # the original is untouched
        x, mask = inputs()
        ref, out = layer(x, 1, mask), folded(x, 1, mask)
        assert torch.allclose(out.out, ref.out, atol=1e-10, rtol=0), f"seed {seed}"


class TestMultiTaskModel:
    @pytest.mark.parametrize("attention", ["quantum", "quantum_self"])
    def test_fold_keeps_predictions(self, make_encoder, attention):
        from qattn_hybrid.config.sections import ModelConfig
        from qattn_hybrid.modeling.model import MultiTaskModel
        from qattn_hybrid.tasks.kinds import ClassificationTask, RegressionTask

        tasks = [ClassificationTask("intent", ("card", "payment", "travel")),
                 RegressionTask("score")]
        config = ModelConfig(encoder="tiny", attention=attention, max_length=16,
                             circuit={"n_qubits": 3, "n_layers": 2, "readout": "z_zz"},
                             execution={"qml_device": "default.qubit"})
        model = MultiTaskModel(config, tasks, make_encoder()).eval()
        seed = randomise(model.attention)
        folded = model.fold()
        assert folded.encoder is model.encoder  # shared, not copied
        assert folded.attention is not model.attention
        assert type(model.attention).__name__ != "FoldedAttention"
        texts = ["what is my card balance", "book a flight please", "shares rise"]
        for task in ("intent", "score"):
            ref, out = model(texts, task), folded(texts, task)
            assert torch.allclose(out.logits, ref.logits, atol=1e-5, rtol=0), f"seed {seed}"
            assert torch.allclose(out.weights, ref.weights, atol=1e-5, rtol=0), f"seed {seed}"
        assert folded.predict(texts, "intent") == model.predict(texts, "intent")


class TestTrainingThroughFold:
    """exact_path="fold": the layer folds every forward (coefficients with autograd)."""

    @pytest.mark.parametrize("ansatz", ["hardware_efficient", "strongly_entangling"])
    @pytest.mark.parametrize("conditioning", ["per_task_weights", "task_rotations"])
    @pytest.mark.parametrize("readout", ["z", "z_zz"])
    def test_outputs_and_gradients_match_default_qubit(self, ansatz, conditioning, readout):
        options = dict(d_model=6, n_tasks=3, n_qubits=3, n_layers=2, n_heads=2, ansatz=ansatz,
                       conditioning=conditioning, readout=readout)
        reference = QuantumAttention(qml_device="default.qubit", **options).double()
        seed = randomise(reference)
        folded = QuantumAttention(exact_path="fold", **options).double()
        folded.load_state_dict(reference.state_dict())
        assert folded.exact_path == "fold"
        x, mask = inputs()
        tasks = torch.tensor([2, 0, 2])
        outputs = []
        for layer in (reference, folded):
            out = layer(x, tasks, mask)
            ((out.pooled ** 2).sum() + (out.weights * torch.arange(5.0)).sum()).backward()
            outputs.append((out, {n: p.grad for n, p in layer.named_parameters()}))
        (ref, ref_grads), (out, grads) = outputs
        assert torch.allclose(out.pooled, ref.pooled, atol=1e-10, rtol=0), f"seed {seed}"
        assert torch.allclose(out.weights, ref.weights, atol=1e-10, rtol=0), f"seed {seed}"
        for name, grad in ref_grads.items():
            assert torch.allclose(grads[name], grad, atol=1e-10, rtol=0), f"{name}, seed {seed}"

    @pytest.mark.parametrize("tasks", [[2, 0, 2], [1, 1, 1]], ids=["mixed", "one-task"])
    def test_auto_matches_default_qubit_on_mixed_and_single_task_batches(self, tasks):
        options = dict(d_model=6, n_tasks=3, n_qubits=3, n_layers=2, n_heads=2)
        reference = QuantumAttention(qml_device="default.qubit", **options).double()
        seed = randomise(reference)
        auto = QuantumAttention(**options).double()  # "mixed": folds the first batch only
        auto.load_state_dict(reference.state_dict())
        x, mask = inputs()
        ref, out = (layer(x, torch.tensor(tasks), mask) for layer in (reference, auto))
        assert torch.allclose(out.pooled, ref.pooled, atol=1e-10, rtol=0), f"seed {seed}"
        assert torch.allclose(out.weights, ref.weights, atol=1e-10, rtol=0), f"seed {seed}"

    def test_auto_folds_only_where_it_measured_faster(self):
        from circuits.fold import FOLD_TRAINING_MAX_QUBITS

        small, large = FOLD_TRAINING_MAX_QUBITS, FOLD_TRAINING_MAX_QUBITS + 1
        assert QuantumAttention(6, n_tasks=2, n_qubits=small).exact_path == "mixed"
        assert QuantumAttention(6, n_tasks=2, n_qubits=large).exact_path == "circuit"
        named = QuantumAttention(6, n_tasks=2, n_qubits=small, qml_device="qattn.torch")
        assert named.exact_path == "circuit"  # a named device is simulated
        assert QuantumAttention(6, n_tasks=2, n_qubits=2, shots=10).exact_path == "circuit"
        assert QuantumAttention(6, n_tasks=2, n_qubits=2, reupload=True).exact_path == "circuit"

    def test_choices_are_checked(self):
        with pytest.raises(ValueError, match="exact_path must be one of 'auto', 'fold', "
                                             "'circuit'; got 'fast'"):
            QuantumAttention(6, n_tasks=1, n_qubits=2, exact_path="fast")
        with pytest.raises(ValueError, match="reupload must be False to fold"):
            QuantumAttention(6, n_tasks=1, n_qubits=2, reupload=True, exact_path="fold")
