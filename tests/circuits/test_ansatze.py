"""Variational blocks: weight shapes, and the strongly entangling block against PennyLane's."""

import pennylane as qml
import pytest
import torch

from circuits import Ansatz, CircuitSpec, ansatz_shape, parameter_shapes

DT = torch.float64


class TestShapes:
    @pytest.mark.parametrize("ansatz, shape", [
        ("hardware_efficient", (3, 5, 2)),  # an RY and an RZ angle per wire per layer
        ("no_entanglement", (3, 5, 2)),
        ("strongly_entangling", (3, 5, 3)),  # Rot: three angles per wire per layer
    ])
    def test_shape_per_task(self, ansatz, shape):
        assert ansatz_shape(Ansatz(ansatz), n_layers=3, n_qubits=5) == shape

    def test_strongly_entangling_is_pennylanes_shape(self):
        assert ansatz_shape(Ansatz.STRONGLY_ENTANGLING, 2, 4) == \
            qml.StronglyEntanglingLayers.shape(n_layers=2, n_wires=4)


class TestTemplates:
    def test_strongly_entangling_matches_pennylane_template(self, run):
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

