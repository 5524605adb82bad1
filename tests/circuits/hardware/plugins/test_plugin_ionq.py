"""ionq.qpu through the real plugin, with its Job client replaced by a fake that simulates
the submitted circuit JSON (seeded multinomial sampling with the job's shots).

Tolerance as elsewhere: 5σ with σ ≤ 1/√S for ⟨Z⟩ and n_out/√(2S) for a derivative.
Also the resumable evaluation (on-disk cache) and retries, which are plugin-independent but
are exercised here on a real plugin's execute path because this stand-in is fast.
"""

import math

import pennylane as qml
import pytest
import torch

pytest.importorskip("pennylane_ionq")

from qpu_standins import FakeIonQJob, offline_ionq  # noqa: E402

from circuits import CircuitSpec, build_qnode, expectations, select  # noqa: E402
from circuits.hardware import (  # noqa: E402
    Counts, ExecutionGuard, Retry, build_hardware_qnode, plan_counts,
)

pytestmark = pytest.mark.plugins

SPEC = CircuitSpec(n_qubits=3, n_layers=2, conditioning="task_rotations", n_tasks=2)
SHOTS = 2000
N_ROWS = 4
SEED = 5
TASKS = torch.tensor([0, 1, 1, 0])






def ionq_qnode(guard, shots=SHOTS):
    return build_hardware_qnode(SPEC, "ionq.qpu", shots=shots, diff_method="parameter-shift",
                                guard=guard)


class TestHardwarePath:
    def test_training_step(self, inputs, step):
        exact = step(build_qnode(SPEC, "default.qubit", diff_method="backprop"), SPEC,
                     *inputs(SPEC, N_ROWS, SEED), TASKS)
        with offline_ionq() as standin:
            guard = ExecutionGuard()
            qnode = ionq_qnode(guard)
            with qml.Tracker(qnode.device) as tracker:
                z, g_angles, grads = step(qnode, SPEC, *inputs(SPEC, N_ROWS, SEED), TASKS)
        sigma = SPEC.n_outputs / math.sqrt(2 * SHOTS)
        assert torch.allclose(z, exact[0], atol=5 / math.sqrt(SHOTS))
        assert torch.allclose(g_angles, exact[1], atol=5 * sigma)
        assert torch.allclose(grads["task_angles"], exact[2]["task_angles"],
                              atol=5 * sigma * N_ROWS)
        planned = plan_counts(SPEC, N_ROWS, "parameter-shift", SHOTS, "ionq.qpu", True)
        p = 3 + 12 + 6  # embedding, RY/RZ per wire per layer, task RX per wire per layer
        assert planned == guard.spent == Counts(N_ROWS * (1 + 2 * p), 2,
                                                N_ROWS * (1 + 2 * p) * SHOTS, 2)
        assert tracker.totals["executions"] == planned.circuits
        assert tracker.totals["shots"] == planned.shots
        assert tracker.totals["batches"] == planned.batches
        assert len(standin.submitted) == planned.jobs
        assert [len(job["input"]["circuits"]) for job in standin.submitted] == [4, 4 * 2 * p]


class TestResume:
    def test_finished_batches_are_not_rerun(self, tmp_path, inputs):
        angles, params = inputs(SPEC, 6, SEED)
        batches = [angles[i:i + 2].detach() for i in range(0, 6, 2)]
        args = {k: v.detach() for k, v in select(SPEC, params, 1).items()}
        with offline_ionq(seed=1) as standin:
            first = ionq_qnode(ExecutionGuard(cache_dir=str(tmp_path)))
            done = [expectations(first, b, args) for b in batches[:2]]  # then "crash"
            assert len(standin.submitted) == 2
            guard = ExecutionGuard(cache_dir=str(tmp_path))
            again = [expectations(ionq_qnode(guard), b, args) for b in batches]
        assert len(standin.submitted) == 3  # only the unfinished batch was sent
        assert guard.spent == Counts(2, 1, 2 * SHOTS, 1) and guard.cache.hits == 4
        for a, b in zip(done, again):
            assert torch.equal(a, b)  # the stored results, bit for bit


class TestRetry:
    def test_transient_failure_is_retried(self, monkeypatch, inputs):
        failures = [ConnectionError("IonQ API unreachable")]
        create = FakeIonQJob.create

        def flaky_create(self, **job):
            if failures:
                raise failures.pop()
            return create(self, **job)

        monkeypatch.setattr(FakeIonQJob, "create", flaky_create)
        waits = []
        with offline_ionq() as standin:
            guard = ExecutionGuard(retry=Retry(backoff_s=0.5), sleep=waits.append)
            angles, params = inputs(SPEC, 2, SEED)
            with torch.no_grad():
                z = expectations(ionq_qnode(guard, shots=100), angles, select(SPEC, params, 0))
        assert z.shape == (2, 3) and waits == [0.5] and len(standin.submitted) == 1
        assert guard.spent.jobs == 2  # the failed attempt counts against the budget


class TestOtherGradients:
    @pytest.mark.parametrize("method", ["spsa", "finite-diff"])
    def test_counts_equal_tracker(self, method, inputs, step):
        with offline_ionq() as standin:
            guard = ExecutionGuard()
            qnode = build_hardware_qnode(SPEC, "ionq.qpu", shots=100, diff_method=method,
                                         guard=guard)
            with qml.Tracker(qnode.device) as tracker:
                step(qnode, SPEC, *inputs(SPEC, N_ROWS, SEED), TASKS)
        planned = plan_counts(SPEC, N_ROWS, method, 100, "ionq.qpu", True)
        assert planned == guard.spent
        assert (tracker.totals["executions"], tracker.totals["shots"]) == (planned.circuits,
                                                                           planned.shots)
        assert len(standin.submitted) == planned.jobs == 2
