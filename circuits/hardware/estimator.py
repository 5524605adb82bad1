"""The native Qiskit Runtime path: a whole step as one Estimator PUB.

`qiskit.remote` sends one Estimator job per circuit. Here the circuit is translated once
into a parametric Qiskit circuit (from the same PennyLane template every device runs,
decomposed to RX, RY, RZ, Hadamard, CNOT), transpiled once for the backend, and a call on
N rows becomes a single PUB `(circuit, observables (1, n_out), values (N, 1, P))`.
In a training step the parameter-shift rows (x ± π/2·e_j for every gate parameter j) go in
the same PUB, so forward and gradient cost one job; backward is a product with the saved
Jacobian and sends nothing. With `dedup`, identical parameter rows are sent once and their
results gathered back to every row, so each row keeps its own exact Jacobian.
"""

from __future__ import annotations

import math

import numpy as np
import pennylane as qml
import torch

from circuits.conditioning import parameter_shapes
from circuits.hardware.cost import GATE_SET
from circuits.hardware.guard import Counts, ExecutionGuard
from circuits.spec import CircuitSpec, Conditioning
from circuits.templates import make_circuit

SHIFT = math.pi / 2  # two-term shift rule of RX, RY, RZ: d/dθ f = (f(θ+s) - f(θ-s)) / 2


def decomposed_tape(spec: CircuitSpec, angles, weights, task_angles=None):
    """The circuit's tape for these arguments, in the gate set every backend runs."""
    tape = qml.tape.make_qscript(make_circuit(spec))(angles, weights, task_angles)
    [tape], _ = qml.transforms.decompose(tape, gate_set=GATE_SET)
    return tape


def parameter_matrix(tape, n_rows: int) -> torch.Tensor:
    """(N, P): every gate parameter of `tape` per row, differentiable w.r.t. the inputs."""
    columns = [torch.as_tensor(p).expand(n_rows) for op in tape.operations for p in op.data]
    return torch.stack(columns, dim=1)


def pauli_labels(spec: CircuitSpec) -> list[str]:
    """The readout as Qiskit Pauli labels (qubit 0 rightmost), in output order."""
    q = spec.n_qubits
    labels = ["".join("Z" if w == k else "I" for w in reversed(range(q))) for k in range(q)]
    pairs = [(a, b) for a, b in spec.neighbour_pairs] if spec.n_outputs > q else []
    labels += ["".join("Z" if w in pair else "I" for w in reversed(range(q))) for pair in pairs]
    return labels


def qiskit_circuit(tape, n_qubits: int):
    """A parametric QuantumCircuit with one Parameter per gate parameter of `tape`."""
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    n_params = sum(len(op.data) for op in tape.operations)
    theta = ParameterVector("theta", n_params)
    qc, k = QuantumCircuit(n_qubits), 0
    for op in tape.operations:
        wires = op.wires.tolist()
        if op.name in ("RX", "RY", "RZ"):
            getattr(qc, op.name.lower())(theta[k], wires[0])
            k += 1
        elif op.name == "Hadamard":
            qc.h(wires[0])
        elif op.name == "CNOT":
            qc.cx(wires[0], wires[1])
        else:
            raise ValueError(f"operation must be one of {sorted(GATE_SET)}; got {op.name}")
    return qc


class _EstimatorFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, node):  # x (N, P) -> (N, n_out)
        grad = ctx.needs_input_grad[0]
        values = x.detach().cpu().double().numpy()
        evs, jac = node.run(values, with_jacobian=grad)
        ctx.save_for_backward(torch.as_tensor(jac, dtype=x.dtype) if grad else x.new_empty(0))
        return torch.as_tensor(evs, dtype=x.dtype, device=x.device)

    @staticmethod
    def backward(ctx, dy):  # dy (N, n_out) -> (N, P)
        (jac,) = ctx.saved_tensors  # (N, n_out, P)
        return torch.einsum("no,nop->np", dy, jac.to(dy.device)), None


class EstimatorNode:
    """`node(angles, weights, task_angles=None)` -> tuple of n_out tensors (N,), like a QNode."""

    diff_method = "parameter-shift"

    def __init__(self, spec: CircuitSpec, backend, shots: int, session=None,
                 optimization_level: int = 1, seed: int | None = None,
                 guard: ExecutionGuard | None = None):
        from qiskit.quantum_info import SparsePauliOp
        from qiskit.transpiler import generate_preset_pass_manager

        if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
            raise ValueError(f"shots must be a positive int for 'qiskit.estimator'; got {shots!r}")
        self.spec, self.backend, self.shots = spec, backend, shots
        self.session, self.seed, self.guard = session, seed, guard
        weights = torch.zeros(_weight_shape(spec), dtype=torch.float64)
        tape = decomposed_tape(spec, torch.zeros(spec.n_qubits), weights, _task_zero(spec))
        pm = generate_preset_pass_manager(backend=backend, optimization_level=optimization_level)
        self.circuit = pm.run(qiskit_circuit(tape, spec.n_qubits))
        layout = self.circuit.layout
        self.observables = [[SparsePauliOp(lbl).apply_layout(layout) for lbl in pauli_labels(spec)]]
        self.history: list[Counts] = []  # one entry per job sent
        self.dedup = False  # identical parameter rows sent once, results gathered back

    @property
    def device(self):
        return self

    def __call__(self, angles, weights, task_angles=None):
        n_rows = angles.shape[0] if angles.dim() > 1 else 1
        x = parameter_matrix(decomposed_tape(self.spec, angles, weights, task_angles), n_rows)
        z = _EstimatorFunction.apply(x, self)  # (N, n_out)
        return tuple(z.unbind(-1))

    def run(self, values: np.ndarray, with_jacobian: bool):
        """One job: values (N, P), plus the ±shift rows when a Jacobian is wanted."""
        n, p = values.shape
        rows = [values]
        if with_jacobian:
            eye = np.eye(p) * SHIFT  # (P, P)
            rows += [(values[:, None, :] + eye).reshape(-1, p),
                     (values[:, None, :] - eye).reshape(-1, p)]
        stacked = np.concatenate(rows)  # (N·(1+2P), P)
        inverse = None
        if self.dedup:  # each distinct row sent once; every row gets its own result
            stacked, inverse = np.unique(stacked, axis=0, return_inverse=True)
        planned = Counts(len(stacked), 1, len(stacked) * self.shots, 1)
        if self.guard is not None and self.guard.dry_run:
            self.guard.submit(planned, lambda: None)
            evs = np.zeros((len(stacked), self.spec.n_outputs))
        elif self.guard is not None:
            evs = self.guard.submit(planned, lambda: self._send(stacked))
        else:
            evs = self._send(stacked)
        if inverse is not None:
            evs = evs[inverse.reshape(-1)]
        self.history.append(planned)
        if not with_jacobian:
            return evs[:n], None
        plus = evs[n:n + n * p].reshape(n, p, -1)
        minus = evs[n + n * p:].reshape(n, p, -1)
        return evs[:n], ((plus - minus) / 2).transpose(0, 2, 1)  # (N, n_out, P)

    def _send(self, values: np.ndarray) -> np.ndarray:
        from qiskit_ibm_runtime import EstimatorV2

        options = {"simulator": {"seed_simulator": self.seed}} if self.seed is not None else {}
        estimator = EstimatorV2(mode=self.session or self.backend, options=options)
        # ceil(1/precision²) shots: a hair above 1/√shots so that rounding gives `shots`.
        precision = (1 + 1e-9) / math.sqrt(self.shots)
        pub = (self.circuit, self.observables, values[:, None, :])
        return np.asarray(estimator.run([pub], precision=precision).result()[0].data.evs)


def _weight_shape(spec: CircuitSpec) -> tuple[int, ...]:
    """One task's weights (the shape `select` hands the circuit)."""
    shape = parameter_shapes(spec)["weights"]
    return shape[1:] if spec.conditioning is Conditioning.PER_TASK_WEIGHTS else shape


def _task_zero(spec: CircuitSpec):
    shapes = parameter_shapes(spec)
    return torch.zeros(shapes["task_angles"][1:]) if "task_angles" in shapes else None
