"""The circuit, written once as a PennyLane quantum function; every device runs this one."""

from __future__ import annotations

from circuits.ansatze import ANSATZE
from circuits.conditioning import task_rotation
from circuits.embeddings import angle_embedding
from circuits.readout import readout
from circuits.spec import CircuitSpec, Conditioning


def make_circuit(spec: CircuitSpec):
    """The quantum function `circuit(angles, weights, task_angles=None)` for `spec`.

    angles: (Q,) or (N, Q); weights: one task's ansatz weights, optionally (N, ...) per row;
    task_angles: (L, Q) or (N, L, Q), only for task rotations. Returns the readout list.
    """
    variational_layer = make_variational_layer(spec)

    def circuit(angles, weights, task_angles=None):
        for layer in range(spec.n_layers):
            if layer == 0 or spec.reupload:
                angle_embedding(angles, spec.wires, spec.rotation)
            variational_layer(layer, weights, task_angles)
        return readout(spec)

    return circuit


def make_variational_layer(spec: CircuitSpec):
    """`layer_fn(layer, weights, task_angles=None)`: layer `layer` of the circuit after its
    embedding (the task's rotation, if any, then the ansatz layer)."""
    _, ansatz_layer = ANSATZE[spec.ansatz]
    rotates = spec.conditioning is Conditioning.TASK_ROTATIONS

    def variational_layer(layer, weights, task_angles=None):
        if rotates and task_angles is None:
            raise ValueError("task_angles must be given for conditioning 'task_rotations'; "
                             "got None")
        if rotates:
            task_rotation(task_angles[..., layer, :], spec.wires)
        ansatz_layer(weights[..., layer, :, :], spec.wires, layer)

    return variational_layer


def make_variational(spec: CircuitSpec):
    """`variational(weights, task_angles=None)`: every layer after the first embedding, i.e.
    the circuit's angle-independent unitary when `spec.reupload` is False (circuits.fold)."""
    variational_layer = make_variational_layer(spec)

    def variational(weights, task_angles=None):
        for layer in range(spec.n_layers):
            variational_layer(layer, weights, task_angles)

    return variational
