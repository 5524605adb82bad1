import math

import pennylane as qml
import pytest
import torch

from circuits import (CircuitSpec, build_qnode, draw, expectations, init_parameters,
                      parameter_shapes, resources, select)

DT = torch.float64


def run(spec, angles, device=None, **args):
    return expectations(build_qnode(spec, device=device), angles, args)


def z_after_y(a, b, w):
    """⟨Z⟩ after RY(a), RZ(b), RY(w) on |0>: Bloch (sin a, 0, cos a) -> RZ -> RY."""
    x = torch.sin(a) * math.cos(b)
    return -x * math.sin(w) + torch.cos(a) * math.cos(w)


@pytest.mark.parametrize("device", ["default.qubit", "qattn.torch"])
class TestHandWorked:
    """Expectation values worked out on paper (Bloch-vector rotations), on both simulators.

    Rotations act on the Bloch vector as RX(t): (y, z) -> (y cos t - z sin t, y sin t + z cos t),
    RY(t): (x, z) -> (x cos t + z sin t, -x sin t + z cos t), RZ(t): (x, y) -> (x cos t - y sin t,
    x sin t + y cos t). Weights per wire are (RY angle, RZ angle); a layer applies RZ then RY.
    """

    def test_one_qubit_y_embedding(self, device):
        spec = CircuitSpec(n_qubits=1, n_layers=1)
        a, w = torch.tensor([[0.3], [1.9]], dtype=DT), torch.tensor([[[0.7, 2.1]]], dtype=DT)
        expected = z_after_y(a[:, 0], 2.1, 0.7)
        assert torch.allclose(run(spec, a, device, weights=w)[:, 0], expected, atol=1e-12)

    def test_one_qubit_y_embedding_without_rz_adds_angles(self, device):
        spec = CircuitSpec(n_qubits=1, n_layers=1)
        a, w = torch.tensor([[0.3], [1.9]], dtype=DT), torch.tensor([[[0.7, 0.0]]], dtype=DT)
        expected = torch.cos(a[:, 0] + 0.7)  # RY(a) then RY(w) is RY(a + w)
        assert torch.allclose(run(spec, a, device, weights=w)[:, 0], expected, atol=1e-12)

    def test_one_qubit_x_embedding(self, device):
        spec = CircuitSpec(n_qubits=1, n_layers=1, rotation="X")
        a, w = torch.tensor([[0.3], [-1.2]], dtype=DT), torch.tensor([[[0.7, 2.1]]], dtype=DT)
        # RX(a): (0, -sin a, cos a); RZ(2.1): x = sin a sin 2.1; RY(0.7)
        x = torch.sin(a[:, 0]) * math.sin(2.1)
        expected = -x * math.sin(0.7) + torch.cos(a[:, 0]) * math.cos(0.7)
        assert torch.allclose(run(spec, a, device, weights=w)[:, 0], expected, atol=1e-12)

    def test_one_qubit_z_embedding_starts_in_plus(self, device):
        spec = CircuitSpec(n_qubits=1, n_layers=1, rotation="Z")
        a, w = torch.tensor([[0.3], [2.5]], dtype=DT), torch.tensor([[[0.7, 2.1]]], dtype=DT)
        # H: (1, 0, 0); RZ(a) then RZ(2.1): x = cos(a + 2.1); RY(0.7)
        expected = -torch.cos(a[:, 0] + 2.1) * math.sin(0.7)
        assert torch.allclose(run(spec, a, device, weights=w)[:, 0], expected, atol=1e-12)

    def test_one_qubit_task_rotation(self, device):
        spec = CircuitSpec(n_qubits=1, n_layers=1, conditioning="task_rotations")
        a = torch.tensor([[0.3], [1.1]], dtype=DT)
        w, t = torch.tensor([[[0.7, 2.1]]], dtype=DT), torch.tensor([[0.4]], dtype=DT)
        # RY(a): (sin a, 0, cos a); RX(0.4): (sin a, -cos a sin .4, cos a cos .4); RZ(2.1); RY(.7)
        sa, ca = torch.sin(a[:, 0]), torch.cos(a[:, 0])
        x = sa * math.cos(2.1) + ca * math.sin(0.4) * math.sin(2.1)
        expected = -x * math.sin(0.7) + ca * math.cos(0.4) * math.cos(0.7)
        out = run(spec, a, device, weights=w, task_angles=t)[:, 0]
        assert torch.allclose(out, expected, atol=1e-12)

    def test_two_qubits_cnot_and_zz(self, device):
        spec = CircuitSpec(n_qubits=2, n_layers=1, readout="z_zz")
        a = torch.tensor([[0.3, -0.8], [1.4, 0.2]], dtype=DT)
        w = torch.tensor([[[0.5, 1.0], [-0.9, 0.3]]], dtype=DT)
        c0, c1 = z_after_y(a[:, 0], 1.0, 0.5), z_after_y(a[:, 1], 0.3, -0.9)
        # A product state, then CNOT(0,1): Z0 -> Z0, Z1 -> Z0 Z1 and Z0 Z1 -> Z1.
        expected = torch.stack([c0, c0 * c1, c1], dim=-1)
        assert torch.allclose(run(spec, a, device, weights=w), expected, atol=1e-12)

    def test_no_entanglement_is_a_product(self, device):
        spec = CircuitSpec(n_qubits=2, n_layers=1, ansatz="no_entanglement", readout="z_zz")
        a = torch.tensor([[0.3, -0.8]], dtype=DT)
        w = torch.tensor([[[0.5, 1.0], [-0.9, 0.3]]], dtype=DT)
        c0, c1 = z_after_y(a[:, 0], 1.0, 0.5), z_after_y(a[:, 1], 0.3, -0.9)
        expected = torch.stack([c0, c1, c0 * c1], dim=-1)
        assert torch.allclose(run(spec, a, device, weights=w), expected, atol=1e-12)

    def test_every_rotation_angle_moves_the_output(self, device):
        spec = CircuitSpec(n_qubits=3, n_layers=2, n_tasks=2, readout="z_zz")
        params = {k: v.requires_grad_() for k, v in init_parameters(spec, dtype=DT).items()}
        angles = torch.rand(8, 3, dtype=DT) * 2 - 1
        qnode = build_qnode(spec, device=device)
        expectations(qnode, angles, select(spec, params, 1)).pow(2).sum().backward()
        grad = params["weights"].grad[1]  # (L, Q, 2) of the task used
        assert (grad.abs() > 1e-8).all(), "a rotation angle has no effect on the readout"


class TestTemplates:
    def test_strongly_entangling_matches_pennylane_template(self):
        spec = CircuitSpec(n_qubits=3, n_layers=3, ansatz="strongly_entangling")
        weights = torch.rand(parameter_shapes(spec)["weights"][1:], dtype=DT) * 6
        angles = torch.rand(4, 3, dtype=DT)

        @qml.qnode(qml.device("default.qubit", wires=3), interface="torch")
        def reference(angles):
            for q in range(3):
                qml.RY(angles[..., q], wires=q)
            qml.StronglyEntanglingLayers(weights, wires=range(3))
            return [qml.expval(qml.PauliZ(q)) for q in range(3)]

        expected = torch.stack(reference(angles), dim=-1)
        assert torch.allclose(run(spec, angles, weights=weights), expected, atol=1e-12)

    def test_reupload_embeds_before_every_layer(self):
        spec = CircuitSpec(n_qubits=1, n_layers=2, reupload=True)
        a = torch.tensor([[0.3]], dtype=DT)
        w = torch.tensor([[[0.2, 0.0]], [[0.4, 0.0]]], dtype=DT)  # RZ angles 0
        assert torch.allclose(run(spec, a, weights=w)[:, 0],
                              torch.tensor([math.cos(2 * 0.3 + 0.6)], dtype=DT), atol=1e-12)


class TestConditioning:
    @pytest.mark.parametrize("conditioning", ["per_task_weights", "task_rotations"])
    def test_per_row_tasks_equal_separate_calls(self, conditioning):
        spec = CircuitSpec(n_qubits=3, n_layers=2, n_tasks=3, conditioning=conditioning)
        params = init_parameters(spec, dtype=DT)
        qnode = build_qnode(spec)
        angles, tasks = torch.rand(6, 3, dtype=DT), torch.tensor([2, 0, 1, 1, 2, 0])
        mixed = expectations(qnode, angles, select(spec, params, tasks))
        for k in range(3):
            rows = tasks == k
            alone = expectations(qnode, angles[rows], select(spec, params, k))
            assert torch.allclose(mixed[rows], alone, atol=1e-12)

    def test_shapes(self):
        spec = CircuitSpec(n_qubits=3, n_layers=2, n_tasks=4, conditioning="task_rotations")
        assert parameter_shapes(spec) == {"weights": (2, 3, 2), "task_angles": (4, 2, 3)}
        spec = CircuitSpec(n_qubits=3, n_layers=2, n_tasks=4, ansatz="strongly_entangling")
        assert parameter_shapes(spec) == {"weights": (4, 2, 3, 3)}


class TestDevices:
    def test_unknown_device_lists_available(self):
        with pytest.raises(ValueError, match=r"Unknown device 'lightning.gpx'. Available: .*default\.qubit"):
            build_qnode(CircuitSpec(), device="lightning.gpx")

    def test_uninstalled_plugin_names_package(self, monkeypatch):
        import circuits.devices as devices
        monkeypatch.setattr(devices, "available_devices", lambda: ["default.qubit"])
        with pytest.raises(ValueError, match=r"pip install amazon-braket-pennylane-plugin"):
            build_qnode(CircuitSpec(), device="braket.local.qubit")

    def test_bad_shots(self):
        with pytest.raises(ValueError, match=r"shots must be None \(exact\) or a positive int; got 0"):
            build_qnode(CircuitSpec(), shots=0)

    def test_lightning_matches_default_qubit(self):
        pytest.importorskip("pennylane_lightning")
        spec = CircuitSpec(n_qubits=3, n_layers=2, n_tasks=2, readout="z_zz")
        params = init_parameters(spec, dtype=DT)
        angles = torch.rand(5, 3, dtype=DT)
        args = select(spec, params, torch.tensor([0, 1, 1, 0, 1]))
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)  # lightning returns torch's default dtype
        try:
            lightning = expectations(build_qnode(spec, device="lightning.qubit"), angles, args)
        finally:
            torch.set_default_dtype(previous)
        reference = expectations(build_qnode(spec), angles, args)
        assert torch.allclose(lightning, reference, atol=1e-8, rtol=0)

    def test_shots_with_broadcast_gradients(self):
        spec = CircuitSpec(n_qubits=2, n_layers=1)
        params = {k: v.requires_grad_() for k, v in init_parameters(spec, dtype=DT).items()}
        angles = torch.rand(3, 2, dtype=DT, requires_grad=True)
        qnode = build_qnode(spec, shots=200, diff_method="parameter-shift")
        expectations(qnode, angles, select(spec, params, 0)).sum().backward()
        assert angles.grad.shape == (3, 2) and torch.isfinite(angles.grad).all()


class TestInspection:
    def test_resources_count_gates(self):
        res = resources(CircuitSpec(n_qubits=3, n_layers=2, n_tasks=2))
        # per layer: 3 RY + 3 RZ + 3 CNOT (ring); plus 3 RY embedding
        assert res["gate_counts"] == {"CNOT": 6, "RY": 9, "RZ": 6}
        assert res["n_parameters"] == 2 * 2 * 3 * 2
        assert res["n_outputs"] == 3

    def test_draw_mentions_every_wire(self):
        text = draw(CircuitSpec(n_qubits=2, n_layers=1))
        assert text.count("<Z>") == 2 and "RY" in text and "╭●" in text
