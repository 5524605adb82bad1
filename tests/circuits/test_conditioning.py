"""Task conditioning: parameter shapes and per-row task selection."""

import pytest
import torch

from circuits import (CircuitSpec, build_qnode, expectations, init_parameters,
                      parameter_shapes, select)

DT = torch.float64


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
