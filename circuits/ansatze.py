"""Variational blocks, one function per ansatz, each with a `*_shape(n_layers, n_qubits)`.

Each `*_layer(weights, wires, layer)` applies one layer; `weights` is that layer's slice,
shape `shape[1:]`, optionally with a leading batch dimension (one set of weights per row).
"""

from __future__ import annotations

import pennylane as qml

from circuits.spec import Ansatz


def rotations_shape(n_layers: int, n_qubits: int) -> tuple[int, ...]:
    """(L, Q, 2): an RY angle ([..., 0]) and an RZ angle ([..., 1]) per wire per layer."""
    return (n_layers, n_qubits, 2)


def _rz_ry(weights, wires) -> None:
    # RZ first, then RY: diagonal gates after the last RY (and CNOTs, which only permute basis
    # states) cannot change a Z readout, so RY-then-RZ would leave the last layer's RZ
    # angles with no effect on the output, and no gradient.
    for q, wire in enumerate(wires):
        qml.RZ(weights[..., q, 1], wires=wire)
        qml.RY(weights[..., q, 0], wires=wire)


def cnot_ring(wires) -> None:
    """CNOT(q, q+1) around the ring; two wires get a single CNOT, one wire none."""
    n = len(wires)
    if n == 2:
        qml.CNOT(wires=[wires[0], wires[1]])
    elif n > 2:
        for q in range(n):
            qml.CNOT(wires=[wires[q], wires[(q + 1) % n]])


def hardware_efficient_layer(weights, wires, layer: int) -> None:
    """RZ then RY on every wire, then a CNOT ring."""
    _rz_ry(weights, wires)
    cnot_ring(wires)


def no_entanglement_layer(weights, wires, layer: int) -> None:
    """RZ then RY on every wire and nothing else: the product-state ablation."""
    _rz_ry(weights, wires)


def strongly_entangling_shape(n_layers: int, n_qubits: int) -> tuple[int, ...]:
    """(L, Q, 3), as `qml.StronglyEntanglingLayers.shape`."""
    return qml.StronglyEntanglingLayers.shape(n_layers=n_layers, n_wires=n_qubits)


def strongly_entangling_layer(weights, wires, layer: int) -> None:
    """Layer `layer` of `qml.StronglyEntanglingLayers` (same entangler range as the template)."""
    n = len(wires)
    ranges = [(layer % (n - 1)) + 1] if n > 1 else None
    qml.StronglyEntanglingLayers(weights[..., None, :, :], wires=wires, ranges=ranges)


# ansatz -> (weight shape function, one-layer function)
ANSATZE = {
    Ansatz.HARDWARE_EFFICIENT: (rotations_shape, hardware_efficient_layer),
    Ansatz.STRONGLY_ENTANGLING: (strongly_entangling_shape, strongly_entangling_layer),
    Ansatz.NO_ENTANGLEMENT: (rotations_shape, no_entanglement_layer),
}


def ansatz_shape(ansatz: Ansatz, n_layers: int, n_qubits: int) -> tuple[int, ...]:
    """Weight shape of `ansatz` for one task."""
    shape_fn, _ = ANSATZE[ansatz]
    return tuple(shape_fn(n_layers, n_qubits))
