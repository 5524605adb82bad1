"""QNode construction: shots, gradient methods (checked at construction), native devices."""

import pennylane as qml
import pytest
import torch

from circuits import CircuitSpec, build_qnode, expectations, init_parameters, select

DT = torch.float64


class TestShots:
    def test_bad_shots(self):
        with pytest.raises(ValueError, match=r"shots must be None \(exact\) or a positive int; "
                                             r"got 0"):
            build_qnode(CircuitSpec(), shots=0)

    def test_shots_with_broadcast_gradients(self):
        spec = CircuitSpec(n_qubits=2, n_layers=1)
        params = {k: v.requires_grad_() for k, v in init_parameters(spec, dtype=DT).items()}
        angles = torch.rand(3, 2, dtype=DT, requires_grad=True)
        qnode = build_qnode(spec, shots=200, diff_method="parameter-shift")
        expectations(qnode, angles, select(spec, params, 0)).sum().backward()
        assert angles.grad.shape == (3, 2) and torch.isfinite(angles.grad).all()


class TestDiffMethod:
    """A method the device cannot use is refused when the QNode is made, with an error that
    says what works, not by PennyLane's QuantumFunctionError at the first forward."""

    @pytest.mark.parametrize("device", [None, "default.qubit", "qattn.torch"])
    @pytest.mark.parametrize("method", ["backprop", "adjoint"])
    def test_exact_only_methods_with_shots(self, device, method):
        with pytest.raises(ValueError, match=rf"diff_method must be one of 'best', "
                                             rf"'parameter-shift', .* with shots=100 .*; "
                                             rf"got '{method}'"):
            build_qnode(CircuitSpec(n_qubits=2), device=device, shots=100, diff_method=method)

    def test_unsupported_method_without_shots(self):
        with pytest.raises(ValueError, match=r"diff_method must be a method device "
                                             r"'qattn.torch' supports; got 'adjoint'"):
            build_qnode(CircuitSpec(n_qubits=2), device="qattn.torch", diff_method="adjoint")

    @pytest.mark.parametrize("method", ["best", "parameter-shift", "spsa", "finite-diff"])
    def test_shot_methods_build(self, method):
        qnode = build_qnode(CircuitSpec(n_qubits=2), shots=100, diff_method=method)
        assert qnode.diff_method == method

    def test_exact_backprop_builds(self):
        qnode = build_qnode(CircuitSpec(n_qubits=2), diff_method="backprop")
        assert qnode.diff_method == "backprop"

    def test_the_layer_refuses_at_construction(self):
        from qattn_hybrid import QuantumAttention

        with pytest.raises(ValueError, match=r"with shots=100 .*; got 'backprop'"):
            QuantumAttention(8, n_tasks=1, n_qubits=2, shots=100, diff_method="backprop")


class TestNativeDevices:
    def test_estimator_is_built_by_the_hardware_layer(self):
        with pytest.raises(ValueError, match=r"device 'qiskit.estimator' is not a PennyLane "
                                             r"device: build it with circuits.hardware"):
            build_qnode(CircuitSpec(), device="qiskit.estimator", shots=10)


class TestQNode:
    def test_one_qnode_per_call_on_the_device_asked(self):
        qnode = build_qnode(CircuitSpec(n_qubits=3), device="default.qubit")
        assert isinstance(qnode, qml.QNode) and qnode.device.wires.tolist() == [0, 1, 2]
