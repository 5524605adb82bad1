"""Deduplication: identical circuits run once, and every row keeps its exact gradient.

References: the same rows evaluated without deduplication on exact `default.qubit`
(backprop), and central finite differences; the device's tracker counts what ran.
"""

import pennylane as qml
import pytest
import torch

from circuits import CircuitSpec, build_qnode, expectations, init_parameters, select
from circuits.hardware import (
    build_hardware_qnode, dedup_expectations, gate_parameters, unique_rows, unique_rows_count,
)
from circuits.hardware.dedup import unique_circuits

DT = torch.float64
SPEC = CircuitSpec(n_qubits=2, n_layers=1, n_tasks=2)


def reference(angles, params, tasks):
    """Every row evaluated, no deduplication, exact backprop."""
    qnode = build_qnode(SPEC, "default.qubit", diff_method="backprop")
    return expectations(qnode, angles, select(SPEC, params, tasks))


def shift_qnode(**kwargs):
    """Exact parameter-shift: one circuit per row, so deduplication has something to do."""
    return build_hardware_qnode(SPEC, "default.qubit", diff_method="parameter-shift", **kwargs)


def loss_of(z):
    # A different upstream gradient for every row and output, so equal rows need different
    # gradients: the sum of a group's gradients is not enough.
    n, o = z.shape
    return (z * torch.cos(1.3 * torch.arange(n * o, dtype=DT)).reshape(n, o) ** 2).sum()


class TestUniqueRows:
    def test_unique_rows(self):
        angles = torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.1, 0.2], [0.1, 0.2]])
        first, inverse = unique_rows(angles, torch.tensor([0, 0, 0, 1]))
        assert len(first) == 3 and unique_rows_count(angles, torch.tensor([0, 0, 0, 1])) == 3
        assert torch.equal(angles[first][inverse], angles)
        assert inverse[0] == inverse[2] != inverse[3]


class TestUniqueCircuits:
    def test_equal_only_when_gates_wires_values_and_shots_are(self):
        def tape(x, wire=0, shots=None):
            return qml.tape.QuantumScript([qml.RY(torch.tensor(x, dtype=DT), wire)],
                                          [qml.expval(qml.Z(0))], shots=shots)

        tapes = [tape(0.1), tape(0.1, wire=1), tape(0.1), tape(0.1 + 1e-15), tape(0.1, shots=5),
                 qml.tape.QuantumScript([qml.RX(torch.tensor(0.1, dtype=DT), 0)],
                                        [qml.expval(qml.Z(0))])]
        firsts, slots = unique_circuits(tapes)
        assert firsts == [0, 1, 3, 4, 5] and slots == [0, 1, 0, 2, 3, 4]


class TestGradients:
    def test_every_row_gets_its_own_gradient(self):
        params = {k: v.requires_grad_() for k, v in init_parameters(SPEC, dtype=DT).items()}
        base = torch.randn(3, 2, dtype=DT, generator=torch.Generator().manual_seed(1))
        tasks = torch.tensor([0, 1, 0, 0, 1])
        grads = []
        for dedup in (False, True):
            angles = base[[0, 1, 0, 2, 1]].clone().requires_grad_()  # rows 0, 2 and 1, 4 equal
            if dedup:
                z = dedup_expectations(shift_qnode(), SPEC, angles, tasks, params)
            else:
                z = reference(angles, params, tasks)
            grads.append(torch.autograd.grad(loss_of(z), [angles, params["weights"]]))
        (ref_angles, ref_weights), (got_angles, got_weights) = grads
        assert torch.allclose(got_angles, ref_angles, atol=1e-10, rtol=0)
        assert torch.allclose(got_weights, ref_weights, atol=1e-10, rtol=0)
        assert not torch.allclose(ref_angles[0], ref_angles[2])  # equal rows, different grads

    def test_equal_embedding_rows_get_their_own_shares(self):
        """Two different tokens that happen to have equal embeddings: each row's gradient is
        its own, checked against central finite differences of the loss."""
        params = {k: v.detach() for k, v in init_parameters(SPEC, dtype=DT).items()}
        table = torch.randn(3, 2, dtype=DT, generator=torch.Generator().manual_seed(2))
        table[1] = table[0]
        ids, tasks = torch.tensor([0, 1, 2, 1, 0]), torch.tensor([0, 0, 1, 0, 0])
        qnode = shift_qnode()

        def loss(t):
            return loss_of(dedup_expectations(qnode, SPEC, t[ids], tasks, params))

        table.requires_grad_()
        (grad,) = torch.autograd.grad(loss(table), table)
        eps, numeric = 1e-6, torch.zeros_like(table)
        with torch.no_grad():
            for i in range(3):
                for j in range(2):
                    step = torch.zeros_like(table)
                    step[i, j] = eps
                    numeric[i, j] = (loss(table + step) - loss(table - step)) / (2 * eps)
        assert torch.allclose(grad, numeric, atol=1e-7, rtol=0)
        assert not torch.allclose(grad[0], grad[1])


class TestCounts:
    def test_each_distinct_circuit_runs_once(self):
        params = {k: v.requires_grad_() for k, v in init_parameters(SPEC, dtype=DT).items()}
        base = torch.randn(3, 2, dtype=DT, generator=torch.Generator().manual_seed(3))
        angles = base[[0, 1, 0, 2, 1, 0]].clone().requires_grad_()
        tasks = torch.tensor([0, 0, 0, 1, 0, 1])  # distinct (row, task): 0/0, 1/0, 2/1, 0/1
        qnode = shift_qnode()
        with qml.Tracker(qnode.device) as tracker:
            z = dedup_expectations(qnode, SPEC, angles, tasks, params)
            forward = tracker.totals["executions"]
            loss_of(z).backward()
        p = gate_parameters(SPEC)
        assert forward == 4 and tracker.totals["executions"] == 4 * (1 + 2 * p)

    def test_matches_full_evaluation_on_an_exact_device(self):
        qnode = build_hardware_qnode(SPEC, "default.qubit", diff_method="backprop", dedup=True)
        params = {k: v.double() for k, v in init_parameters(SPEC).items()}
        x = torch.randn(3, 2, dtype=DT)[[0, 1, 0, 2, 1]]
        tasks = torch.tensor([0, 1, 0, 0, 1])
        z = expectations(qnode, x, select(SPEC, params, tasks))
        assert torch.allclose(z, reference(x, params, tasks), atol=1e-12)


@pytest.mark.parametrize("dedup", [False, True])
def test_unique_rows_are_what_the_guard_plans(dedup):
    from circuits.hardware import ExecutionGuard

    guard = ExecutionGuard(dry_run=True)
    qnode = build_hardware_qnode(SPEC, "default.qubit", shots=10, diff_method="parameter-shift",
                                 guard=guard, dedup=dedup)
    params = {k: v.double() for k, v in init_parameters(SPEC).items()}
    x = torch.randn(2, 2, dtype=DT)[[0, 1, 0, 0]]
    with torch.no_grad():
        expectations(qnode, x, select(SPEC, params, torch.tensor([0, 0, 0, 1])))
    assert guard.spent.circuits == (3 if dedup else 4)
