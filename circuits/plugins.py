"""Device plugins: what each device needs installed, configured and credentialed.

A profile turns JSON-friendly options from a config (ARN, S3 folder, backend name,
execution mode) into the device's keyword arguments, checks that the plugin is installed
and that credentials exist in the plugin's own configuration or environment, and knows how
the plugin packs a batch of circuits into jobs. Everything here runs before anything is sent.

Options are where secrets leak from (configs, checkpoints, pickles, logs), so two rules hold
for every device: an option whose name names a secret (`credentials.secret_option_names`)
is refused, and a device with a profile accepts only the options it lists, all known not
to be secret; only those are ever kept. Part of the circuit core: imports no plugin at
import time and nothing from `circuits.hardware`.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass, field
from typing import Callable

from circuits.credentials import refuse_secrets

# Braket program sets: executables per task when the device cannot be asked (dry runs).
DEFAULT_BRAKET_MAX_EXECUTABLES = 100


class MissingCredentialsError(RuntimeError):
    """Raised before sending anything when a plugin's credentials are not configured."""


@dataclass(frozen=True)
class PluginProfile:
    """What one device name needs and how it submits circuits."""

    name: str  # PennyLane device name, or "qiskit.estimator" for the native Runtime path
    extra: str  # `pip install 'qattn-hybrid[extra]'`
    modules: tuple[str, ...]  # importable modules the device needs
    remote: bool  # sends circuits over the network (credentials, money)
    packing: str  # "program_set" | "per_circuit" | "per_batch" | "per_step"
    credentials: Callable[[dict], str | None] = field(default=lambda options: None)
    translate: Callable[[dict], dict] = field(default=lambda options: dict(options))
    options: tuple[str, ...] | None = None  # every option accepted (None: the device decides)

    def check_installed(self) -> None:
        missing = [m for m in self.modules if importlib.util.find_spec(m) is None]
        if missing:
            raise ImportError(
                f"Device {self.name!r} needs {', '.join(missing)}: "
                f"pip install 'qattn-hybrid[{self.extra}]'"
            )

    def check_credentials(self, options: dict) -> None:
        hint = self.credentials(options)
        if hint is not None:
            raise MissingCredentialsError(f"Device {self.name!r} has no credentials: {hint}")

    def check_options(self, options: dict | None) -> dict:
        """`options` as a new dict, refused if a key names a secret or is not one of
        `self.options` (known not to be secret). Nothing is imported or contacted."""
        options = refuse_secrets(options)
        allowed = set(options) if self.options is None else set(self.options)
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ValueError(f"device_options for {self.name!r} must be among "
                             f"{', '.join(self.options)}; got {unknown}")
        return options

    def device_kwargs(self, options: dict | None) -> dict:
        """Validated plugin keyword arguments for `options` (installed, credentials present)."""
        options = self.check_options(options)
        self.check_installed()
        if self.remote:
            self.check_credentials(options)
        return self.translate(options)

    def jobs_for(self, n_circuits: int, max_executables: int | None = None) -> int:
        """Device submissions (tasks / jobs) that one batch of `n_circuits` becomes."""
        if n_circuits <= 0:
            return 0
        if self.packing == "program_set" and max_executables:
            return math.ceil(n_circuits / max_executables)
        if self.packing in ("per_batch", "per_step"):
            return 1
        return n_circuits


# ---- credentials: report what to set, never read the secret into our own objects ----

def _aws_credentials(options: dict) -> str | None:
    import boto3  # a dependency of the Braket SDK

    if boto3.Session().get_credentials() is None:
        return ("configure AWS credentials with `aws configure`, or set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (and AWS_DEFAULT_REGION), or AWS_PROFILE")
    return None


def _ibm_credentials(options: dict) -> str | None:
    if not isinstance(options.get("backend"), str):
        return None  # a backend object (e.g. a fake backend) carries its own service
    saved = os.path.join(os.path.expanduser("~"), ".qiskit", "qiskit-ibm.json")
    if os.getenv("QISKIT_IBM_TOKEN") or os.path.exists(saved):
        return None
    return ("save an account once with `QiskitRuntimeService.save_account(token=..., "
            "instance=...)`, or set QISKIT_IBM_TOKEN (and QISKIT_IBM_INSTANCE)")


def _ionq_credentials(options: dict) -> str | None:
    if os.getenv("IONQ_API_KEY") or os.getenv("PENNYLANE_IONQ_API_KEY"):
        return None
    return "set the environment variable IONQ_API_KEY"


# ---- option translation: config values -> plugin keyword arguments ----

def _braket_aws_kwargs(options: dict) -> dict:
    if not isinstance(options.get("device_arn"), str):
        raise ValueError(f"device_options['device_arn'] must be a Braket device ARN string; "
                         f"got {options.get('device_arn')!r}")
    bucket, prefix = options.pop("s3_bucket", None), options.pop("s3_prefix", "qattn-hybrid")
    if bucket is not None:
        options["s3_destination_folder"] = (bucket, prefix)
    elif "s3_destination_folder" in options:
        options["s3_destination_folder"] = tuple(options["s3_destination_folder"])
    options.setdefault("parallel", True)  # batch circuits even where program sets are missing
    return options


def _qiskit_remote_kwargs(options: dict) -> dict:
    backend = options.get("backend")
    if backend is None:
        raise ValueError("device_options['backend'] must be an IBM backend name or a backend "
                         "object; got None")
    if isinstance(backend, str):
        from qiskit_ibm_runtime import QiskitRuntimeService

        options["backend"] = QiskitRuntimeService().backend(backend)
    mode = options.pop("execution_mode", "job")
    if mode not in ("job", "session", "batch"):
        raise ValueError(f"device_options['execution_mode'] must be 'job', 'session' or "
                         f"'batch'; got {mode!r}")
    if mode != "job":
        from qiskit_ibm_runtime import Batch, Session

        options["session"] = (Session if mode == "session" else Batch)(backend=options["backend"])
    return options


def _estimator_kwargs(options: dict) -> dict:
    options = _qiskit_remote_kwargs(options)
    options.setdefault("optimization_level", 1)
    return options


def _ionq_qpu_kwargs(options: dict) -> dict:
    options.setdefault("backend", "aria-1")
    return options


# Options known not to be secret, per device (config names, before translation).
BRAKET_OPTIONS = ("noise_model", "verbatim", "parallel", "max_parallel",
                  "parametrize_differentiable")
BRAKET_AWS_OPTIONS = ("device_arn", "s3_bucket", "s3_prefix", "s3_destination_folder",
                      "poll_timeout_seconds", "poll_interval_seconds", "max_connections",
                      "max_retries", *BRAKET_OPTIONS)
QISKIT_OPTIONS = ("backend", "optimization_level", "seed_transpiler", "seed_simulator")
IBM_REMOTE_OPTIONS = ("backend", "execution_mode", "optimization_level", "seed_transpiler",
                      "seed")
ESTIMATOR_OPTIONS = ("backend", "execution_mode", "optimization_level", "seed")
IONQ_OPTIONS = ("gateset", "job_name", "compilation", "noise_model", "noise_seed", "timeout",
                "max_retries", "retry_delay")
IONQ_QPU_OPTIONS = ("gateset", "job_name", "backend", "compilation", "error_mitigation",
                    "sharpen", "timeout", "max_retries", "retry_delay")

PROFILES: dict[str, PluginProfile] = {
    p.name: p
    for p in (
        # braket.local.qubit runs one LocalSimulator task per circuit (no program sets).
        PluginProfile("braket.local.qubit", "braket", ("braket.pennylane_plugin",), False,
                      "per_circuit", options=("backend", *BRAKET_OPTIONS)),
        PluginProfile("braket.aws.qubit", "braket", ("braket.pennylane_plugin",), True,
                      "program_set", _aws_credentials, _braket_aws_kwargs, BRAKET_AWS_OPTIONS),
        PluginProfile("qiskit.aer", "qiskit", ("pennylane_qiskit", "qiskit_aer"), False,
                      "per_circuit", options=("method", "noise_model", *QISKIT_OPTIONS)),
        PluginProfile("qiskit.basicsim", "qiskit", ("pennylane_qiskit",), False,
                      "per_batch", options=QISKIT_OPTIONS),
        PluginProfile("qiskit.remote", "qiskit", ("pennylane_qiskit", "qiskit_ibm_runtime"),
                      True, "per_circuit", _ibm_credentials, _qiskit_remote_kwargs,
                      IBM_REMOTE_OPTIONS),
        PluginProfile("qiskit.estimator", "qiskit", ("qiskit_ibm_runtime", "qiskit_aer"), True,
                      "per_step", _ibm_credentials, _estimator_kwargs, ESTIMATOR_OPTIONS),
        PluginProfile("ionq.simulator", "ionq", ("pennylane_ionq",), True, "per_batch",
                      _ionq_credentials, options=IONQ_OPTIONS),
        PluginProfile("ionq.qpu", "ionq", ("pennylane_ionq",), True, "per_batch",
                      _ionq_credentials, _ionq_qpu_kwargs, IONQ_QPU_OPTIONS),
        # Exact simulators: nothing to install or credential, their options listed.
        PluginProfile("default.qubit", "dev", (), False, "per_batch",
                      options=("seed", "max_workers")),
        PluginProfile("qattn.torch", "dev", (), False, "per_batch",
                      options=("c_dtype", "seed", "max_fused_wires")),
        *(PluginProfile(name, extra, (), False, "per_batch",
                        options=("c_dtype", "batch_obs", "seed", "mcmc", "kernel_name",
                                 "num_burnin", "kokkos_args", "mpi", "use_async"))
          for name, extra in (("lightning.qubit", "dev"), ("lightning.gpu", "gpu"),
                              ("lightning.kokkos", "dev"))),
    )
}

# Native (non-PennyLane) execution paths: built by circuits.hardware, not qml.device.
NATIVE_DEVICES = frozenset({"qiskit.estimator"})


def get_profile(name: str) -> PluginProfile | None:
    """The profile of a device, or None for a device this library has none for."""
    return PROFILES.get(name)


def local_profile(name: str) -> PluginProfile:
    """A profile for a simulator without one: one job per batch, secrets refused, any other
    option left to the device's own constructor."""
    return PluginProfile(name, "dev", (), False, "per_batch")


def check_device_options(device: str | None, options, shots: int | None = None) -> dict:
    """`options` for `device` as a new dict, checked without importing anything: no secret
    names, and only known options on a device with a profile. `device=None` is the default
    device (`circuits.devices.default_device`): qattn.torch, or default.qubit with shots."""
    name = device or ("qattn.torch" if shots is None else "default.qubit")
    return (get_profile(name) or local_profile(name)).check_options(options)
