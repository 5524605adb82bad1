"""braket.aws.qubit through the real plugin, with AwsDevice backed by Braket's LocalSimulator.

Statistical tolerance: with S shots an estimated ⟨Z⟩ has σ ≤ 1/√S, a parameter-shift
derivative of a sum of n_out outputs σ ≤ n_out/√(2S); outputs and gradients must agree with
exact default.qubit within 5σ (a false failure has probability < 1e-6 per value).
"""

import math

import pennylane as qml
import pytest
import torch

pytest.importorskip("braket.pennylane_plugin")

from qpu_standins import OFFLINE_ARN, offline_braket  # noqa: E402

from circuits import CircuitSpec, build_qnode, expectations, select  # noqa: E402
from circuits.hardware import (  # noqa: E402
    Counts, ExecutionGuard, build_hardware_qnode, estimate_cost, plan_counts,
)

pytestmark = pytest.mark.plugins

SPEC = CircuitSpec(n_qubits=2, n_layers=1)
SHOTS = 2000
N_ROWS = 3
DEVICE = "braket.aws.qubit"
SEED = 7






@pytest.fixture(scope="module")
def exact(inputs, step):
    return step(build_qnode(SPEC, "default.qubit", diff_method="backprop"), SPEC,
                *inputs(SPEC, N_ROWS, SEED))


@pytest.fixture(scope="module")
def hardware_step(inputs, step):
    with offline_braket() as standin:
        guard = ExecutionGuard()
        qnode = build_hardware_qnode(SPEC, DEVICE, shots=SHOTS, diff_method="parameter-shift",
                                     device_options={"device_arn": OFFLINE_ARN}, guard=guard)
        with qml.Tracker(qnode.device) as tracker:
            result = step(qnode, SPEC, *inputs(SPEC, N_ROWS, SEED))
        return result, guard, tracker, list(standin.submitted), qnode.max_executables


class TestHardwarePath:
    def test_outputs_match_exact(self, hardware_step, exact):
        (z, _, _), *_ = hardware_step
        assert torch.allclose(z, exact[0], atol=5 / math.sqrt(SHOTS))

    def test_parameter_shift_gradients_match_exact(self, hardware_step, exact):
        (_, g_angles, g_weights), *_ = hardware_step
        sigma = SPEC.n_outputs / math.sqrt(2 * SHOTS)
        assert torch.allclose(g_angles, exact[1], atol=5 * sigma)
        assert torch.allclose(g_weights["weights"], exact[2]["weights"], atol=5 * sigma * N_ROWS)


class TestCounts:
    def test_training_step_counts_equal_tracker(self, hardware_step):
        _, guard, tracker, submitted, max_exec = hardware_step
        planned = plan_counts(SPEC, N_ROWS, "parameter-shift", SHOTS, DEVICE, True, max_exec)
        assert max_exec == 100  # LocalSimulator's program-set size, read from the device
        assert planned == guard.spent == Counts(3 + 36, 2, 39 * SHOTS, 2)
        assert tracker.totals["executions"] == planned.circuits
        assert tracker.totals["shots"] == planned.shots
        assert tracker.totals["batches"] == planned.batches
        assert len(submitted) == planned.jobs  # tasks the (stand-in) AWS received
        assert all(kind == "program_set" for kind, _ in submitted)

    def test_forward_counts_equal_tracker(self, inputs):
        with offline_braket() as standin, torch.no_grad():
            guard = ExecutionGuard()
            qnode = build_hardware_qnode(SPEC, DEVICE, shots=100, diff_method="parameter-shift",
                                         device_options={"device_arn": OFFLINE_ARN}, guard=guard)
            angles, params = inputs(SPEC, N_ROWS, SEED)
            with qml.Tracker(qnode.device) as tracker:
                expectations(qnode, angles, select(SPEC, params, 0))
        planned = plan_counts(SPEC, N_ROWS, "parameter-shift", 100, DEVICE, False, 100)
        assert planned == guard.spent == Counts(3, 1, 300, 1)
        assert (tracker.totals["executions"], tracker.totals["shots"]) == (3, 300)
        assert len(standin.submitted) == 1


class TestDryRunAndLimits:
    def test_dry_run_counts_without_sending(self, inputs):
        with offline_braket() as standin:
            guard = ExecutionGuard(dry_run=True)
            qnode = build_hardware_qnode(SPEC, DEVICE, shots=100, diff_method="parameter-shift",
                                         device_options={"device_arn": OFFLINE_ARN}, guard=guard)
            angles, params = inputs(SPEC, N_ROWS, SEED)
            z = expectations(qnode, angles, select(SPEC, params, 0))
            z.sum().backward()
        assert standin.submitted == []
        assert guard.spent == plan_counts(SPEC, N_ROWS, "parameter-shift", 100, DEVICE, True, 100)

    def test_program_set_shot_limit_is_checked_before_sending(self, inputs):
        with offline_braket() as standin:  # LocalSimulator: 200,000 shots per program set
            qnode = build_hardware_qnode(SPEC, DEVICE, shots=100_000,
                                         diff_method="parameter-shift",
                                         device_options={"device_arn": OFFLINE_ARN},
                                         guard=ExecutionGuard())
            angles, params = inputs(SPEC, N_ROWS, SEED)
            with pytest.raises(ValueError, match="shots per circuit must be at most 5555"):
                expectations(qnode, angles, select(SPEC, params, 0))  # 36 gradient circuits
        assert standin.submitted == []


class TestLocalSimulator:
    """braket.local.qubit sends one LocalSimulator task per circuit: the estimate, the guard
    and the simulator's own record of runs agree."""

    def test_estimate_equals_what_is_sent(self, monkeypatch, inputs, step):
        from braket.devices import LocalSimulator

        runs = []
        original = LocalSimulator.run
        def run(self, task, *args, **kwargs):
            runs.append(task)
            return original(self, task, *args, **kwargs)

        monkeypatch.setattr(LocalSimulator, "run", run)
        guard = ExecutionGuard()
        qnode = build_hardware_qnode(SPEC, "braket.local.qubit", shots=100,
                                     diff_method="parameter-shift", guard=guard)
        step(qnode, SPEC, *inputs(SPEC, N_ROWS, SEED))
        estimate = estimate_cost(SPEC, N_ROWS, "parameter-shift", 100, "braket.local.qubit")
        assert estimate.step == guard.spent == Counts(39, 39, 3900, 2)
        assert len(runs) == estimate.step.jobs
