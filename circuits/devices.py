"""Device names: what is installed, which package provides what, and device creation."""

from __future__ import annotations

from importlib.metadata import entry_points

import pennylane as qml

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
    """`qml.device(name, wires=n_qubits, **options)` after checking the name.

    Plugin devices go through their profile (`circuits.hardware.profiles`): options from
    the config are translated, credentials checked, secrets in options refused, all before
    the plugin is contacted.
    """
    check_device_name(name)
    from circuits.hardware.profiles import get_profile

    profile = get_profile(name)
    if profile is not None:
        options = profile.device_kwargs(options)
    return qml.device(name, wires=n_qubits, **options)
