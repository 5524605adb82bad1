"""Budget, dry run and retries: everything between a QNode and a paid device.

TestBudget is the one place budgets are tested: the limits themselves, and on each plugin
path (offline stand-ins) that a step past the budget is refused before anything is sent.
"""

import contextlib
import importlib.util

import pytest

from circuits import CircuitSpec, select
from circuits.hardware import (
    Budget, BudgetExceededError, Counts, ExecutionGuard, Retry, TransientDeviceError,
    build_hardware_qnode, plan_counts,
)

SPEC = CircuitSpec(n_qubits=2, n_layers=1)
PATHS = {  # device -> modules the path needs
    "braket.aws.qubit": ("braket.pennylane_plugin",),
    "ionq.qpu": ("pennylane_ionq",),
    "qiskit.estimator": ("qiskit_ibm_runtime", "qiskit_aer"),
}


@contextlib.contextmanager
def offline(device: str, monkeypatch):
    """(device options, list of what reached the provider) for `device`, offline."""
    import qpu_standins

    if device == "braket.aws.qubit":
        with qpu_standins.offline_braket() as standin:
            yield {"device_arn": qpu_standins.OFFLINE_ARN}, standin.submitted
    elif device == "ionq.qpu":
        with qpu_standins.offline_ionq() as standin:
            yield {}, standin.submitted
    else:
        import qiskit_ibm_runtime

        sent = []
        original = qiskit_ibm_runtime.EstimatorV2.run
        def run(self, pubs, *args, **kwargs):
            sent.append(pubs)
            return original(self, pubs, *args, **kwargs)

        monkeypatch.setattr(qiskit_ibm_runtime.EstimatorV2, "run", run)
        yield {"backend": qpu_standins.offline_ibm_backend(2)}, sent


class TestBudget:
    def test_refuses_past_a_limit(self):
        budget = Budget(max_jobs=3)
        budget.check(Counts(jobs=1), Counts(jobs=2), "x")
        with pytest.raises(BudgetExceededError, match=r"needs 3 jobs \(run total 4 > max_jobs=3\)"):
            budget.check(Counts(jobs=1), Counts(jobs=3), "x")
        with pytest.raises(BudgetExceededError, match=r"max_shots=10\); nothing was sent"):
            Budget(max_shots=10).check(Counts(), Counts(shots=11), "x")

    @pytest.mark.plugins
    @pytest.mark.parametrize("device", sorted(PATHS))
    def test_step_past_the_budget_sends_nothing(self, device, monkeypatch, inputs):
        for module in PATHS[device]:
            if importlib.util.find_spec(module) is None:
                pytest.skip(f"needs {module}")
        planned = plan_counts(SPEC, 3, "parameter-shift", 100, device, True, 100)
        guard = ExecutionGuard(budget=Budget(max_jobs=planned.jobs - 1))
        with offline(device, monkeypatch) as (options, sent):
            qnode = build_hardware_qnode(SPEC, device, shots=100, diff_method="parameter-shift",
                                         device_options=options, guard=guard)
            angles, params = inputs(SPEC, 3)
            with pytest.raises(BudgetExceededError,
                               match=rf"training step needs {planned.jobs} jobs"):
                qnode(angles, **select(SPEC, params, 0))
        assert sent == [] and guard.spent == Counts()


class TestRetry:
    def test_submit_retries_transient_errors_with_backoff(self):
        waits, calls = [], []
        guard = ExecutionGuard(retry=Retry(max_attempts=3, backoff_s=1.0), sleep=waits.append)

        def flaky():
            calls.append(1)
            if len(calls) < 3:
                raise TransientDeviceError("queue unavailable")
            return "ok"

        assert guard.submit(Counts(1, 1, 10, 1), flaky) == "ok"
        assert waits == [1.0, 2.0] and guard.spent == Counts(3, 3, 30, 3)

    def test_submit_gives_up(self):
        guard = ExecutionGuard(retry=Retry(max_attempts=2, backoff_s=0.0), sleep=lambda s: None)
        with pytest.raises(ConnectionError):
            guard.submit(Counts(jobs=1), lambda: (_ for _ in ()).throw(ConnectionError("down")))
        with pytest.raises(ValueError):  # not transient: no retry
            guard.submit(Counts(jobs=1), lambda: (_ for _ in ()).throw(ValueError("bad")))
        assert guard.spent.jobs == 3

    def test_is_transient(self):
        assert Retry.is_transient(TimeoutError()) and not Retry.is_transient(KeyError())
