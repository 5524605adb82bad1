"""Angle embedding: one rotation per wire, angle from the token's features."""

from __future__ import annotations

import pennylane as qml

from circuits.spec import Rotation

_GATES = {Rotation.X: qml.RX, Rotation.Y: qml.RY, Rotation.Z: qml.RZ}


def angle_embedding(angles, wires, rotation: Rotation) -> None:
    """Rotate wire q by angles[..., q] about `rotation`; a leading batch dim broadcasts.

    A Z rotation of |0> is only a phase, so for `Rotation.Z` each wire is first put in |+>
    with a Hadamard; otherwise the embedding would be invisible on the first layer.
    """
    gate = _GATES[rotation]
    for q, wire in enumerate(wires):
        if rotation is Rotation.Z:
            qml.Hadamard(wires=wire)
        gate(angles[..., q], wires=wire)
