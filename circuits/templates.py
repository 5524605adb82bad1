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
    _, layer_fn = ANSATZE[spec.ansatz]
    wires = spec.wires
    rotates = spec.conditioning is Conditioning.TASK_ROTATIONS

    def circuit(angles, weights, task_angles=None):
        if rotates and task_angles is None:
            raise ValueError("task_angles must be given for conditioning 'task_rotations'; got None")
        for layer in range(spec.n_layers):
            if layer == 0 or spec.reupload:
                angle_embedding(angles, wires, spec.rotation)
            if rotates:
                task_rotation(task_angles[..., layer, :], wires)
            layer_fn(weights[..., layer, :, :], wires, layer)
        return readout(spec)

    return circuit
