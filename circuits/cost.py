"""Resource counts and drawings of a circuit specification."""

from __future__ import annotations

import pennylane as qml

from circuits.build import example_arguments
from circuits.conditioning import n_parameters
from circuits.devices import make_device
from circuits.spec import CircuitSpec
from circuits.templates import make_circuit


def _reference_qnode(spec: CircuitSpec):
    """The circuit on `default.qubit`, decomposed to gates, for counting and drawing."""
    dev = make_device("default.qubit", spec.n_qubits)
    return qml.QNode(make_circuit(spec), dev, interface="torch")


def resources(spec: CircuitSpec) -> dict:
    """Per-token resources: gate counts by name, depth, wires, trainable parameters, outputs."""
    args = example_arguments(spec, n_rows=1)
    args["angles"] = args["angles"][0]  # one token, unbroadcast
    specs = qml.specs(_reference_qnode(spec), level="device")(**args)
    res = specs.resources
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
    args = example_arguments(spec, n_rows=1)
    args["angles"] = args["angles"][0]
    return qml.draw(_reference_qnode(spec), decimals=decimals, level="device")(**args)
