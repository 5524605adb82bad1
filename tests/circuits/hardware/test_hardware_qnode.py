"""build_hardware_qnode: build_qnode plus guard and deduplication, nothing else changed."""

import pennylane as qml
import pytest
import torch

from circuits import CircuitSpec, build_qnode, expectations, init_parameters, select
from circuits.hardware import ExecutionGuard, GuardedQNode, build_hardware_qnode

SPEC = CircuitSpec(n_qubits=2, n_layers=1)


def test_without_guard_it_is_the_core_qnode():
    qnode = build_hardware_qnode(SPEC, "default.qubit", diff_method="backprop")
    assert isinstance(qnode, qml.QNode)
    params = {k: v.double() for k, v in init_parameters(SPEC).items()}
    angles = torch.rand(3, 2, dtype=torch.float64)
    args = select(SPEC, params, 0)
    reference = build_qnode(SPEC, "default.qubit", diff_method="backprop")
    assert torch.equal(expectations(qnode, angles, args), expectations(reference, angles, args))


def test_guard_needs_shots():
    with pytest.raises(ValueError, match=r"shots must be a positive int when a guard \(budget\) "
                                         r"is used; got None"):
        build_hardware_qnode(SPEC, "default.qubit", guard=ExecutionGuard())


def test_guarded_qnode_counts_each_call():
    guard = ExecutionGuard(dry_run=True)
    qnode = build_hardware_qnode(SPEC, shots=10, diff_method="parameter-shift", guard=guard)
    assert isinstance(qnode, GuardedQNode) and qnode.device_name == "default.qubit"
    params = {k: v.double() for k, v in init_parameters(SPEC).items()}
    with torch.no_grad():
        expectations(qnode, torch.rand(4, 2, dtype=torch.float64), select(SPEC, params, 0))
    assert (guard.spent.circuits, guard.spent.shots) == (4, 40)


def test_diff_method_is_checked_as_in_the_core():
    with pytest.raises(ValueError, match=r"with shots=10 .*; got 'backprop'"):
        build_hardware_qnode(SPEC, shots=10, diff_method="backprop", guard=ExecutionGuard())
