"""Test-only: offline stand-ins for the cloud services, so tests and benchmarks run the
hardware path without an account. Not part of the library (tests and benchmarks import it
from this folder; `tests/` is on sys.path under pytest).

Each replaces only the network end of a plugin; everything above it (the PennyLane plugin,
its batching, the guard, the cost model) runs exactly as it would against the real service:

- `offline_braket()`: `braket.aws.qubit`'s `AwsDevice` becomes `LocalAwsDevice`, whose
  `run` / `run_batch` delegate to Braket's `LocalSimulator` (program sets included);
- `offline_ionq(seed)`: `pennylane_ionq`'s `Job` client becomes `FakeIonQJob`, which
  simulates the submitted circuit JSON and samples a histogram with the job's shots;
- `qiskit.remote` needs no patch: pass a backend object (`GenericBackendV2`,
  `FakeManilaV2`) and the local Runtime primitives run it through Aer.

Each stand-in records what it was sent (`submitted`), the ground truth for job counts.
"""

from __future__ import annotations

import contextlib
import itertools
import os

import numpy as np

OFFLINE_ARN = "arn:aws:braket:::device/qpu/offline/local-simulator"


def _local_aws_device_class():
    from braket.aws import AwsDevice, AwsDeviceType
    from braket.devices import LocalSimulator
    from braket.program_sets import ProgramSet

    class _Session:
        def add_braket_user_agent(self, agent):
            pass

    class _Batch:
        def __init__(self, tasks):
            self.tasks, self.unsuccessful = tasks, set()

        def results(self, **kwargs):
            return [t.result() for t in self.tasks]

    class LocalAwsDevice(AwsDevice):
        """An AwsDevice (a QPU, as far as the plugin can tell) backed by LocalSimulator."""

        submitted: list = []  # one entry per task sent: ("program_set" | "circuit", shots)

        def __init__(self, arn, aws_session=None):  # no AWS call, unlike AwsDevice
            self._sim = LocalSimulator()
            self._arn, self._session = arn, _Session()

        name = property(lambda self: "LocalAwsDevice")
        type = property(lambda self: AwsDeviceType.QPU)
        aws_session = property(lambda self: self._session)
        properties = property(lambda self: self._sim.properties)

        def run(self, task_specification, shots=None, inputs=None, **kwargs):
            kind = "program_set" if isinstance(task_specification, ProgramSet) else "circuit"
            type(self).submitted.append((kind, shots))
            if kind == "program_set":
                return self._sim.run(task_specification, shots=shots)
            return self._sim.run(task_specification, shots=shots, inputs=inputs or {})

        def run_batch(self, task_specifications, shots=None, inputs=None, **kwargs):
            inputs = inputs if isinstance(inputs, list) else [inputs] * len(task_specifications)
            tasks = []
            for spec, spec_inputs in zip(task_specifications, inputs):
                is_set = isinstance(spec, ProgramSet)
                tasks.append(self.run(spec, shots=spec.total_shots if is_set else shots,
                                      inputs=spec_inputs))
            return _Batch(tasks)

    return LocalAwsDevice


@contextlib.contextmanager
def placeholder_credentials(**variables: str):
    """Set environment variables that are not set yet, for the stand-ins' credential checks;
    restored on exit. Nothing is sent anywhere: the stand-ins never reach a provider."""
    added = {k: v for k, v in variables.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextlib.contextmanager
def offline_braket():
    """Patch `braket.aws.qubit` to run on LocalSimulator (with placeholder AWS credentials
    where none are set); yields the stand-in class."""
    from braket.pennylane_plugin import braket_device

    cls = _local_aws_device_class()
    cls.submitted = []
    original = braket_device.AwsDevice
    braket_device.AwsDevice = cls
    try:
        with placeholder_credentials(AWS_ACCESS_KEY_ID="offline", AWS_SECRET_ACCESS_KEY="offline",
                                     AWS_DEFAULT_REGION="us-east-1"):
            yield cls
    finally:
        braket_device.AwsDevice = original


# ---- IonQ: simulate the submitted JSON ----

_H = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
_FIXED = {
    "x": np.array([[0, 1], [1, 0]]), "y": np.array([[0, -1j], [1j, 0]]),
    "z": np.diag([1, -1]), "h": _H, "s": np.diag([1, 1j]), "si": np.diag([1, -1j]),
    "t": np.diag([1, np.exp(1j * np.pi / 4)]), "ti": np.diag([1, np.exp(-1j * np.pi / 4)]),
    "v": np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]) / 2,
    "vi": np.array([[1 - 1j, 1 + 1j], [1 + 1j, 1 - 1j]]) / 2,
}


def _rotation(axis: str, theta: float) -> np.ndarray:
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    if axis == "rx":
        return np.array([[c, -1j * s], [-1j * s, c]])
    if axis == "ry":
        return np.array([[c, -s], [s, c]])
    return np.diag([np.exp(-1j * theta / 2), np.exp(1j * theta / 2)])


def simulate_ionq_circuit(gates: list[dict], n_qubits: int) -> np.ndarray:
    """Probabilities (2**n,) of an IonQ 'qis' circuit; index bit q (LSB first) = qubit q."""
    state = np.zeros((2,) * n_qubits, dtype=complex)  # axis q = qubit q
    state[(0,) * n_qubits] = 1.0
    for gate in gates:
        name = gate["gate"]
        if name in ("cnot", "swap"):
            a, b = (gate["control"], gate["target"]) if name == "cnot" else gate["targets"]
            if name == "swap":
                state = np.swapaxes(state, a, b)
            else:
                idx = [slice(None)] * n_qubits
                idx[a] = 1
                sub = state[tuple(idx)]
                state[tuple(idx)] = np.flip(sub, axis=b if b < a else b - 1)
            continue
        u = _rotation(name, gate["rotation"]) if name in ("rx", "ry", "rz") else _FIXED[name]
        q = gate["target"]
        state = np.moveaxis(np.tensordot(u, state, axes=([1], [q])), 0, q)
    probs = np.abs(state) ** 2  # axis q = qubit q
    return probs.transpose(tuple(reversed(range(n_qubits)))).reshape(-1)  # LSB = qubit 0


class FakeIonQJob:
    """Stand-in for `pennylane_ionq.api_client.Job`: create, poll, get, all in memory."""

    submitted: list = []  # job payloads, one per job sent
    rng = np.random.default_rng(0)
    _ids = itertools.count()

    def __init__(self, api_key=None, **kwargs):
        self.manager = self
        self.id = type("Field", (), {"value": f"fake-job-{next(self._ids)}"})()
        self.data = type("Field", (), {"value": None})()
        self.is_complete, self.is_failed = True, False

    def reload(self):
        pass

    def create(self, **job):
        type(self).submitted.append(job)
        self._job = job

    def get(self, resource_id=None, params=None):
        job = self._job
        n, shots = job["input"]["qubits"], job.get("shots", 1024)
        circuits = job["input"].get("circuits") or [{"circuit": job["input"]["circuit"]}]
        histograms = {}
        for k, circuit in enumerate(circuits):
            probs = simulate_ionq_circuit(circuit["circuit"], n)
            counts = self.rng.multinomial(shots, probs / probs.sum())
            histograms[f"circuit-{k}"] = {str(i): c / shots for i, c in enumerate(counts) if c}
        multi = "circuits" in job["input"]
        self.data.value = histograms if multi else histograms["circuit-0"]


@contextlib.contextmanager
def offline_ionq(seed: int = 0):
    """Patch `ionq.qpu` / `ionq.simulator` to run on FakeIonQJob (with a placeholder
    IONQ_API_KEY where none is set); yields the class."""
    from pennylane_ionq import device as ionq_device

    FakeIonQJob.submitted = []
    FakeIonQJob.rng = np.random.default_rng(seed)
    original = ionq_device.Job
    ionq_device.Job = FakeIonQJob
    try:
        with placeholder_credentials(IONQ_API_KEY="offline"):
            yield FakeIonQJob
    finally:
        ionq_device.Job = original


def offline_ibm_backend(n_qubits: int, noise: bool = False, seed: int = 0):
    """A local IBM-like backend: GenericBackendV2 (noise-free unless `noise`)."""
    from qiskit.providers.fake_provider import GenericBackendV2

    return GenericBackendV2(num_qubits=n_qubits, seed=seed, noise_info=noise)
