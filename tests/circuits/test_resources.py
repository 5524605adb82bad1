"""Resource counts and drawings (on the QNode build_qnode makes)."""

from circuits import CircuitSpec, draw, resources


class TestInspection:
    def test_resources_count_gates(self):
        res = resources(CircuitSpec(n_qubits=3, n_layers=2, n_tasks=2))
        # per layer: 3 RY + 3 RZ + 3 CNOT (ring); plus 3 RY embedding
        assert res["gate_counts"] == {"CNOT": 6, "RY": 9, "RZ": 6}
        assert res["n_parameters"] == 2 * 2 * 3 * 2
        assert res["n_outputs"] == 3

    def test_draw_mentions_every_wire(self):
        text = draw(CircuitSpec(n_qubits=2, n_layers=1))
        assert text.count("<Z>") == 2 and "RY" in text and "╭●" in text
