"""QuantumSelfAttention, ClassicalSelfAttention, QuantumEncoderLayer and the model hook."""

from __future__ import annotations

import math
import pickle

import pytest
import torch

from circuits import CircuitSpec, ExecutionSpec, available_devices, default_device, select
from qattn_hybrid.layers.self_attention import (
    ClassicalSelfAttention,
    QuantumEncoderLayer,
    QuantumSelfAttention,
    SelfAttentionPooling,
)

D, K = 6, 2  # d_model, tasks
DEVICES = ["default.qubit"] + [d for d in ("qattn.torch",) if d in available_devices()]


def make_layer(**kwargs) -> QuantumSelfAttention:
    torch.manual_seed(0)
    options = dict(n_qubits=2, n_layers=2, n_heads=2, qml_device="default.qubit")
    options.update(kwargs)
    return QuantumSelfAttention(D, K, **options).double()


def make_inputs(B: int = 2, T: int = 4, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, D, generator=g, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, -2:] = False  # right padding on row 1
    return x, mask


def reference(layer: QuantumSelfAttention, x, task_ids, mask):
    """Per token, per circuit and per pair, with plain loops over the layer's own QNode."""
    B, T, _ = x.shape
    H, E, spec = layer.n_heads, layer.n_features, layer.spec
    W, b = layer.to_angles.weight, layer.to_angles.bias
    feats = {}  # (b, t, c) -> (E,)
    for i in range(B):
        for t in range(T):
            if not mask[i, t]:
                continue
            angles = (math.pi * torch.tanh(W @ x[i, t] + b)).view(3 * H, spec.n_qubits)
            for c in range(3 * H):
                params = {k: v[c] for k, v in layer.circuit.items()}
                out = layer.qnode(angles[c], **select(spec, params, int(task_ids[i])))
                feats[i, t, c] = torch.stack([torch.as_tensor(o) for o in out])
    out = torch.zeros(B, T, D, dtype=x.dtype)
    weights = torch.zeros(B, H, T, T, dtype=x.dtype)
    for i in range(B):
        for t in range(T):
            if not mask[i, t]:
                continue  # padded query: zero weights, zero output
            heads = []
            for h in range(H):
                q = feats[i, t, h]
                keys = [j for j in range(T) if mask[i, j] and (not layer.causal or j <= t)]
                kernel = {}
                for j in keys:
                    k = feats[i, j, H + h]
                    if layer.score == "gaussian":
                        kernel[j] = torch.exp(-((q - k) ** 2).sum())
                    else:
                        kernel[j] = torch.exp((q * k).sum() / math.sqrt(E))
                total = sum(kernel.values())
                attended = torch.zeros(E, dtype=x.dtype)
                for j in keys:
                    weights[i, h, t, j] = kernel[j] / total
                    attended = attended + weights[i, h, t, j] * feats[i, j, 2 * H + h]
                heads.append(attended)
            out[i, t] = layer.out.weight @ torch.cat(heads) + layer.out.bias
    return out, weights


class TestReference:
    @pytest.mark.parametrize("device", DEVICES)
    @pytest.mark.parametrize("score,causal,conditioning,batching", [
        ("gaussian", False, "per_task_weights", "stacked"),
        ("gaussian", True, "task_rotations", "per_circuit"),
        ("dot", False, "task_rotations", "stacked"),
        ("dot", True, "per_task_weights", "per_circuit"),
    ])
    def test_matches_loop(self, device, score, causal, conditioning, batching):
        layer = make_layer(score=score, causal=causal, conditioning=conditioning,
                           batching=batching, qml_device=device)
        x, mask = make_inputs()
        tasks = torch.tensor([1, 0])
        got = layer(x, tasks, mask)
        with torch.no_grad():
            want_out, want_weights = reference(layer, x, tasks, mask)
        assert torch.allclose(got.weights, want_weights, atol=1e-10, rtol=0)
        assert torch.allclose(got.out, want_out, atol=1e-10, rtol=0)

    def test_single_task_int_matches_tensor(self):
        layer = make_layer(readout="z_zz")
        x, mask = make_inputs()
        a = layer(x, 1, mask)
        b = layer(x, torch.tensor([1, 1]), mask)
        assert torch.allclose(a.out, b.out, atol=1e-12)
        assert torch.allclose(a.weights, b.weights, atol=1e-12)

    def test_batchings_agree(self):
        x, mask = make_inputs()
        a = make_layer(batching="stacked")(x, torch.tensor([0, 1]), mask)
        b = make_layer(batching="per_circuit")(x, torch.tensor([0, 1]), mask)
        assert torch.allclose(a.out, b.out, atol=1e-12)

    def test_tasks_change_the_output(self):
        layer = make_layer()
        x, mask = make_inputs()
        assert not torch.allclose(layer(x, 0, mask).out, layer(x, 1, mask).out)

    @pytest.mark.skipif("qattn.torch" not in available_devices(), reason="no qattn.torch")
    def test_default_device_is_fast_path(self):
        assert default_device() == "qattn.torch"
        assert default_device(shots=100) == "default.qubit"


class TestBatching:
    @pytest.mark.parametrize("batching,calls", [("stacked", 1), ("per_circuit", 6)])
    def test_one_call_per_batch_or_per_circuit(self, batching, calls, monkeypatch):
        layer = make_layer(batching=batching)  # 2 heads: 6 circuits
        x, mask = make_inputs()
        qnode, seen = layer.qnode, []

        def counting(angles, *args, **kwargs):
            seen.append(tuple(angles.shape))
            return qnode(angles, *args, **kwargs)

        monkeypatch.setattr(type(layer), "qnode", property(lambda self: counting))
        layer(x, torch.tensor([0, 1]), mask)
        n_real = int(mask.sum())
        assert len(seen) == calls and sum(s[0] for s in seen) == 6 * n_real  # real tokens only


class TestGradients:
    def test_gradcheck_inputs(self):
        torch.manual_seed(0)
        layer = QuantumSelfAttention(3, 2, n_qubits=2, n_layers=1, qml_device="default.qubit").double()
        x = torch.randn(1, 3, 3, dtype=torch.float64, requires_grad=True)
        mask = torch.tensor([[True, True, False]])
        assert torch.autograd.gradcheck(lambda x: layer(x, 1, mask).out, (x,))

    def test_gradcheck_circuit_parameters(self):
        torch.manual_seed(0)
        layer = QuantumSelfAttention(3, 1, n_qubits=1, n_layers=1, score="dot",
                                     causal=True, qml_device="default.qubit").double()
        x = torch.randn(1, 3, 3, dtype=torch.float64)
        weights = layer.circuit["weights"].detach().clone().requires_grad_()

        def f(w):
            return torch.func.functional_call(layer, {"circuit.weights": w}, (x, 0)).out

        assert torch.autograd.gradcheck(f, (weights,))

    def test_every_parameter_gets_a_gradient(self):
        layer = make_layer(n_heads=1)
        x, mask = make_inputs()
        layer(x, torch.tensor([0, 1]), mask).out.sum().backward()
        for name, p in layer.named_parameters():
            assert p.grad is not None and bool(p.grad.abs().sum() > 0), name


class TestMasks:
    @pytest.mark.parametrize("causal", [False, True])
    def test_rows_sum_to_one_and_padding_is_zero(self, causal):
        layer = make_layer(causal=causal)
        x, mask = make_inputs()
        out, weights = layer(x, 0, mask)
        sums = weights.sum(-1)  # (B, H, T)
        assert torch.allclose(sums[0], torch.ones_like(sums[0]), atol=1e-12)
        assert torch.allclose(sums[1, :, :2], torch.ones(2, 2, dtype=sums.dtype), atol=1e-12)
        assert bool((weights[1, :, :, 2:] == 0).all())  # padded keys: exactly 0
        assert bool((weights[1, :, 2:] == 0).all())  # padded queries: zero rows ...
        assert bool((out[1, 2:] == 0).all())  # ... and zero outputs
        assert bool((weights >= 0).all())

    def test_padded_content_changes_nothing(self):
        layer = make_layer()
        x, mask = make_inputs()
        y = x.clone()
        y[1, 2:] = 100.0 * torch.randn(2, D, dtype=x.dtype)
        a, b = layer(x, 0, mask), layer(y, 0, mask)
        assert torch.equal(a.out, b.out) and torch.equal(a.weights, b.weights)

    def test_causal_weights_are_lower_triangular(self):
        layer = make_layer(causal=True)
        x, _ = make_inputs()
        weights = layer(x, 0).weights
        upper = torch.ones(4, 4, dtype=torch.bool).triu(1)
        assert bool((weights[..., upper] == 0).all())
        assert torch.allclose(weights[..., 0, 0], torch.ones(2, 2, dtype=weights.dtype))

    def test_causal_future_changes_nothing(self):
        layer = make_layer(causal=True)
        x, _ = make_inputs()
        y = x.clone()
        y[:, 2:] = torch.randn(2, 2, D, dtype=x.dtype)
        a, b = layer(x, 0), layer(y, 0)
        assert torch.allclose(a.out[:, :2], b.out[:, :2], atol=1e-12)
        assert not torch.allclose(a.out[:, 2:], b.out[:, 2:])

    def test_left_padding_with_causal_mask(self):
        layer = make_layer(causal=True)
        x, _ = make_inputs()
        mask = torch.tensor([[False, False, True, True], [True, True, True, True]])
        out, weights = layer(x, 0, mask)
        assert torch.isfinite(out).all() and torch.isfinite(weights).all()
        assert torch.allclose(weights[0, :, 2:].sum(-1), torch.ones(2, 2, dtype=x.dtype))
        assert bool((weights[0, :, :2] == 0).all())
        out.sum().backward()  # no NaN from the fully masked rows
        assert all(torch.isfinite(p.grad).all() for p in layer.parameters() if p.grad is not None)


class TestClassical:
    def test_same_interface_and_masks(self):
        torch.manual_seed(0)
        layer = ClassicalSelfAttention(D, K, n_heads=2, hidden=2, n_features=2,
                                       causal=True).double()
        x, mask = make_inputs()
        out, weights = layer(x, torch.tensor([0, 1]), mask)
        assert out.shape == x.shape and weights.shape == (2, 2, 4, 4)
        assert bool((weights[1, :, :, 2:] == 0).all()) and bool((out[1, 2:] == 0).all())
        one = layer(x, 1, mask)
        assert torch.allclose(layer(x, torch.tensor([1, 1]), mask).out, one.out, atol=1e-12)

    def test_parameter_count_is_close_to_quantum(self):
        quantum = QuantumSelfAttention(32, 3, n_qubits=4, n_layers=2, n_heads=2,
                                       qml_device="default.qubit")
        classical = ClassicalSelfAttention(32, 3, n_heads=2, hidden=4, n_features=4)
        nq = sum(p.numel() for p in quantum.parameters())
        nc = sum(p.numel() for p in classical.parameters())
        assert abs(nc - nq) / nq < 0.15


class TestEncoderLayer:
    def test_post_norm_composition(self):
        torch.manual_seed(0)
        enc = QuantumEncoderLayer(D, K, dim_feedforward=8, dropout=0.0, n_qubits=2, n_layers=1,
                                  n_heads=2, qml_device="default.qubit").double()
        x, mask = make_inputs()
        out, weights = enc(x, 1, mask)
        attn = enc.self_attn(x, 1, mask)
        h = enc.norm1(x + attn.out)
        want = enc.norm2(h + enc.feed_forward(h)) * mask[..., None]
        assert torch.allclose(out, want, atol=1e-12) and torch.equal(weights, attn.weights)
        assert bool((out[1, 2:] == 0).all())

    def test_pre_norm_and_gradients(self):
        torch.manual_seed(0)
        enc = QuantumEncoderLayer(D, K, dim_feedforward=8, norm_first=True, activation="gelu",
                                  n_qubits=2, n_layers=1, qml_device="default.qubit").double()
        x, mask = make_inputs()
        x.requires_grad_()
        enc(x, 0, mask).out.sum().backward()
        assert x.grad is not None and bool((x.grad[1, 2:] == 0).all())

    def test_stacks_like_an_encoder(self):
        torch.manual_seed(0)
        layers = torch.nn.ModuleList(QuantumEncoderLayer(D, K, dim_feedforward=8, n_qubits=2,
                                                         n_layers=1, qml_device="default.qubit")
                                     for _ in range(2)).double()
        x, mask = make_inputs()
        for layer in layers:
            x = layer(x, 0, mask).out
        assert x.shape == (2, 4, D) and torch.isfinite(x).all()

    def test_pickles(self):
        enc = QuantumEncoderLayer(D, K, dim_feedforward=8, n_qubits=2, n_layers=1,
                                  qml_device="default.qubit").double().eval()
        x, mask = make_inputs()
        clone = pickle.loads(pickle.dumps(enc))
        assert torch.equal(clone(x, 0, mask).out, enc(x, 0, mask).out)


class TestModelHook:
    def test_pooling_summary(self):
        pool = SelfAttentionPooling(make_layer())
        x, mask = make_inputs()
        pooled, weights = pool(x, 0, mask)
        out = pool.layer(x, 0, mask).out
        assert torch.allclose(pooled[1], out[1, :2].mean(0), atol=1e-12)
        assert torch.allclose(weights.sum(-1), torch.ones(2, 2, dtype=x.dtype), atol=1e-12)
        assert bool((weights[1, :, 2:] == 0).all())

    def test_multitask_model_round_trip(self, make_encoder, tmp_path):
        from qattn_hybrid.config.sections import ModelConfig
        from qattn_hybrid.modeling.model import MultiTaskModel
        from qattn_hybrid.tasks.kinds import ClassificationTask

        torch.manual_seed(0)
        config = ModelConfig(encoder="tiny", attention="quantum_self", max_length=16,
                             circuit={"n_qubits": 2, "n_layers": 1})
        tasks = [ClassificationTask("intent", ("card", "travel")),
                 ClassificationTask("mood", ("bad", "good"))]
        model = MultiTaskModel(config, tasks, make_encoder()).eval()
        texts = ["what is my card balance", "book a flight please"]
        out = model(texts, "mood")
        assert out.logits.shape == (2, 2) and out.weights.shape == (2, 1, out.mask.shape[1])
        model.save_pretrained(tmp_path / "m")
        loaded = MultiTaskModel.from_pretrained(tmp_path / "m")
        torch.testing.assert_close(loaded(texts, "mood").logits, out.logits)


class TestInputs:
    @pytest.mark.parametrize("kwargs,error,match", [
        ({"score": "cosine"}, ValueError, "score must be one of 'gaussian', 'dot'; got 'cosine'"),
        ({"batching": "loop"}, ValueError, "batching must be one of 'stacked', 'per_circuit'"),
        ({"n_heads": 0}, ValueError, "n_heads must be a positive int; got 0"),
        ({"causal": 1}, TypeError, "causal must be a bool; got int"),
        ({"n_qubits": 0}, ValueError, "n_qubits must be between 1 and 20; got 0"),
        ({"ansatz": "mera"}, ValueError, "ansatz must be one of"),
        ({"qml_device": "lightning.gpx"}, ValueError, "Unknown device 'lightning.gpx'. Available:"),
        ({"shots": 0}, ValueError, "shots must be None"),
    ])
    def test_bad_construction(self, kwargs, error, match):
        options = dict(n_qubits=2, n_layers=1, qml_device="default.qubit")
        options.update(kwargs)
        with pytest.raises(error, match=match):
            QuantumSelfAttention(D, K, **options)

    @pytest.mark.parametrize("d_model,n_tasks,match", [
        (0, 2, "d_model must be a positive int; got 0"),
        (4, 0, "n_tasks must be"),
        (4.0, 2, "d_model must be a positive int; got 4.0"),
    ])
    def test_bad_sizes(self, d_model, n_tasks, match):
        with pytest.raises(ValueError, match=match):
            QuantumSelfAttention(d_model, n_tasks, n_qubits=2, qml_device="default.qubit")

    @pytest.mark.parametrize("kwargs,match", [
        ({"dropout": 1.0}, r"dropout must be a float in \[0, 1\); got 1.0"),
        ({"activation": "tanh"}, "activation must be one of 'relu', 'gelu'; got 'tanh'"),
        ({"dim_feedforward": 0}, "dim_feedforward must be a positive int; got 0"),
    ])
    def test_bad_encoder_layer(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            QuantumEncoderLayer(D, K, n_qubits=2, qml_device="default.qubit", **kwargs)

    @pytest.mark.parametrize("hidden,n_features,match", [
        (0, 4, "hidden must be a positive int; got 0"),
        (4, -1, "n_features must be a positive int; got -1"),
    ])
    def test_bad_classical(self, hidden, n_features, match):
        with pytest.raises(ValueError, match=match):
            ClassicalSelfAttention(D, K, hidden=hidden, n_features=n_features)

    @pytest.mark.parametrize("make,error,match", [
        (lambda x, m: (x.long(), 0, None), TypeError, "x must be a floating-point torch.Tensor"),
        (lambda x, m: (x[0], 0, None), ValueError, r"x must be 3-D \(B, T, D\); got shape \(4, 6\)"),
        (lambda x, m: (x[..., :3], 0, None), ValueError, "x's last dimension must be d_model=6; got 3"),
        (lambda x, m: (x[:, :0], 0, None), ValueError, "x must have at least one row and one token"),
        (lambda x, m: (x * float("nan"), 0, None), ValueError, "x must contain only finite values"),
        (lambda x, m: (x, 2, None), ValueError, r"task_id must be in \[0, 2\); got 2"),
        (lambda x, m: (x, torch.tensor([0, 5]), None), ValueError,
         r"task_id must be in \[0, 2\); got \[5\]"),
        (lambda x, m: (x, torch.tensor([0]), None), ValueError, r"task_id must have shape \(2,\)"),
        (lambda x, m: (x, 0.5, None), TypeError, "task_id must be an int or an integer LongTensor"),
        (lambda x, m: (x, 0, m.long()), TypeError, r"mask must be a bool tensor \(B, T\)"),
        (lambda x, m: (x, 0, m[:, :2]), ValueError, r"mask must have shape \(2, 4\)"),
        (lambda x, m: (x, 0, m & torch.tensor([[True], [False]])), ValueError,
         r"every row of mask must keep at least one token; rows \[1\]"),
    ])
    def test_bad_forward(self, make, error, match):
        layer = make_layer()
        x, mask = make_inputs()
        with pytest.raises(error, match=match):
            layer(*make(x, mask))
        with pytest.raises(error, match=match):  # the encoder layer checks the same way
            QuantumEncoderLayer(D, K, n_qubits=2, n_layers=1, qml_device="default.qubit").double()(
                *make(x, mask))


class TestSpec:
    """The layers take the circuit as one CircuitSpec (and ExecutionSpec), as the model
    passes it, or as flat keywords; never both."""

    def test_spec_and_keywords_give_the_same_layer(self):
        x, mask = make_inputs()
        tasks = torch.tensor([1, 0])
        flat = make_layer(readout="z_zz", conditioning="task_rotations")
        spec = CircuitSpec(n_qubits=2, n_layers=2, n_tasks=K, readout="z_zz",
                           conditioning="task_rotations")
        torch.manual_seed(0)
        keyed = QuantumSelfAttention(D, spec=spec, n_heads=2,
                                     execution=ExecutionSpec("default.qubit")).double()
        assert keyed.spec == flat.spec == spec and keyed.execution == flat.execution
        got, expected = keyed(x, tasks, mask), flat(x, tasks, mask)
        assert torch.equal(got.out, expected.out) and torch.equal(got.weights, expected.weights)
        # both equal the per-token loop over a default.qubit QNode
        ref_out, _ = reference(keyed, x, tasks, mask)
        assert torch.allclose(got.out, ref_out, atol=1e-10, rtol=0)

    def test_encoder_layer_passes_the_records(self):
        spec = CircuitSpec(n_qubits=2, n_layers=1, n_tasks=3)
        execution = ExecutionSpec("default.qubit", shots=30, device_options={"seed": 1})
        layer = QuantumEncoderLayer(D, spec=spec, execution=execution, n_heads=2)
        assert layer.self_attn.spec == spec and layer.self_attn.execution == execution
        assert layer.self_attn.qml_device == "default.qubit" and layer.self_attn.shots == 30

    @pytest.mark.parametrize("kwargs, match", [
        (dict(spec=CircuitSpec(n_tasks=K), n_layers=1), r"got spec= and n_layers"),
        (dict(execution=ExecutionSpec(), shots=5), r"got execution= and shots"),
        (dict(spec=CircuitSpec(n_tasks=5)), r"n_tasks must equal spec.n_tasks=5"),
    ])
    def test_record_and_its_keywords_is_an_error(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            QuantumSelfAttention(D, K, **kwargs)

    def test_classical_control_matches_a_spec(self):
        spec = CircuitSpec(n_qubits=3, n_tasks=K, readout="z_zz")
        layer = ClassicalSelfAttention(D, spec=spec, n_heads=2)
        assert (layer.n_tasks, layer.hidden, layer.n_features) == (K, 3, spec.n_outputs)
        quantum = QuantumSelfAttention(D, spec=spec, n_heads=2, qml_device="default.qubit")
        assert layer.n_features == quantum.n_features == 5  # 3 ⟨Z⟩ + 2 ⟨ZZ⟩
        with pytest.raises(ValueError, match=r"spec= must be given alone, not with hidden or "
                                             r"n_features"):
            ClassicalSelfAttention(D, spec=spec, hidden=4)
