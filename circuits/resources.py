"""What a circuit costs to run and what it looks like: resource counts and drawings.

Both inspect the QNode `build_qnode` makes on `default.qubit` (exact, decomposed to the
gates the device runs), so they describe exactly the circuit every device runs.
"""

from __future__ import annotations

import pennylane as qml

from circuits.build import build_qnode, example_arguments
from circuits.conditioning import n_parameters
from circuits.spec import CircuitSpec


def _one_token(spec: CircuitSpec):
    """(QNode on default.qubit, arguments of one unbroadcast token of task 0)."""
    args = example_arguments(spec, n_rows=1)
    args["angles"] = args["angles"][0]  # one token, unbroadcast
    return build_qnode(spec, device="default.qubit", diff_method="backprop"), args


def resources(spec: CircuitSpec) -> dict:
    """Per-token resources: gate counts by name, depth, wires, trainable parameters, outputs."""
    qnode, args = _one_token(spec)
    res = qml.specs(qnode, level="device")(**args).resources
    return {
        "n_qubits": spec.n_qubits,
        "n_layers": spec.n_layers,
        "n_tasks": spec.n_tasks,
        "gate_counts": dict(sorted(res.gate_types.items())),
        "n_gates": res.num_gates,
        "depth": res.depth,
        "n_parameters": n_parameters(spec),
        "n_outputs": spec.n_outputs,
    }


def draw(spec: CircuitSpec, decimals: int | None = None) -> str:
    """Text drawing of the circuit for one token (task 0)."""
    qnode, args = _one_token(spec)
    return qml.draw(qnode, decimals=decimals, level="device")(**args)
