"""qiskit.remote and the native Estimator path ('qiskit.estimator') on local IBM-like backends.

GenericBackendV2 without noise runs through the local Runtime primitives (Aer), so with S
shots ⟨Z⟩ has σ ≤ 1/√S and a parameter-shift derivative of a sum of n_out outputs
σ ≤ n_out/√(2S); both must agree with exact default.qubit within 5σ. Batches are tiny:
a circuit costs 0.13-0.3 s on this path.
"""

import math

import pennylane as qml
import pytest
import torch

pytest.importorskip("pennylane_qiskit")
pytest.importorskip("qiskit_aer")
qiskit_ibm_runtime = pytest.importorskip("qiskit_ibm_runtime")

from qpu_standins import offline_ibm_backend  # noqa: E402

from circuits import CircuitSpec, build_qnode, expectations, init_parameters, select  # noqa: E402
from circuits.hardware import (  # noqa: E402
    Counts, ExecutionGuard, build_hardware_qnode, plan_counts,
)

pytestmark = pytest.mark.plugins

SPEC = CircuitSpec(n_qubits=2, n_layers=1, n_tasks=2)
SHOTS = 2000
N_ROWS = 2
SEED = 3
TASKS = torch.tensor([0, 1])






@pytest.fixture(scope="module")
def exact(inputs, step):
    return step(build_qnode(SPEC, "default.qubit", diff_method="backprop"), SPEC,
                *inputs(SPEC, N_ROWS, SEED), TASKS)


def assert_close_to_exact(result, exact):
    z, g_angles, g_weights = result
    sigma = SPEC.n_outputs / math.sqrt(2 * SHOTS)
    assert torch.allclose(z, exact[0], atol=5 / math.sqrt(SHOTS))
    assert torch.allclose(g_angles, exact[1], atol=5 * sigma)
    assert torch.allclose(g_weights["weights"], exact[2]["weights"], atol=5 * sigma)


@pytest.fixture
def estimator_jobs(monkeypatch):
    """Every EstimatorV2.run call: a list of (n_pubs, bindings per pub)."""
    jobs = []
    original = qiskit_ibm_runtime.EstimatorV2.run

    def run(self, pubs, *args, **kwargs):
        jobs.append([int(getattr(p[2], "shape", (1,))[0]) if len(p) > 2 else 1 for p in pubs])
        return original(self, pubs, *args, **kwargs)

    monkeypatch.setattr(qiskit_ibm_runtime.EstimatorV2, "run", run)
    return jobs


class TestRemote:
    def test_training_step(self, exact, estimator_jobs, inputs, step):
        guard = ExecutionGuard()
        qnode = build_hardware_qnode(SPEC, "qiskit.remote", shots=SHOTS,
                                     diff_method="parameter-shift",
                                     device_options={"backend": offline_ibm_backend(2)},
                                     guard=guard)
        with qml.Tracker(qnode.device) as tracker:
            result = step(qnode, SPEC, *inputs(SPEC, N_ROWS, SEED), TASKS)
        assert_close_to_exact(result, exact)
        planned = plan_counts(SPEC, N_ROWS, "parameter-shift", SHOTS, "qiskit.remote", True)
        p = 2 + 4  # embedding + RY, RZ per wire
        assert planned == guard.spent == Counts(N_ROWS * (1 + 2 * p), N_ROWS * (1 + 2 * p),
                                                N_ROWS * (1 + 2 * p) * SHOTS, 2)
        assert tracker.totals["executions"] == planned.circuits
        assert tracker.totals["shots"] == planned.shots
        assert len(estimator_jobs) == planned.jobs  # one Estimator job per circuit


class TestNativeEstimator:
    def test_training_step_is_one_job(self, exact, estimator_jobs, inputs, step):
        guard = ExecutionGuard()
        node = build_hardware_qnode(SPEC, "qiskit.estimator", shots=SHOTS, guard=guard,
                                    device_options={"backend": offline_ibm_backend(2),
                                                    "seed": 11})
        result = step(node, SPEC, *inputs(SPEC, N_ROWS, SEED), TASKS)
        assert_close_to_exact(result, exact)
        planned = plan_counts(SPEC, N_ROWS, "parameter-shift", SHOTS, "qiskit.estimator", True)
        assert planned == guard.spent == Counts(26, 1, 26 * SHOTS, 1)
        assert estimator_jobs == [[26]]  # one job, one PUB, N·(1+2P) parameter rows

    def test_forward_is_one_job_of_n_rows(self, estimator_jobs, inputs):
        node = build_hardware_qnode(SPEC, "qiskit.estimator", shots=100,
                                    device_options={"backend": offline_ibm_backend(2), "seed": 1})
        angles, params = inputs(SPEC, N_ROWS, SEED)
        with torch.no_grad():
            z = expectations(node, angles, select(SPEC, params, 0))
        assert z.shape == (N_ROWS, SPEC.n_outputs) and estimator_jobs == [[N_ROWS]]

    def test_needs_shots(self):
        with pytest.raises(ValueError, match="shots must be a positive int for 'qiskit.estimator'"):
            build_hardware_qnode(SPEC, "qiskit.estimator",
                                 device_options={"backend": offline_ibm_backend(2)})

    def test_readout_zz_and_strongly_entangling(self):
        spec = CircuitSpec(n_qubits=3, n_layers=1, ansatz="strongly_entangling", readout="z_zz")
        node = build_hardware_qnode(spec, "qiskit.estimator", shots=4000,
                                    device_options={"backend": offline_ibm_backend(3), "seed": 5})
        ref = build_qnode(spec, "default.qubit", diff_method="backprop")
        params = {k: v.double() for k, v in init_parameters(spec).items()}
        angles = torch.rand(2, 3, dtype=torch.float64)
        args = select(spec, params, 0)
        z, z_exact = expectations(node, angles, args), expectations(ref, angles, args)
        assert torch.allclose(z, z_exact, atol=5 / math.sqrt(4000))

    def test_unknown_option(self):
        with pytest.raises(ValueError, match=r"must be among backend, .*; got \['shots'\]"):
            build_hardware_qnode(SPEC, "qiskit.estimator", shots=10,
                                 device_options={"backend": offline_ibm_backend(2), "shots": 5})


class TestNativeDedup:
    def test_identical_rows_are_sent_once(self, estimator_jobs, inputs):
        node = build_hardware_qnode(SPEC, "qiskit.estimator", shots=100, dedup=True,
                                    device_options={"backend": offline_ibm_backend(2), "seed": 1})
        angles, params = inputs(SPEC, N_ROWS, SEED, requires_grad=False)
        angles = angles[[0, 1, 0]]
        z = expectations(node, angles, select(SPEC, params, 0))
        assert estimator_jobs == [[2]] and torch.equal(z[0], z[2])
