import copy
import math

import pennylane as qml
import pytest
import torch
from torch.func import functional_call

from circuits import CircuitSpec, ExecutionSpec, build_qnode, expectations, select
from qattn_hybrid import AttentionOutput, QuantumAttention

DT = torch.float64


def make_layer(**kwargs):
    """A layer as after training: random score readout and value map (both start as mean
    pooling, see end_to_end/test_starts_as_mean_pooling.py), so scores differ by token and
    task."""
    torch.manual_seed(0)
    options = dict(d_model=6, n_tasks=3, n_qubits=3, n_layers=2, n_heads=2, value="linear")
    options.update(kwargs)
    layer = QuantumAttention(**options).double()
    with torch.no_grad():
        for p in (layer.readout.weight, *layer.value.parameters()):
            p.uniform_(-1.0, 1.0)
    return layer


class TestParity:
    @pytest.mark.parametrize("device", ["default.qubit", None])  # None: the fast path
    @pytest.mark.parametrize("conditioning", ["per_task_weights", "task_rotations"])
    @pytest.mark.parametrize("readout", ["z", "z_zz"])
    def test_scores_equal_per_token_loop(self, batch, device, conditioning, readout):
        layer = make_layer(conditioning=conditioning, readout=readout, qml_device=device)
        x, mask = batch
        tasks = torch.tensor([2, 0])
        scores = layer.scores(x, tasks, mask)
        params = dict(layer.circuit.items())
        reference = build_qnode(layer.spec, device="default.qubit")
        for b in range(2):
            for t in range(4):
                if not mask[b, t]:
                    assert scores[b, :, t].eq(float("-inf")).all()
                    continue
                angle = math.pi * torch.tanh(x[b, t] @ layer.to_angles.weight.T + layer.to_angles.bias)
                z = expectations(reference, angle[None], select(layer.spec, params, int(tasks[b])))
                expected = z[0] @ layer.readout.weight.T
                assert torch.allclose(scores[b, :, t], expected, atol=1e-10, rtol=0)

    def test_pooled_is_weighted_sum_of_head_values(self, batch):
        layer = make_layer()
        x, mask = batch
        out = layer(x, 1, mask)
        values = layer.value(x)  # (B, T, D); head h owns columns h*3:(h+1)*3
        for h in range(2):
            expected = torch.einsum("bt,btd->bd", out.weights[:, h], values[..., h * 3:(h + 1) * 3])
            assert torch.allclose(out.pooled[:, h * 3:(h + 1) * 3], expected, atol=1e-12)


class TestCircuits:
    """n_circuits = G: circuit g of task k reads angles g·Q:(g+1)·Q with conditioning set
    k·G + g; the readout weighs all G·n_out expectation values."""

    @staticmethod
    def reference_scores(layer, x, tasks, b, t):
        reference = build_qnode(layer.spec, device="default.qubit")
        params, Q, G = dict(layer.circuit.items()), layer.spec.n_qubits, layer.n_circuits
        angles = math.pi * torch.tanh(x[b, t] @ layer.to_angles.weight.T + layer.to_angles.bias)
        z = torch.cat([expectations(reference, angles[None, g * Q:(g + 1) * Q],
                                    select(layer.spec, params, tasks[b] * G + g))[0]
                       for g in range(G)])  # (G·n_out,)
        return z @ layer.readout.weight.T  # (H,)

    @pytest.mark.parametrize("device, exact_path", [("default.qubit", "auto"), (None, "circuit"),
                                                    (None, "fold")])
    @pytest.mark.parametrize("conditioning", ["per_task_weights", "task_rotations"])
    def test_scores_equal_per_token_loop(self, batch, device, exact_path, conditioning):
        layer = make_layer(n_circuits=3, qml_device=device, exact_path=exact_path,
                           conditioning=conditioning)
        assert layer.to_angles.out_features == 9 and layer.readout.in_features == 9
        assert layer.spec.n_tasks == 9 and layer.n_tasks == 3  # 3 tasks x 3 circuits
        x, mask = batch
        for tasks in ([2, 2], [2, 0]):
            task_id = 2 if tasks == [2, 2] else torch.tensor(tasks)
            scores = layer.scores(x, task_id, mask)
            for b in range(2):
                for t in range(4):
                    if mask[b, t]:
                        expected = self.reference_scores(layer, x, tasks, b, t)
                        assert torch.allclose(scores[b, :, t], expected, atol=1e-10, rtol=0)

    def test_folded_equals_circuit(self, batch):
        layer = make_layer(n_circuits=2, qml_device="default.qubit")
        x, mask = batch
        folded = layer.fold()
        for task_id in (1, torch.tensor([2, 0])):
            expected = layer(x, task_id, mask)
            out = folded(x, task_id, mask)
            assert torch.allclose(out.weights, expected.weights, atol=1e-10, rtol=0)
            assert torch.allclose(out.pooled, expected.pooled, atol=1e-10, rtol=0)

    def test_circuits_differ(self, batch):
        layer = make_layer(n_circuits=2)
        x, mask = batch
        z = layer.expectation_values(x, 1, mask)  # (B, T, 2·n_out)
        n_out = layer.spec.n_outputs
        assert not torch.allclose(z[mask][:, :n_out], z[mask][:, n_out:], atol=1e-3)

    @pytest.mark.parametrize("bad", [0, -1, 1.5, True])
    def test_bad_n_circuits(self, bad):
        with pytest.raises(ValueError, match=rf"n_circuits must be a positive int; got {bad!r}"):
            make_layer(n_circuits=bad)


class TestGradients:
    def test_gradcheck_inputs_and_circuit_weights(self):
        layer = make_layer(d_model=4, n_qubits=2, n_layers=1, n_heads=1)
        x = torch.randn(2, 3, 4, dtype=DT, requires_grad=True)
        w = layer.circuit["weights"].detach().clone().requires_grad_()
        mask = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)

        def f(x, w):
            out = functional_call(layer, {"circuit.weights": w}, (x, torch.tensor([0, 2]), mask))
            return out.pooled, out.weights

        assert torch.autograd.gradcheck(f, (x, w), atol=1e-6)

    def test_gradcheck_task_rotations(self):
        layer = make_layer(d_model=4, n_qubits=2, n_layers=1, n_heads=1,
                           conditioning="task_rotations")
        x = torch.randn(1, 3, 4, dtype=DT, requires_grad=True)
        t = layer.circuit["task_angles"].detach().clone().requires_grad_()

        def f(x, t):
            return functional_call(layer, {"circuit.task_angles": t}, (x, 1)).pooled

        assert torch.autograd.gradcheck(f, (x, t), atol=1e-6)


class TestMasks:
    def test_masked_weights_zero_and_rows_sum_to_one(self, batch):
        x, mask = batch
        out = make_layer()(x, 0, mask)
        assert isinstance(out, AttentionOutput)
        assert out.weights.shape == (2, 2, 4) and out.pooled.shape == (2, 6)
        assert (out.weights[0, :, 3] == 0).all()
        assert (out.weights >= 0).all()
        assert torch.allclose(out.weights.sum(-1), torch.ones(2, 2, dtype=DT), atol=1e-12)

    def test_masked_content_changes_nothing(self, batch):
        layer = make_layer()
        x, mask = batch
        y = x.clone()
        y[0, 3] = 1e3
        a, b = layer(x, 1, mask), layer(y, 1, mask)
        assert torch.equal(a.weights, b.weights) and torch.equal(a.pooled, b.pooled)


class TestTasks:
    def test_tasks_differ(self, batch):
        layer = make_layer()
        x, _ = batch
        w0, w1 = layer(x, 0).weights, layer(x, 1).weights
        assert (w0 - w1).abs().max() > 1e-3

    @pytest.mark.parametrize("conditioning", ["per_task_weights", "task_rotations"])
    def test_per_row_tasks_equal_separate_calls(self, batch, conditioning):
        layer = make_layer(conditioning=conditioning)
        x, mask = batch
        both = layer(x, torch.tensor([2, 1]), mask)
        for row, task in ((0, 2), (1, 1)):
            alone = layer(x[row:row + 1], task, mask[row:row + 1])
            assert torch.allclose(both.pooled[row], alone.pooled[0], atol=1e-12)
            assert torch.allclose(both.weights[row], alone.weights[0], atol=1e-12)


class TestExecution:
    def test_default_is_the_fast_exact_path(self):
        assert make_layer().qml_device == "qattn.torch"
        assert make_layer(shots=100).qml_device == "default.qubit"

    @pytest.mark.parametrize("device", ["default.qubit", "qattn.torch"])
    def test_one_device_batch_per_forward(self, batch, device):
        layer = make_layer(qml_device=device)
        x, mask = batch
        with qml.Tracker(layer.qnode.device) as tracker:
            layer(x, torch.tensor([0, 2]), mask)
        assert tracker.totals["batches"] == 1
        assert tracker.totals["simulations"] == 1  # one broadcast tape for all tokens
        assert tracker.totals["executions"] == 7  # one per real token of the broadcast

    def test_lightning_matches_default_qubit(self, batch):
        pytest.importorskip("pennylane_lightning")
        x, mask = batch
        reference = make_layer(qml_device="default.qubit")(x, torch.tensor([0, 2]), mask)
        layer = make_layer(qml_device="lightning.qubit")  # same seed, same parameters
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)  # lightning answers in torch's default dtype
        try:
            out = layer(x, torch.tensor([0, 2]), mask)
        finally:
            torch.set_default_dtype(previous)
        assert torch.allclose(out.weights, reference.weights, atol=1e-8, rtol=0)
        assert torch.allclose(out.pooled, reference.pooled, atol=1e-8, rtol=0)


class TestState:
    def test_state_dict_round_trip(self, batch):
        x, mask = batch
        a = make_layer()
        torch.manual_seed(5)
        b = QuantumAttention(6, 3, n_qubits=3, n_layers=2, n_heads=2, value="linear").double()
        assert "circuit.weights" in a.state_dict()
        b.load_state_dict(a.state_dict())
        assert torch.equal(a(x, 2, mask).pooled, b(x, 2, mask).pooled)

    def test_deepcopy(self, batch):
        x, mask = batch
        a = make_layer()
        assert torch.equal(a(x, 1, mask).weights, copy.deepcopy(a)(x, 1, mask).weights)

    def test_float32_follows_input_dtype(self, batch):
        x, mask = batch
        layer = make_layer().float()
        out = layer(x.float(), 0, mask)
        assert out.pooled.dtype == torch.float32 and out.weights.dtype == torch.float32
        ref = make_layer()(x, 0, mask)
        assert torch.allclose(out.weights.double(), ref.weights, atol=1e-5)

    def test_circuit_parameters_are_trainable(self):
        names = {n for n, p in make_layer().named_parameters() if p.requires_grad}
        assert {"circuit.weights", "to_angles.weight", "readout.weight", "value.weight"} <= names


class TestInputs:
    @pytest.fixture
    def layer(self):
        return make_layer()

    def test_x_not_3d(self, layer):
        with pytest.raises(ValueError, match=r"x must be 3-D \(B, T, D\); got shape \(4, 6\)"):
            layer(torch.zeros(4, 6, dtype=DT), 0)

    def test_x_not_tensor(self, layer):
        with pytest.raises(TypeError, match=r"x must be a floating-point torch.Tensor .*; got list"):
            layer([[0.0]], 0)

    def test_x_integer(self, layer):
        with pytest.raises(TypeError, match=r"x must be a floating-point.*got tensor of dtype torch.int64"):
            layer(torch.zeros(1, 2, 6, dtype=torch.long), 0)

    @pytest.mark.parametrize("kind", ["quantum", "classical", "quantum_self",
                                      "classical_self", "encoder_layer"])
    @pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
    def test_dtype_other_than_the_layer_is_a_clear_type_error(self, kind, dtype):
        """Was torch's `RuntimeError: mat1 and mat2 must have the same dtype`."""
        from qattn_hybrid import ClassicalAttention, QuantumEncoderLayer
        from qattn_hybrid.layers.self_attention import ClassicalSelfAttention, QuantumSelfAttention

        torch.manual_seed(0)
        build = {"quantum": lambda: QuantumAttention(6, 2, n_qubits=2, n_layers=1),
                 "classical": lambda: ClassicalAttention(6, 2),
                 "quantum_self": lambda: QuantumSelfAttention(6, 2, n_qubits=2, n_layers=1),
                 "classical_self": lambda: ClassicalSelfAttention(6, 2),
                 "encoder_layer": lambda: QuantumEncoderLayer(6, 2, dim_feedforward=6,
                                                              n_qubits=2, n_layers=1)}
        layer = build[kind]()  # float32 parameters
        x = torch.randn(2, 3, 6).to(dtype)
        match = (rf"x must have the layer's dtype torch.float32; got {dtype} \(convert the "
                 rf"input with x.to\(torch.float32\), or the layer with layer.to\({dtype}\)\)")
        with pytest.raises(TypeError, match=match):
            layer(x, 0)
        layer(x.float(), 0)  # the advised conversion works

    def test_float32_input_to_a_float64_layer(self, layer):
        with pytest.raises(TypeError, match=r"dtype torch.float64; got torch.float32"):
            layer(torch.zeros(1, 2, 6), 0)

    def test_wrong_d_model(self, layer):
        with pytest.raises(ValueError, match=r"x's last dimension must be d_model=6; got 5"):
            layer(torch.zeros(1, 2, 5, dtype=DT), 0)

    @pytest.mark.parametrize("bad", [float("nan"), float("inf")])
    def test_non_finite(self, layer, bad):
        x = torch.zeros(1, 2, 6, dtype=DT)
        x[0, 1, 2] = bad
        with pytest.raises(ValueError, match=r"x must contain only finite values; got NaN or inf"):
            layer(x, 0)

    @pytest.mark.parametrize("task", [3, -1])
    def test_task_out_of_range(self, layer, task):
        with pytest.raises(ValueError, match=rf"task_id must be in \[0, 3\); got {task}"):
            layer(torch.zeros(1, 2, 6, dtype=DT), task)

    def test_task_tensor_out_of_range(self, layer):
        with pytest.raises(ValueError, match=r"task_id must be in \[0, 3\); got \[5\]"):
            layer(torch.zeros(2, 2, 6, dtype=DT), torch.tensor([0, 5]))

    def test_task_wrong_shape(self, layer):
        with pytest.raises(ValueError, match=r"task_id must have shape \(2,\) \(one task per row\); got \(3,\)"):
            layer(torch.zeros(2, 2, 6, dtype=DT), torch.tensor([0, 1, 1]))

    @pytest.mark.parametrize("task", [torch.tensor([0.0, 1.0]), 1.5, "0", True])
    def test_task_wrong_type(self, layer, task):
        with pytest.raises(TypeError, match=r"task_id must be an int or an integer LongTensor \(B,\); got"):
            layer(torch.zeros(2, 2, 6, dtype=DT), task)

    def test_mask_not_bool(self, layer):
        with pytest.raises(TypeError, match=r"mask must be a bool tensor \(B, T\).*got tensor of dtype torch.int64"):
            layer(torch.zeros(1, 2, 6, dtype=DT), 0, torch.ones(1, 2, dtype=torch.long))

    def test_mask_wrong_shape(self, layer):
        with pytest.raises(ValueError, match=r"mask must have shape \(1, 2\) \(B, T\); got \(1, 3\)"):
            layer(torch.zeros(1, 2, 6, dtype=DT), 0, torch.ones(1, 3, dtype=torch.bool))

    def test_fully_masked_row(self, layer):
        mask = torch.tensor([[True, True], [False, False]])
        with pytest.raises(ValueError, match=r"every row of mask must keep at least one token; rows \[1\]"):
            layer(torch.zeros(2, 2, 6, dtype=DT), 0, mask)

    @pytest.mark.parametrize("kwargs, message", [
        (dict(n_qubits=0), r"n_qubits must be between 1 and 20; got 0"),
        (dict(n_qubits=21), r"n_qubits must be between 1 and 20; got 21"),
        (dict(n_layers=0), r"n_layers must be >= 1; got 0"),
        (dict(ansatz="qcnn"), r"ansatz must be one of 'hardware_efficient', 'strongly_entangling', "
                              r"'no_entanglement'; got 'qcnn'"),
        (dict(conditioning="film"), r"conditioning must be one of 'per_task_weights', "
                                    r"'task_rotations'; got 'film'"),
        (dict(n_heads=4), r"d_model must be divisible by n_heads=4; got 6"),
        (dict(qml_device="lightning.gpx"), r"Unknown device 'lightning.gpx'. Available: "),
    ])
    def test_bad_construction(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            make_layer(**kwargs)


class TestSpec:
    """`spec=` / `execution=` (what the model passes) and the flat keywords (the quick start)
    build the same layer; giving a record and its keywords together is an error."""

    CIRCUIT = dict(n_qubits=3, n_layers=2, ansatz="strongly_entangling",
                   conditioning="task_rotations", rotation="X", readout="z_zz")

    def test_spec_and_keywords_give_the_same_circuit(self, batch):
        x, mask = batch
        flat = make_layer(n_tasks=3, **self.CIRCUIT, qml_device="default.qubit")
        spec = CircuitSpec(n_tasks=3, **self.CIRCUIT)
        keyed = make_layer(n_tasks=None, n_qubits=None, n_layers=None, spec=spec,
                           execution=ExecutionSpec(qml_device="default.qubit"))
        assert keyed.spec == flat.spec == spec and keyed.execution == flat.execution
        tasks = torch.tensor([2, 0])
        assert torch.equal(keyed.scores(x, tasks, mask), flat.scores(x, tasks, mask))
        # and both are the circuit itself, token by token on a fresh default.qubit QNode
        reference = build_qnode(spec, device="default.qubit")
        params = dict(keyed.circuit.items())
        z = keyed.expectation_values(x, tasks, mask)
        for b, t in [(0, 0), (0, 2), (1, 3)]:
            angle = math.pi * torch.tanh(keyed.to_angles(x[b, t]))
            expected = expectations(reference, angle[None], select(spec, params, int(tasks[b])))
            assert torch.allclose(z[b, t], expected[0], atol=1e-10, rtol=0)

    def test_execution_reaches_the_qnode(self):
        layer = QuantumAttention(6, spec=CircuitSpec(n_qubits=2, n_layers=1, n_tasks=2),
                                 execution=ExecutionSpec("default.qubit", shots=20,
                                                         diff_method="parameter-shift",
                                                         device_options={"seed": 3}))
        assert (layer.qml_device, layer.shots, layer.diff_method) == (
            "default.qubit", 20, "parameter-shift")
        assert layer.device_options == {"seed": 3} and layer.dedup  # shots: dedup by default
        assert layer.n_tasks == 2

    @pytest.mark.parametrize("kwargs, match", [
        (dict(spec=CircuitSpec(n_qubits=3, n_tasks=3), n_qubits=3),
         r"spec= must be given alone, not with its keywords; got spec= and n_qubits"),
        (dict(spec=CircuitSpec(n_tasks=3), readout="z_zz", reupload=True),
         r"got spec= and reupload, readout"),
        (dict(execution=ExecutionSpec(shots=10), shots=10),
         r"execution= must be given alone, not with its keywords; got execution= and shots"),
        (dict(execution=ExecutionSpec(), qml_device="default.qubit"),
         r"got execution= and qml_device"),
        (dict(spec=CircuitSpec(n_qubits=3, n_tasks=2)),
         r"n_tasks must equal spec.n_tasks=2 \(or be left out\); got 3"),
    ])
    def test_record_and_its_keywords_is_an_error(self, kwargs, match):
        options = dict(d_model=6, n_tasks=3, **kwargs)
        with pytest.raises(ValueError, match=match):
            QuantumAttention(**options)

    @pytest.mark.parametrize("kwargs, match", [
        (dict(spec={"n_qubits": 2}), r"spec must be a circuits.CircuitSpec; got dict"),
        (dict(execution="default.qubit"), r"execution must be a circuits.ExecutionSpec; got str"),
    ])
    def test_records_must_be_records(self, kwargs, match):
        with pytest.raises(TypeError, match=match):
            QuantumAttention(6, 3, **kwargs)

    def test_flat_defaults_are_the_records_defaults(self):
        layer = QuantumAttention(6, 2)
        assert layer.spec == CircuitSpec(n_tasks=2) and layer.execution == ExecutionSpec()
