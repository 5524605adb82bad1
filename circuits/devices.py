"""Device names: what is installed, which package provides what, and device creation."""

from __future__ import annotations

from importlib.metadata import entry_points

import pennylane as qml

from circuits.credentials import refuse_secrets
from circuits.plugins import NATIVE_DEVICES, get_profile, local_profile

# Devices users ask for that live in optional packages: name -> what to install.
PLUGIN_PACKAGES = {
    "lightning.qubit": "pennylane-lightning",
    "lightning.gpu": "pennylane-lightning-gpu",
    "lightning.kokkos": "pennylane-lightning-kokkos",
    "braket.local.qubit": "amazon-braket-pennylane-plugin",
    "braket.aws.qubit": "amazon-braket-pennylane-plugin",
    "qiskit.aer": "pennylane-qiskit qiskit-aer",
    "qiskit.basicsim": "pennylane-qiskit",
    "qiskit.remote": "pennylane-qiskit qiskit-ibm-runtime",
    "ionq.simulator": "pennylane-ionq",
    "ionq.qpu": "pennylane-ionq",
    "qulacs.simulator": "pennylane-qulacs[cpu]",
}


FAST_DEVICE = "qattn.torch"  # the library's exact batched torch simulator (circuits.fast.device)


def default_device(shots: int | None = None) -> str:
    """The device used when none is named: the fast exact path, or `default.qubit` with shots."""
    return FAST_DEVICE if shots is None and FAST_DEVICE in available_devices() else "default.qubit"


def available_devices() -> list[str]:
    """Names of every installed PennyLane device (the `pennylane.plugins` entry points)."""
    return sorted({ep.name for ep in entry_points(group="pennylane.plugins")})


def check_device_name(name: str) -> None:
    """Raise a ValueError naming the choices (and the package to install) for unknown names."""
    if not isinstance(name, str):
        raise TypeError(f"device must be a device name (str); got {type(name).__name__}")
    installed = available_devices()
    if name in installed:
        return
    hint = ""
    if name in PLUGIN_PACKAGES:
        hint = f" Device {name!r} is provided by: pip install {PLUGIN_PACKAGES[name]}."
    raise ValueError(
        f"Unknown device {name!r}. Available: {', '.join(installed)}.{hint}"
    )


def make_device(name: str, n_qubits: int, **options):
    """`qml.device(name, wires=n_qubits, **options)` after checking the name and options.

    Every device goes through its profile (`circuits.plugins`): secrets in options refused,
    unknown options refused where the profile lists them, the plugin's installation and
    credentials checked and config options translated, all before the plugin is contacted.
    """
    options = refuse_secrets(options)  # first, whatever else is wrong
    if name in NATIVE_DEVICES:
        raise ValueError(f"device {name!r} is not a PennyLane device: build it with "
                         "circuits.hardware.build_hardware_qnode")
    check_device_name(name)
    profile = get_profile(name) or local_profile(name)
    return qml.device(name, wires=n_qubits, **profile.device_kwargs(options))
