"""Hardware path without plugins: cost model, budget, retries, cache, deduplication, profiles."""

import os

import pennylane as qml
import pytest
import torch

from circuits import CircuitSpec, build_qnode, expectations, init_parameters, select
from circuits.hardware import (
    Budget, BudgetExceededError, Counts, ExecutionGuard, PriceTable, ResultCache, Retry,
    TransientDeviceError, dedup_expectations, estimate_cost, gate_parameters, tape_key,
    unique_rows, unique_rows_count,
)
from circuits.hardware.profiles import PluginProfile, get_profile

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


class TestBudget:
    def test_refuses_past_a_limit(self):
        budget = Budget(max_jobs=3)
        budget.check(Counts(jobs=1), Counts(jobs=2), "x")
        with pytest.raises(BudgetExceededError, match=r"needs 3 jobs \(run total 4 > max_jobs=3\)"):
            budget.check(Counts(jobs=1), Counts(jobs=3), "x")
        with pytest.raises(BudgetExceededError, match=r"max_shots=10\); nothing was sent"):
            Budget(max_shots=10).check(Counts(), Counts(shots=11), "x")

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


class TestCache:
    def test_round_trip_and_atomic(self, tmp_path):
        cache = ResultCache(tmp_path)
        cache.put("ab" * 32, (1.0, 0.5))
        cache.put("cd" * 32, 0.25)
        assert cache.get("ab" * 32) == (1.0, 0.5) and cache.get("cd" * 32) == 0.25
        assert cache.get("ef" * 32) is None and len(cache) == 2
        assert not list(tmp_path.glob("*/*.tmp"))

    def test_tape_key(self):
        def tape(x):
            return qml.tape.QuantumScript([qml.RY(x, 0)], [qml.expval(qml.Z(0))], shots=100)

        assert tape_key(tape(0.1), "dev") == tape_key(tape(0.1), "dev")
        assert tape_key(tape(0.1), "dev") != tape_key(tape(0.1 + 1e-15), "dev")
        assert tape_key(tape(0.1), "dev") != tape_key(tape(0.1), "other")


class TestDedup:
    def test_unique_rows(self):
        angles = torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.1, 0.2], [0.1, 0.2]])
        first, inverse = unique_rows(angles, torch.tensor([0, 0, 0, 1]))
        assert len(first) == 3 and unique_rows_count(angles, torch.tensor([0, 0, 0, 1])) == 3
        assert torch.equal(angles[first][inverse], angles)
        assert inverse[0] == inverse[2] != inverse[3]

    def test_matches_full_evaluation_with_gradients(self):
        spec = CircuitSpec(n_qubits=2, n_layers=1, n_tasks=2)
        qnode = build_qnode(spec, "default.qubit", diff_method="backprop")
        params = {k: v.double() for k, v in init_parameters(spec).items()}
        x = torch.randn(3, 2, dtype=torch.float64)[[0, 1, 0, 2, 1]]  # repeated inputs
        tasks = torch.tensor([0, 1, 0, 0, 1])
        results = []
        for dedup in (False, True):
            w = params["weights"].clone().requires_grad_()
            lin = torch.nn.Linear(2, 2).double()
            torch.manual_seed(0)
            lin.reset_parameters()
            angles = lin(x)
            if dedup:
                z = dedup_expectations(qnode, spec, angles, tasks, {"weights": w})
            else:
                z = expectations(qnode, angles, select(spec, {"weights": w}, tasks))
            (z * torch.arange(1.0, 3.0, dtype=torch.float64)).sum().backward()
            results.append((z.detach(), w.grad, lin.weight.grad))
        for full, dedup in zip(*results):
            assert torch.allclose(full, dedup, atol=1e-12)


class TestProfiles:
    def test_credentials_in_options_are_refused(self):
        with pytest.raises(ValueError, match=r"must not contain credentials; got \['api_key'\]"):
            get_profile("ionq.qpu").device_kwargs({"api_key": "secret"})

    def test_missing_extra_names_it(self):
        profile = PluginProfile("x.qpu", "xextra", ("not_a_module_qattn",), True, "per_batch")
        with pytest.raises(ImportError, match=r"pip install 'qattn-hybrid\[xextra\]'"):
            profile.device_kwargs({})

    def test_missing_credentials(self, monkeypatch, tmp_path):
        pytest.importorskip("pennylane_ionq")
        for name in ("IONQ_API_KEY", "PENNYLANE_IONQ_API_KEY"):
            monkeypatch.delenv(name, raising=False)
        with pytest.raises(RuntimeError, match="set the environment variable IONQ_API_KEY"):
            get_profile("ionq.qpu").device_kwargs({})

    def test_stand_in_credentials_are_placeholders_restored_on_exit(self, monkeypatch):
        pytest.importorskip("pennylane_ionq")
        from circuits.hardware.offline import offline_ionq

        monkeypatch.delenv("IONQ_API_KEY", raising=False)
        with offline_ionq():
            assert os.environ["IONQ_API_KEY"] == "offline"
            get_profile("ionq.qpu").device_kwargs({})  # passes the credential check
        assert "IONQ_API_KEY" not in os.environ
        monkeypatch.setenv("IONQ_API_KEY", "mine")
        with offline_ionq():
            assert os.environ["IONQ_API_KEY"] == "mine"  # a set variable is left alone

    def test_missing_aws_credentials(self, monkeypatch, tmp_path):
        pytest.importorskip("braket.pennylane_plugin")
        for name in list(os.environ):
            if name.startswith("AWS_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        with pytest.raises(RuntimeError, match="aws configure"):
            get_profile("braket.aws.qubit").device_kwargs({"device_arn": "arn:x"})

    def test_missing_ibm_credentials(self, monkeypatch, tmp_path):
        pytest.importorskip("qiskit_ibm_runtime")
        pytest.importorskip("pennylane_qiskit")
        monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))
        with pytest.raises(RuntimeError, match="QISKIT_IBM_TOKEN"):
            get_profile("qiskit.remote").device_kwargs({"backend": "ibm_torino"})

    def test_braket_needs_an_arn(self, monkeypatch):
        pytest.importorskip("braket.pennylane_plugin")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "offline")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "offline")
        with pytest.raises(ValueError, match="device_arn'\\] must be a Braket device ARN"):
            get_profile("braket.aws.qubit").device_kwargs({})
        kwargs = get_profile("braket.aws.qubit").device_kwargs(
            {"device_arn": "arn:x", "s3_bucket": "b", "s3_prefix": "p"})
        assert kwargs == {"device_arn": "arn:x", "s3_destination_folder": ("b", "p"),
                          "parallel": True}
