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
                qml.RZ(w[layer, q, 0], wires=q)  # Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)
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
