"""What the circuit measures: Pauli-Z on every wire, optionally ZZ on neighbours."""

from __future__ import annotations

import pennylane as qml

from circuits.spec import CircuitSpec, Readout


def readout(spec: CircuitSpec) -> list:
    """Measurements in output order: ⟨Z_q⟩ for every wire, then ⟨Z_q Z_{q+1}⟩ if asked."""
    measurements = [qml.expval(qml.PauliZ(q)) for q in spec.wires]
    if spec.readout is Readout.Z_ZZ:
        measurements += [qml.expval(qml.PauliZ(a) @ qml.PauliZ(b)) for a, b in spec.neighbour_pairs]
    return measurements
