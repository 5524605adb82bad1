"""The ``qattn.torch`` device against ``default.qubit``: library circuits, general circuits,
dtypes, shots, bad input. Inputs are fresh random draws on every run (no fixed seed).

PennyLane's own conformance suite runs separately (see docs/layer.md, "Which device when"):
    pl-device-test --device qattn.torch --shots None
"""

import itertools

import numpy as np
import pennylane as qml
import pytest
import torch
from pennylane.exceptions import DeviceError, QuantumFunctionError, WireError

from circuits import (Ansatz, CircuitSpec, Conditioning, Readout, Rotation, build_qnode,
                      expectations, init_parameters, select)
from circuits.fast.device import TorchDevice

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def both(fn, *args):
    """``fn(device_name)`` on the reference and on the fast device."""
    return fn("default.qubit", *args), fn("qattn.torch", *args)


def output_and_grads(make_out, inputs):
    """Outputs, and gradients of a fixed projection of them, w.r.t. ``inputs``."""
    out = make_out()
    weights = torch.sin(torch.arange(1, out.numel() + 1, dtype=out.dtype)).reshape(out.shape)
    grads = torch.autograd.grad((out * weights).sum(), inputs, allow_unused=True)
    return out.detach(), grads


def assert_close(ref, fast, tol):
    (out_r, grads_r), (out_f, grads_f) = ref, fast
    assert out_f.dtype == out_r.dtype
    torch.testing.assert_close(out_f, out_r, atol=tol, rtol=0)
    for g_r, g_f in zip(grads_r, grads_f):
        torch.testing.assert_close(g_f, g_r, atol=tol, rtol=0)


class TestRegistration:
    def test_device_resolves_by_name(self):
        dev = qml.device("qattn.torch", wires=3)
        assert isinstance(dev, TorchDevice)
        assert dev.name == "qattn.torch"

    def test_backprop_is_best(self):
        dev = qml.device("qattn.torch", wires=1)
        qnode = qml.QNode(lambda x: (qml.RX(x, 0), qml.expval(qml.Z(0)))[1], dev)
        assert qml.workflow.get_best_diff_method(qnode)(torch.tensor(0.1)) == "backprop"


LIBRARY_CASES = list(itertools.product(Ansatz, Conditioning, Readout))


class TestLibraryCircuitParity:
    """Every ansatz x conditioning x readout in ``circuits`` (embedding axes X, Y, Z spread
    over the cases; re-uploading with task rotations): outputs and gradients."""

    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
    @pytest.mark.parametrize("ansatz,conditioning,readout", LIBRARY_CASES)
    def test_parity(self, ansatz, conditioning, readout, dtype):
        rotation = list(Rotation)[LIBRARY_CASES.index((ansatz, conditioning, readout)) % 3]
        spec = CircuitSpec(n_qubits=3, n_layers=2, n_tasks=2, ansatz=ansatz,
                           conditioning=conditioning, readout=readout, rotation=rotation,
                           reupload=conditioning is Conditioning.TASK_ROTATIONS)
        n_rows = 9  # >= 2**3 rows: the fused-unitary path
        params = {k: v.requires_grad_() for k, v in init_parameters(spec, dtype=dtype).items()}
        angles = torch.rand(n_rows, 3, dtype=dtype, requires_grad=True)
        for task_ids in (1, torch.randint(0, 2, (n_rows,))):  # one task; tasks per row

            def run(device):
                qnode = build_qnode(spec, device=device, diff_method="backprop")
                return output_and_grads(
                    lambda: expectations(qnode, angles, select(spec, params, task_ids)),
                    [angles, *params.values()],
                )

            assert_close(*both(run), TOL[dtype])


def general_circuit(x, y, u):
    """Many gate kinds, broadcast (x) and not (y), on non-adjacent wires too."""
    qml.Hadamard(0)
    qml.RX(x, 1)
    qml.CRX(y, wires=[0, 2])
    qml.Toffoli(wires=[2, 0, 1])
    qml.QubitUnitary(u, wires=[3, 1])
    qml.Rot(y, x, 0.3, wires=3)
    qml.SWAP(wires=[3, 0])
    qml.IsingXX(y, wires=[1, 3])
    qml.MultiRZ(x, wires=[0, 1, 3])
    qml.PhaseShift(y, 2)
    qml.S(1)
    qml.T(0)
    qml.CY(wires=[1, 2])
    qml.GlobalPhase(y)
    qml.adjoint(qml.CRot(x, y, 0.7, wires=[2, 0]))
    qml.ctrl(qml.RY(y, 3), control=[0, 1])


def random_unitary(dtype):
    mat = torch.randn(4, 4, dtype=torch.complex128)
    return torch.linalg.qr(mat)[0].to(dtype)


class TestGeneralCircuits:
    @pytest.mark.parametrize("n_rows", [None, 3, 20])  # unbroadcast; gate by gate; fused
    def test_measurements_and_gradients(self, n_rows):
        x = torch.rand(() if n_rows is None else (n_rows,), dtype=torch.float64,
                       requires_grad=True)
        y = torch.rand((), dtype=torch.float64, requires_grad=True)
        u = random_unitary(torch.complex128)

        def run(device):
            @qml.qnode(qml.device(device, wires=4), diff_method="backprop")
            def circuit():
                general_circuit(x, y, u)
                return (qml.expval(qml.X(0) @ qml.Y(2) @ qml.Z(3)), qml.expval(qml.Z(1)),
                        qml.expval(0.5 * qml.Z(0) @ qml.Z(2) - 1.5 * qml.Y(3)),
                        qml.var(qml.X(1)), qml.var(qml.Z(0) @ qml.Z(3)),
                        qml.expval(qml.Hermitian(np.diag([1.0, 2.0]), wires=2)),
                        qml.probs(wires=[3, 1]))

            def outputs():
                res = circuit()
                return torch.cat([torch.as_tensor(r).reshape(-1) for r in res])

            return output_and_grads(outputs, [x, y])

        assert_close(*both(run), 1e-10)

    def test_state_density_matrix_and_wire_labels(self):
        x = torch.rand(5, dtype=torch.float64)
        u = random_unitary(torch.complex128)

        def run(device):
            dev = qml.device(device, wires=["a", "b", "c", "d"])
            wires = dict(zip(range(4), "abcd"))

            @qml.qnode(dev)
            def circuit():
                qml.map_wires(general_circuit, wires)(x, 0.4, u)
                return qml.state(), qml.density_matrix(wires=["d", "a"]), qml.probs()

            return circuit()

        for ref, fast in zip(*both(run)):
            torch.testing.assert_close(torch.as_tensor(fast), torch.as_tensor(ref),
                                       atol=1e-10, rtol=0)

    def test_decomposition_and_state_prep(self):
        state = torch.rand(8, dtype=torch.float64)
        weights = torch.rand(2, 3, 3, dtype=torch.float64)

        def run(device):
            @qml.qnode(qml.device(device, wires=3))
            def circuit():
                qml.StatePrep(state / torch.linalg.norm(state), wires=range(3))
                qml.QFT(wires=range(3))
                qml.StronglyEntanglingLayers(weights, wires=range(3))
                qml.BasisState(torch.tensor([1, 0, 1]), wires=range(3))  # decomposed here
                qml.GroverOperator(wires=range(3))
                return qml.probs()

            return circuit()

        ref, fast = both(run)
        torch.testing.assert_close(fast, ref, atol=1e-10, rtol=0)

    def test_second_derivatives(self):
        x = torch.rand(3, dtype=torch.float64, requires_grad=True)

        def run(device):
            @qml.qnode(qml.device(device, wires=2), diff_method="backprop")
            def circuit(x):
                qml.RY(x[0], 0)
                qml.RX(x[1], 1)
                qml.CNOT([0, 1])
                qml.RZ(x[2], 1)
                qml.Hadamard(1)
                return qml.expval(qml.Z(0) @ qml.Z(1))

            return torch.autograd.functional.hessian(circuit, x)

        ref, fast = both(run)
        torch.testing.assert_close(fast, ref, atol=1e-10, rtol=0)

    def test_numpy_in_numpy_out(self):
        dev = qml.device("qattn.torch", wires=1)
        out = qml.QNode(lambda x: (qml.RX(x, 0), qml.expval(qml.Z(0)))[1], dev)(
            np.array([0.3, 0.4]))
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, np.cos([0.3, 0.4]), atol=1e-12)

    def test_autograd_backprop_still_works(self):
        dev = qml.device("qattn.torch", wires=1)
        qnode = qml.QNode(lambda x: (qml.RX(x, 0), qml.expval(qml.Z(0)))[1], dev,
                          diff_method="backprop")
        grad = qml.grad(qnode)(qml.numpy.array(0.3, requires_grad=True))
        assert np.isclose(grad, -np.sin(0.3), atol=1e-12)


class TestDtypes:
    def test_float32_inputs_simulate_in_complex64(self):
        x = torch.rand(4, dtype=torch.float32)
        dev = qml.device("qattn.torch", wires=2)
        out = qml.QNode(lambda: (qml.RY(x, 0), qml.CNOT([0, 1]), qml.state())[-1], dev)()
        assert out.dtype == torch.complex64

    def test_c_dtype_option_overrides(self):
        x = torch.rand(4, dtype=torch.float32)
        dev = qml.device("qattn.torch", wires=1, c_dtype=torch.complex128)
        out = qml.QNode(lambda: (qml.RY(x, 0), qml.expval(qml.Z(0)))[-1], dev)()
        assert out.dtype == torch.float64
        torch.testing.assert_close(out, torch.cos(x.double()), atol=1e-12, rtol=0)

    @pytest.mark.gpu
    def test_cuda_state_lives_on_the_parameters_device(self):
        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA device")
        x = torch.rand(16, 3, device="cuda", dtype=torch.float64, requires_grad=True)
        spec = CircuitSpec(n_qubits=3)
        params = init_parameters(spec, dtype=torch.float64)
        args = {k: v.cuda() for k, v in select(spec, params, 0).items()}
        out = expectations(build_qnode(spec, device="qattn.torch"), x, args)
        assert out.device.type == "cuda"
        ref = expectations(build_qnode(spec), x.detach().cpu(),
                           {k: v.cpu() for k, v in args.items()})
        torch.testing.assert_close(out.detach().cpu(), ref, atol=1e-10, rtol=0)
        out.sum().backward()
        assert x.grad.device.type == "cuda"


class TestShots:
    def test_samples_follow_the_exact_distribution(self):
        dev = qml.device("qattn.torch", wires=2, seed=7)

        @qml.set_shots(20_000)
        @qml.qnode(dev, diff_method="parameter-shift")
        def circuit(x):
            qml.RY(x, 0)
            qml.CNOT([0, 1])
            return qml.expval(qml.Z(1)), qml.sample(wires=[0, 1])

        expval, samples = circuit(torch.tensor(1.1, dtype=torch.float64))
        samples = np.asarray(samples)
        assert abs(float(expval) - np.cos(1.1)) < 0.03
        assert samples.shape == (20_000, 2)
        assert np.all(samples[:, 0] == samples[:, 1])  # a Bell-type state: bits agree


class TestBadInput:
    def test_unsupported_operation(self):
        class NoMatrix(qml.operation.Operation):
            num_wires = 1

        dev = qml.device("qattn.torch", wires=1)
        with pytest.raises(DeviceError,
                           match="must have a matrix or a decomposition.*got NoMatrix"):
            qml.QNode(lambda: (NoMatrix(wires=0), qml.expval(qml.Z(0)))[1], dev)()

    def test_unsupported_measurement_without_shots(self):
        dev = qml.device("qattn.torch", wires=1)
        with pytest.raises(DeviceError, match="must be state-based .*; got sample"):
            qml.QNode(lambda: qml.sample(qml.Z(0)), dev)()

    def test_classical_shadows_are_refused(self):
        dev = qml.device("qattn.torch", wires=1)
        qnode = qml.set_shots(qml.QNode(lambda: qml.classical_shadow(wires=[0]), dev), 10)
        with pytest.raises(DeviceError, match="must not be classical shadows; got"):
            qnode()

    def test_wires_out_of_range(self):
        dev = qml.device("qattn.torch", wires=2)
        with pytest.raises(WireError, match=r"must be among the device wires \[0, 1\]; got \[5\]"):
            qml.QNode(lambda: (qml.RX(0.1, 5), qml.expval(qml.Z(0)))[1], dev)()

    def test_broadcast_size_mismatch(self):
        dev = qml.device("qattn.torch", wires=2)

        @qml.qnode(dev)
        def circuit(a, b):
            qml.RX(a, 0)
            qml.RY(b, 1)
            return qml.expval(qml.Z(0))

        with pytest.raises(ValueError,
                           match=r"broadcast sizes .* must all be equal; got \[2, 3\]"):
            circuit(torch.rand(2), torch.rand(3))

    def test_backprop_with_shots(self):
        dev = qml.device("qattn.torch", wires=1)
        qnode = qml.set_shots(
            qml.QNode(lambda: qml.expval(qml.Z(0)), dev, diff_method="backprop"), 10)
        with pytest.raises(QuantumFunctionError, match="does not support backprop"):
            qnode()

    @pytest.mark.parametrize("kwargs,match", [
        ({"c_dtype": torch.float64}, "c_dtype must be torch.complex64, torch.complex128 or None"),
        ({"max_fused_wires": -1}, "max_fused_wires must be None or a non-negative int; got -1"),
    ])
    def test_bad_options(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            qml.device("qattn.torch", wires=1, **kwargs)
