"""Cost model: gate parameters, circuits, jobs and shots per forward and per step, prices."""

import pytest

from circuits import CircuitSpec
from circuits.hardware import Counts, PriceTable, estimate_cost, gate_parameters

STRONG = CircuitSpec(n_qubits=4, n_layers=2, ansatz="strongly_entangling")


class TestGateParameters:
    @pytest.mark.parametrize("spec, expected", [
        (CircuitSpec(), 4 + 2 * 4 * 2),  # embedding + RY, RZ per wire per layer
        (STRONG, 4 + 2 * 4 * 3),  # Rot = RZ RY RZ
        (CircuitSpec(conditioning="task_rotations", n_tasks=2), 4 + 16 + 8),
        (CircuitSpec(reupload=True), 2 * 4 + 16),
    ])
    def test_counts(self, spec, expected):
        assert gate_parameters(spec) == expected

    def test_frozen_circuit_leaves_angles(self):
        assert gate_parameters(CircuitSpec(), trainable=("angles",)) == 4


class TestEstimate:
    def test_parameter_shift_step_is_rows_times_one_plus_2p(self):
        est = estimate_cost(STRONG, 8, "parameter-shift", 1000, "qiskit.remote")
        assert est.gate_parameters == 28
        assert est.step == Counts(circuits=456, jobs=456, shots=456_000, batches=2)
        assert est.forward == Counts(circuits=8, jobs=8, shots=8000, batches=1)

    @pytest.mark.parametrize("device, jobs", [
        ("braket.aws.qubit", 1 + 5),  # program sets of 100: 8 and 448 circuits
        ("braket.local.qubit", 456),  # one LocalSimulator task per circuit
        ("qiskit.remote", 456),  # one Estimator job per circuit
        ("ionq.qpu", 2),  # one multi-circuit job per batch
        ("qiskit.estimator", 1),  # native: forward and shifts in one PUB
    ])
    def test_jobs_per_plugin(self, device, jobs):
        assert estimate_cost(STRONG, 8, device=device).step.jobs == jobs

    def test_spsa_and_finite_diff(self):
        spec = CircuitSpec()
        assert estimate_cost(spec, 5, "spsa", device="ionq.qpu").step.circuits == 5 + 10
        assert estimate_cost(spec, 5, "finite-diff", device="ionq.qpu").step.circuits == 5 * 22

    def test_price(self):
        table = PriceTable(per_task=0.3, per_shot=0.00035)
        est = estimate_cost(STRONG, 8, device="braket.aws.qubit", price_table=table)
        assert est.step_price == pytest.approx(6 * 0.3 + 456_000 * 0.00035)
        assert est.forward_price == pytest.approx(0.3 + 8000 * 0.00035)
        assert estimate_cost(STRONG, 8, price_table={"per_task": 1.0}).currency == "USD"
        assert estimate_cost(STRONG, 8).step_price is None

    @pytest.mark.parametrize("kwargs, match", [
        ({"diff_method": "adjoint"}, "diff_method must be one of"),
        ({"shots": 0}, "shots must be a positive int"),
        ({"batch_tokens": -1}, "batch_tokens must be a non-negative int"),
    ])
    def test_errors(self, kwargs, match):
        args = {"spec": STRONG, "batch_tokens": 8, **kwargs}
        with pytest.raises(ValueError, match=match):
            estimate_cost(**args)
