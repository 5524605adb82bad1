"""QuantumAttention on QPU plugin paths (offline stand-ins): deduplication, counts, budget,
dry run, normalisation with shots, and the accuracy drop under a fake backend's noise."""


import pennylane as qml
import pytest
import torch

pytest.importorskip("pennylane_ionq")

from qpu_standins import offline_ionq  # noqa: E402

from circuits.hardware import (  # noqa: E402
    Budget, BudgetExceededError, ExecutionGuard, accuracy_report, estimate_cost,
)
from qattn_hybrid import QuantumAttention  # noqa: E402

pytestmark = pytest.mark.plugins

D = 8


def batch():
    """B=2, T=4: tokens a, b, c with repeats, and one padding token per row."""
    a, b, c, pad = torch.randn(4, D, generator=torch.Generator().manual_seed(0))
    x = torch.stack([torch.stack([a, b, a, pad]), torch.stack([b, c, c, pad])])  # (2, 4, D)
    mask = torch.tensor([[True, True, True, False], [True, True, True, False]])
    return x, mask


def layer(guard=None, **kwargs):
    torch.manual_seed(0)
    attn = QuantumAttention(D, n_tasks=1, n_qubits=2, n_layers=1, qml_device="ionq.qpu", shots=500,
                            diff_method="parameter-shift", guard=guard, **kwargs)
    with torch.no_grad():  # the readout starts at 0, and a zero cotangent sends no gradient
        attn.readout.weight.normal_()  # circuits: draw it as after some training
    return attn


class TestDedupAndCounts:
    def test_training_step_sends_unique_rows_only(self):
        x, mask = batch()
        with offline_ionq() as standin:
            guard = ExecutionGuard()
            attn = layer(guard)
            with qml.Tracker(attn.qnode.device) as tracker:
                out = attn(x, 0, mask)
                out.pooled.sum().backward()
        estimate = estimate_cost(attn.spec, 3, "parameter-shift", 500, "ionq.qpu")  # a, b, c
        assert guard.spent == estimate.step
        assert tracker.totals["executions"] == estimate.step.circuits
        assert tracker.totals["shots"] == estimate.step.shots
        assert len(standin.submitted) == estimate.step.jobs == 2
        assert len(standin.submitted[0]["input"]["circuits"]) == 3  # not 8 tokens, not 6
        w = out.weights.detach()
        assert torch.allclose(w.sum(-1), torch.ones(2, 1)) and bool((w[..., 3] == 0).all())
        assert torch.equal(w[0, 0, 0], w[0, 0, 2])  # identical tokens, identical scores

    def test_without_dedup_every_real_token_is_sent(self):
        x, mask = batch()
        with offline_ionq() as standin, torch.no_grad():
            attn = layer(dedup=False)
            attn(x, 0, mask)
        assert attn.dedup is False and len(standin.submitted[0]["input"]["circuits"]) == 6

    def test_dedup_is_on_by_default_with_shots_only(self):
        with offline_ionq():
            assert layer().dedup is True
        assert QuantumAttention(D, n_tasks=1, n_qubits=2, n_layers=1).dedup is False


class TestLayerGuard:
    """The budget and dry run of an ExecutionGuard as the attention layer meets them (the
    budget itself: tests/circuits/hardware/test_hardware_guard.py::TestBudget)."""

    def test_refused_step_sends_nothing(self):
        x, mask = batch()
        with offline_ionq() as standin:
            attn = layer(ExecutionGuard(budget=Budget(max_jobs=1)))
            with pytest.raises(BudgetExceededError, match="training step needs 2 jobs"):
                attn(x, 0, mask)
            with torch.no_grad():  # inference needs one job: allowed
                attn(x, 0, mask)
        assert len(standin.submitted) == 1

    def test_dry_run_counts_the_step(self):
        x, mask = batch()
        with offline_ionq() as standin:
            guard = ExecutionGuard(dry_run=True)
            attn = layer(guard)
            attn(x, 0, mask).pooled.sum().backward()
        assert standin.submitted == []
        assert guard.spent == estimate_cost(attn.spec, 3, "parameter-shift", 500, "ionq.qpu").step


class TestNoise:
    def test_accuracy_drop_under_fake_manila(self):
        pytest.importorskip("qiskit_aer")
        from circuits.hardware import fake_backend

        gen = torch.Generator().manual_seed(0)
        x = torch.randn(32, 2, 4, generator=gen)
        y = (x[:, 0, 0] + x[:, 1, 0] > 0).long()
        torch.manual_seed(0)
        attn = QuantumAttention(4, n_tasks=1, n_qubits=2, n_layers=1, diff_method="backprop")
        head = torch.nn.Linear(4, 2)
        opt = torch.optim.Adam([*attn.parameters(), *head.parameters()], lr=0.1)
        for _ in range(20):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(head(attn(x, 0).pooled), y).backward()
            opt.step()
        noisy = QuantumAttention(4, n_tasks=1, n_qubits=2, n_layers=1, qml_device="qiskit.estimator",
                                 shots=1000, device_options={"backend": fake_backend(), "seed": 1})
        noisy.load_state_dict(attn.state_dict())
        with torch.no_grad():
            report = accuracy_report(head(attn(x, 0).pooled), head(noisy(x, 0).pooled), y,
                                     "FakeManilaV2", 1000)
        assert report.exact_accuracy >= 0.8
        assert report.accuracy_drop == pytest.approx(report.exact_accuracy - report.noisy_accuracy)
        assert -0.1 <= report.accuracy_drop <= 0.3 and report.agreement >= 0.7


class TestSetGuard:
    def test_guard_attached_after_construction(self):
        x, mask = batch()
        with offline_ionq() as standin:
            attn = layer()
            guard = ExecutionGuard(budget=Budget(max_jobs=0))
            attn.set_guard(guard)
            with torch.no_grad(), pytest.raises(BudgetExceededError, match="max_jobs=0"):
                attn(x, 0, mask)
        assert standin.submitted == [] and attn.guard is guard


class TestModelConfig:
    """QPU settings reach the attention layer from a model config; credentials never do."""

    def test_device_options_reach_the_layer(self):
        pytest.importorskip("braket.pennylane_plugin")
        from qattn_hybrid.config.sections import ModelConfig
        from qattn_hybrid.layers.registry import quantum_attention

        config = ModelConfig(execution={"qml_device": "braket.local.qubit", "shots": 100,
                                        "device_options": {"backend": "default"}})
        layer = quantum_attention(config, d_model=8, n_tasks=2)
        assert layer.qml_device == "braket.local.qubit" and layer.shots == 100
        assert layer.device_options == {"backend": "default"}

    def test_credentials_in_config_are_refused(self):
        pytest.importorskip("braket.pennylane_plugin")
        from qattn_hybrid.config.sections import ModelConfig
        from qattn_hybrid.layers.registry import quantum_attention

        with pytest.raises(ValueError, match=r"device_options must not contain credentials; "
                                             r"got \['aws_secret_access_key'\]"):
            config = ModelConfig(execution={
                "qml_device": "braket.local.qubit", "shots": 100,
                "device_options": {"aws_secret_access_key": "x"}})
            quantum_attention(config, d_model=8, n_tasks=2)
