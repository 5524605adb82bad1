"""Device profiles: one per plugin, what it needs installed, configured and credentialed.

A profile turns JSON-friendly options from a config (ARN, S3 folder, backend name,
execution mode) into the plugin's device keyword arguments, checks that the plugin is
installed and that credentials exist in the plugin's own configuration or environment
(never in the options), and knows how the plugin packs a batch of circuits into jobs.
Everything here runs before anything is sent.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass, field
from typing import Callable

# Option names that would put a secret in a config or checkpoint: always refused.
CREDENTIAL_OPTIONS = frozenset({
    "api_key", "token", "channel_token", "password", "aws_access_key_id",
    "aws_secret_access_key", "aws_session_token", "aws_session",
})

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

    def device_kwargs(self, options: dict | None) -> dict:
        """Validated plugin keyword arguments for `options` (installed, credentials present)."""
        options = dict(options or {})
        secret = sorted(CREDENTIAL_OPTIONS & set(options))
        if secret:
            raise ValueError(
                f"device_options must not contain credentials; got {secret}. Configure them "
                "in the plugin's own configuration or environment instead."
            )
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


ESTIMATOR_OPTIONS = ("backend", "execution_mode", "optimization_level", "seed")


def _estimator_kwargs(options: dict) -> dict:
    unknown = sorted(set(options) - set(ESTIMATOR_OPTIONS))
    if unknown:
        raise ValueError(f"device_options for 'qiskit.estimator' must be among "
                         f"{', '.join(ESTIMATOR_OPTIONS)}; got {unknown}")
    options = _qiskit_remote_kwargs(options)
    options.setdefault("optimization_level", 1)
    return options


def _ionq_qpu_kwargs(options: dict) -> dict:
    options.setdefault("backend", "aria-1")
    return options


PROFILES: dict[str, PluginProfile] = {
    p.name: p
    for p in (
        PluginProfile("braket.local.qubit", "braket", ("braket.pennylane_plugin",), False,
                      "program_set"),
        PluginProfile("braket.aws.qubit", "braket", ("braket.pennylane_plugin",), True,
                      "program_set", _aws_credentials, _braket_aws_kwargs),
        PluginProfile("qiskit.aer", "qiskit", ("pennylane_qiskit", "qiskit_aer"), False,
                      "per_circuit"),
        PluginProfile("qiskit.remote", "qiskit", ("pennylane_qiskit", "qiskit_ibm_runtime"),
                      True, "per_circuit", _ibm_credentials, _qiskit_remote_kwargs),
        PluginProfile("qiskit.estimator", "qiskit", ("qiskit_ibm_runtime", "qiskit_aer"), True,
                      "per_step", _ibm_credentials, _estimator_kwargs),
        PluginProfile("ionq.simulator", "ionq", ("pennylane_ionq",), True, "per_batch",
                      _ionq_credentials),
        PluginProfile("ionq.qpu", "ionq", ("pennylane_ionq",), True, "per_batch",
                      _ionq_credentials, _ionq_qpu_kwargs),
    )
}

# Native (non-PennyLane) execution paths: built by circuits.hardware, not qml.device.
NATIVE_DEVICES = frozenset({"qiskit.estimator"})


def get_profile(name: str) -> PluginProfile | None:
    """The profile of a plugin device, or None for plain simulators (default.qubit, ...)."""
    return PROFILES.get(name)


def local_profile(name: str) -> PluginProfile:
    """A profile for a simulator without one: one job per batch, nothing to check."""
    return PluginProfile(name, "dev", (), False, "per_batch")
