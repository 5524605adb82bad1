"""The circuit template against circuits written out gate by gate, independently of the library.

Each reference below is a plain PennyLane circuit with every gate spelled out (qml.RY,
qml.CNOT, ...), evaluated on `default.qubit` one row at a time. The library's template runs
batched (mixed tasks per row) on `default.qubit` and on the fast `qattn.torch` device; both
must match the reference to 1e-10 at 3 and 4 qubits, for every ansatz and conditioning scheme.
A wrong gate order, a wrong wire, or a CNOT ring running the other way changes ⟨Z⟩ by O(0.1).
"""

import math

import pennylane as qml
import pytest
import torch

from circuits import CircuitSpec, build_qnode, expectations, init_parameters, select

DT = torch.float64
ANSATZE = ["hardware_efficient", "strongly_entangling", "no_entanglement"]
CONDITIONINGS = ["per_task_weights", "task_rotations"]
EMBED = {"X": qml.RX, "Y": qml.RY, "Z": qml.RZ}


def z_after_y(a, b, w):
    """⟨Z⟩ after RY(a), RZ(b), RY(w) on |0>: Bloch (sin a, 0, cos a) -> RZ -> RY."""
    x = torch.sin(a) * math.cos(b)
    return -x * math.sin(w) + torch.cos(a) * math.cos(w)


def reference_circuit(n, n_layers, ansatz, rotation, reupload, readout, a, w, t):
    """One token's circuit, gate by gate: a (Q,) angles, w one task's weights, t (L, Q) or None."""
    for layer in range(n_layers):
        if layer == 0 or reupload:
            for q in range(n):
                if rotation == "Z":
                    qml.Hadamard(wires=q)  # RZ on |0> alone is only a phase
                EMBED[rotation](a[q], wires=q)
        if t is not None:
            for q in range(n):
                qml.RX(t[layer, q], wires=q)
        if ansatz == "strongly_entangling":
            for q in range(n):
                # Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)
                qml.RZ(w[layer, q, 0], wires=q)
                qml.RY(w[layer, q, 1], wires=q)
                qml.RZ(w[layer, q, 2], wires=q)
            r = layer % (n - 1) + 1  # entangler range of StronglyEntanglingLayers
            for q in range(n):
                qml.CNOT(wires=[q, (q + r) % n])
        else:
            for q in range(n):
                qml.RZ(w[layer, q, 1], wires=q)
                qml.RY(w[layer, q, 0], wires=q)
            if ansatz == "hardware_efficient":
                for q in range(n):  # control q, target q+1, closing the ring at q = n-1
                    qml.CNOT(wires=[q, (q + 1) % n])
    out = [qml.expval(qml.PauliZ(q)) for q in range(n)]
    if readout == "z_zz":
        out += [qml.expval(qml.PauliZ(q) @ qml.PauliZ(q + 1)) for q in range(n - 1)]
    return out


def reference(spec: CircuitSpec, angles, params, tasks) -> torch.Tensor:
    """(N, n_out): the reference circuit on default.qubit, one task at a time (its rows
    broadcast)."""
    dev = qml.device("default.qubit", wires=spec.n_qubits)
    qnode = qml.QNode(reference_circuit, dev, interface="torch")
    per_task = spec.conditioning.value == "per_task_weights"
    out = torch.zeros(len(angles), spec.n_outputs, dtype=DT)
    for k in tasks.unique().tolist():
        rows = tasks == k
        w = params["weights"][k] if per_task else params["weights"]
        t = None if per_task else params["task_angles"][k]
        z = qnode(spec.n_qubits, spec.n_layers, spec.ansatz.value, spec.rotation.value,
                  spec.reupload, spec.readout.value, angles[rows].T, w, t)
        out[rows] = torch.stack([torch.as_tensor(o) for o in z], dim=-1)
    return out


def case(spec: CircuitSpec, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    params = init_parameters(spec, generator=gen, dtype=DT)
    angles = (torch.rand(5, spec.n_qubits, generator=gen, dtype=DT) * 2 - 1) * math.pi
    tasks = torch.tensor([0, 1, 1, 0, 1])
    return angles, params, tasks


@pytest.mark.parametrize("device", ["default.qubit", "qattn.torch"])
@pytest.mark.parametrize("conditioning", CONDITIONINGS)
@pytest.mark.parametrize("ansatz", ANSATZE)
class TestAgainstReference:
    @pytest.mark.parametrize("n_qubits", [3, 4])
    def test_every_ansatz_and_conditioning(self, ansatz, conditioning, device, n_qubits):
        spec = CircuitSpec(n_qubits=n_qubits, n_layers=2, n_tasks=2, ansatz=ansatz,
                           conditioning=conditioning)
        angles, params, tasks = case(spec)
        got = expectations(build_qnode(spec, device=device), angles, select(spec, params, tasks))
        assert torch.allclose(got, reference(spec, angles, params, tasks), atol=1e-10, rtol=0)

    def test_reupload_x_embedding_and_zz_readout(self, ansatz, conditioning, device):
        spec = CircuitSpec(n_qubits=3, n_layers=3, n_tasks=2, ansatz=ansatz,
                           conditioning=conditioning, rotation="X", reupload=True,
                           readout="z_zz")
        angles, params, tasks = case(spec, seed=1)
        got = expectations(build_qnode(spec, device=device), angles, select(spec, params, tasks))
        assert torch.allclose(got, reference(spec, angles, params, tasks), atol=1e-10, rtol=0)

    def test_z_embedding(self, ansatz, conditioning, device):
        spec = CircuitSpec(n_qubits=3, n_layers=2, n_tasks=2, ansatz=ansatz,
                           conditioning=conditioning, rotation="Z")
        angles, params, tasks = case(spec, seed=2)
        got = expectations(build_qnode(spec, device=device), angles, select(spec, params, tasks))
        assert torch.allclose(got, reference(spec, angles, params, tasks), atol=1e-10, rtol=0)


class TestReferenceIsSensitive:
    """The reference itself tells a reversed ring from the right one (so the tests above can
    fail): at 3 qubits the two give ⟨Z⟩ that differ by far more than the tolerance."""

    def test_reversed_ring_differs(self):
        spec = CircuitSpec(n_qubits=3, n_layers=2, n_tasks=2)
        angles, params, tasks = case(spec)
        right = reference(spec, angles, params, tasks)

        def reversed_ring(n, *args):
            with qml.queuing.AnnotatedQueue() as q:
                out = reference_circuit(n, *args)
            for op in q.queue:
                if isinstance(op, qml.CNOT):
                    qml.CNOT(wires=op.wires[::-1])
                elif not isinstance(op, qml.measurements.MeasurementProcess):
                    qml.apply(op)
            return [qml.apply(m) for m in out]

        qnode = qml.QNode(reversed_ring, qml.device("default.qubit", wires=3), interface="torch")
        w = params["weights"]
        wrong = torch.stack([torch.stack(qnode(3, 2, "hardware_efficient", "Y", False, "z", a,
                                               w[k], None))
                             for a, k in zip(angles, tasks.tolist())])  # (N, Q)
        assert (right - wrong).abs().max() > 0.05


@pytest.mark.parametrize("device", ["default.qubit", "qattn.torch"])
class TestHandWorked:
    """Expectation values worked out on paper (Bloch-vector rotations), on both simulators.

    Rotations act on the Bloch vector as RX(t): (y, z) -> (y cos t - z sin t, y sin t + z cos t),
    RY(t): (x, z) -> (x cos t + z sin t, -x sin t + z cos t), RZ(t): (x, y) -> (x cos t - y sin t,
    x sin t + y cos t). Weights per wire are (RY angle, RZ angle); a layer applies RZ then RY.
    """

    def test_one_qubit_y_embedding(self, device, run):
        spec = CircuitSpec(n_qubits=1, n_layers=1)
        a, w = torch.tensor([[0.3], [1.9]], dtype=DT), torch.tensor([[[0.7, 2.1]]], dtype=DT)
        expected = z_after_y(a[:, 0], 2.1, 0.7)
        assert torch.allclose(run(spec, a, device, weights=w)[:, 0], expected, atol=1e-12)

    def test_one_qubit_y_embedding_without_rz_adds_angles(self, device, run):
        spec = CircuitSpec(n_qubits=1, n_layers=1)
        a, w = torch.tensor([[0.3], [1.9]], dtype=DT), torch.tensor([[[0.7, 0.0]]], dtype=DT)
        expected = torch.cos(a[:, 0] + 0.7)  # RY(a) then RY(w) is RY(a + w)
        assert torch.allclose(run(spec, a, device, weights=w)[:, 0], expected, atol=1e-12)

    def test_one_qubit_x_embedding(self, device, run):
        spec = CircuitSpec(n_qubits=1, n_layers=1, rotation="X")
        a, w = torch.tensor([[0.3], [-1.2]], dtype=DT), torch.tensor([[[0.7, 2.1]]], dtype=DT)
        # RX(a): (0, -sin a, cos a); RZ(2.1): x = sin a sin 2.1; RY(0.7)
        x = torch.sin(a[:, 0]) * math.sin(2.1)
        expected = -x * math.sin(0.7) + torch.cos(a[:, 0]) * math.cos(0.7)
        assert torch.allclose(run(spec, a, device, weights=w)[:, 0], expected, atol=1e-12)

    def test_one_qubit_z_embedding_starts_in_plus(self, device, run):
        spec = CircuitSpec(n_qubits=1, n_layers=1, rotation="Z")
        a, w = torch.tensor([[0.3], [2.5]], dtype=DT), torch.tensor([[[0.7, 2.1]]], dtype=DT)
        # H: (1, 0, 0); RZ(a) then RZ(2.1): x = cos(a + 2.1); RY(0.7)
        expected = -torch.cos(a[:, 0] + 2.1) * math.sin(0.7)
        assert torch.allclose(run(spec, a, device, weights=w)[:, 0], expected, atol=1e-12)

    def test_one_qubit_task_rotation(self, device, run):
        spec = CircuitSpec(n_qubits=1, n_layers=1, conditioning="task_rotations")
        a = torch.tensor([[0.3], [1.1]], dtype=DT)
        w, t = torch.tensor([[[0.7, 2.1]]], dtype=DT), torch.tensor([[0.4]], dtype=DT)
        # RY(a): (sin a, 0, cos a); RX(0.4): (sin a, -cos a sin .4, cos a cos .4); RZ(2.1); RY(.7)
        sa, ca = torch.sin(a[:, 0]), torch.cos(a[:, 0])
        x = sa * math.cos(2.1) + ca * math.sin(0.4) * math.sin(2.1)
        expected = -x * math.sin(0.7) + ca * math.cos(0.4) * math.cos(0.7)
        out = run(spec, a, device, weights=w, task_angles=t)[:, 0]
        assert torch.allclose(out, expected, atol=1e-12)

    def test_two_qubits_cnot_and_zz(self, device, run):
        spec = CircuitSpec(n_qubits=2, n_layers=1, readout="z_zz")
        a = torch.tensor([[0.3, -0.8], [1.4, 0.2]], dtype=DT)
        w = torch.tensor([[[0.5, 1.0], [-0.9, 0.3]]], dtype=DT)
        c0, c1 = z_after_y(a[:, 0], 1.0, 0.5), z_after_y(a[:, 1], 0.3, -0.9)
        # A product state, then CNOT(0,1): Z0 -> Z0, Z1 -> Z0 Z1 and Z0 Z1 -> Z1.
        expected = torch.stack([c0, c0 * c1, c1], dim=-1)
        assert torch.allclose(run(spec, a, device, weights=w), expected, atol=1e-12)

    def test_no_entanglement_is_a_product(self, device, run):
        spec = CircuitSpec(n_qubits=2, n_layers=1, ansatz="no_entanglement", readout="z_zz")
        a = torch.tensor([[0.3, -0.8]], dtype=DT)
        w = torch.tensor([[[0.5, 1.0], [-0.9, 0.3]]], dtype=DT)
        c0, c1 = z_after_y(a[:, 0], 1.0, 0.5), z_after_y(a[:, 1], 0.3, -0.9)
        expected = torch.stack([c0, c1, c0 * c1], dim=-1)
        assert torch.allclose(run(spec, a, device, weights=w), expected, atol=1e-12)

    def test_every_rotation_angle_moves_the_output(self, device, run):
        spec = CircuitSpec(n_qubits=3, n_layers=2, n_tasks=2, readout="z_zz")
        params = {k: v.requires_grad_() for k, v in init_parameters(spec, dtype=DT).items()}
        angles = torch.rand(8, 3, dtype=DT) * 2 - 1
        qnode = build_qnode(spec, device=device)
        expectations(qnode, angles, select(spec, params, 1)).pow(2).sum().backward()
        grad = params["weights"].grad[1]  # (L, Q, 2) of the task used
        assert (grad.abs() > 1e-8).all(), "a rotation angle has no effect on the readout"


class TestTemplates:
    def test_reupload_embeds_before_every_layer(self, run):
        spec = CircuitSpec(n_qubits=1, n_layers=2, reupload=True)
        a = torch.tensor([[0.3]], dtype=DT)
        w = torch.tensor([[[0.2, 0.0]], [[0.4, 0.0]]], dtype=DT)  # RZ angles 0
        assert torch.allclose(run(spec, a, weights=w)[:, 0],
                              torch.tensor([math.cos(2 * 0.3 + 0.6)], dtype=DT), atol=1e-12)
