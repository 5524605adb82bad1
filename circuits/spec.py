"""The circuit's settings in two frozen, validated records that every other module reads.

    CircuitSpec    what the circuit is: qubits, layers, tasks, embedding, ansatz, conditioning,
                   readout ([model.circuit] in a config)
    ExecutionSpec  where and how it runs: the PennyLane device, shots, gradient method, plugin
                   options, i.e. the arguments `circuits.build_qnode` takes beside the spec
                   ([model.execution] in a config)

A new ansatz is one member of `Ansatz` here plus its template in `circuits/ansatze.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from circuits.plugins import check_device_options

MAX_QUBITS = 20
# PennyLane's differentiation methods (qml.QNode's diff_method), checked before a QNode is built
DIFF_METHODS = ("best", "device", "backprop", "adjoint", "parameter-shift", "hadamard",
                "reversed-hadamard", "direct-hadamard", "reversed-direct-hadamard",
                "finite-diff", "spsa")


class Rotation(str, Enum):
    """Axis of the angle embedding's single-qubit rotation."""

    X = "X"
    Y = "Y"
    Z = "Z"


class Ansatz(str, Enum):
    """Variational block applied after the embedding, once per layer."""

    HARDWARE_EFFICIENT = "hardware_efficient"  # RZ, RY on every wire, then a CNOT ring
    STRONGLY_ENTANGLING = "strongly_entangling"  # qml.StronglyEntanglingLayers
    NO_ENTANGLEMENT = "no_entanglement"  # RZ, RY on every wire only: the ablation


class Conditioning(str, Enum):
    """How a task changes the circuit."""

    PER_TASK_WEIGHTS = "per_task_weights"  # variational weights θ[k] for each task
    TASK_ROTATIONS = "task_rotations"  # shared θ plus per-task RX angles per layer and wire


class Readout(str, Enum):
    """Which expectation values the circuit returns."""

    Z = "z"  # ⟨Z_q⟩ on every wire
    Z_ZZ = "z_zz"  # ⟨Z_q⟩ on every wire, then ⟨Z_q Z_{q+1}⟩ on neighbouring wires


def parse_choice(enum: type[Enum], value, field: str):
    """Turn a string (or enum member) into `enum`, with an error that lists the choices."""
    if isinstance(value, enum):
        return value
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in enum)
        raise ValueError(f"{field} must be one of {choices}; got {value!r}") from None


def _check_int(name: str, value, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int; got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bounds}; got {value}")


@dataclass(frozen=True)
class CircuitSpec:
    """Everything that defines the circuit; validated on construction, immutable after."""

    n_qubits: int = 4  # wires; one embedded angle per wire per token
    n_layers: int = 2  # variational layers (each preceded by the embedding if reupload)
    n_tasks: int = 1  # tasks the circuit is conditioned on
    rotation: Rotation = Rotation.Y  # embedding axis
    reupload: bool = False  # re-embed the angles before every layer
    ansatz: Ansatz = Ansatz.HARDWARE_EFFICIENT
    conditioning: Conditioning = Conditioning.PER_TASK_WEIGHTS
    readout: Readout = Readout.Z

    def __post_init__(self) -> None:
        _check_int("n_qubits", self.n_qubits, 1, MAX_QUBITS)
        _check_int("n_layers", self.n_layers, 1)
        _check_int("n_tasks", self.n_tasks, 1)
        if not isinstance(self.reupload, bool):
            raise TypeError(f"reupload must be a bool; got {type(self.reupload).__name__}")
        # Accept plain strings; store enum members (frozen, hence object.__setattr__).
        for field, enum in (
            ("rotation", Rotation),
            ("ansatz", Ansatz),
            ("conditioning", Conditioning),
            ("readout", Readout),
        ):
            object.__setattr__(self, field, parse_choice(enum, getattr(self, field), field))

    @property
    def wires(self) -> list[int]:
        return list(range(self.n_qubits))

    @property
    def neighbour_pairs(self) -> list[tuple[int, int]]:
        """Pairs (q, q+1) read out as ZZ; empty for one qubit."""
        return [(q, q + 1) for q in range(self.n_qubits - 1)]

    @property
    def n_outputs(self) -> int:
        """Number of expectation values the circuit returns per token."""
        if self.readout is Readout.Z_ZZ:
            return self.n_qubits + len(self.neighbour_pairs)
        return self.n_qubits

    def to_dict(self) -> dict:
        """JSON-friendly form (enum values as strings); `CircuitSpec(**d)` rebuilds it."""
        return {
            "n_qubits": self.n_qubits,
            "n_layers": self.n_layers,
            "n_tasks": self.n_tasks,
            "rotation": self.rotation.value,
            "reupload": self.reupload,
            "ansatz": self.ansatz.value,
            "conditioning": self.conditioning.value,
            "readout": self.readout.value,
        }

    @classmethod
    def from_dict(cls, values: Mapping) -> CircuitSpec:
        """The inverse of `to_dict`; unknown keys are a TypeError that lists the valid ones."""
        _reject_unknown(cls, values)
        return cls(**values)


def check_shots(shots) -> None:
    """None (exact expectation values) or a positive int of shots per circuit."""
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
        raise ValueError(f"shots must be None (exact) or a positive int; got {shots!r}")


@dataclass(frozen=True)
class ExecutionSpec:
    """Where and how a CircuitSpec runs; validated on construction, immutable after.

    The fields are `circuits.build_qnode`'s arguments after the spec (`qnode_options()` gives
    them by that name). A guard (budget, retries) is not part of it: it is a live object with
    its own state, passed to the layer or `build_hardware_qnode` separately.
    """

    qml_device: str | None = None  # PennyLane device name; None: circuits.default_device(shots)
    shots: int | None = None  # None: exact expectation values
    diff_method: str = "best"  # one of DIFF_METHODS
    # plugin options for a QPU (device_arn, s3_bucket, backend, execution_mode, ...); never
    # credentials: a key that names a secret is refused (circuits.credentials)
    device_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.qml_device is not None and (not isinstance(self.qml_device, str)
                                            or not self.qml_device):
            raise ValueError(f"qml_device must be None (the default device) or a non-empty "
                             f"PennyLane device name; got {self.qml_device!r}")
        check_shots(self.shots)
        if self.diff_method not in DIFF_METHODS:
            raise ValueError(f"diff_method must be one of {', '.join(map(repr, DIFF_METHODS))}; "
                             f"got {self.diff_method!r}")
        if not isinstance(self.device_options, Mapping):
            raise TypeError(f"device_options must be a dict (a table in a config); got "
                            f"{type(self.device_options).__name__}")
        options = check_device_options(self.qml_device, dict(self.device_options), self.shots)
        object.__setattr__(self, "device_options", options)  # a copy: no secrets, known keys

    def qnode_options(self) -> dict:
        """Keyword arguments of `circuits.build_qnode` (and `build_hardware_qnode`)."""
        return {"device": self.qml_device, "shots": self.shots,
                "diff_method": self.diff_method, "device_options": dict(self.device_options)}

    def to_dict(self) -> dict:
        """`ExecutionSpec(**d)` rebuilds it (JSON-friendly when the options are)."""
        return {"qml_device": self.qml_device, "shots": self.shots,
                "diff_method": self.diff_method, "device_options": dict(self.device_options)}

    @classmethod
    def from_dict(cls, values: Mapping) -> ExecutionSpec:
        """The inverse of `to_dict`; unknown keys are a TypeError that lists the valid ones."""
        _reject_unknown(cls, values)
        return cls(**values)


def _reject_unknown(cls, values: Mapping) -> None:
    valid = list(cls.__dataclass_fields__)
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise TypeError(f"{cls.__name__} keys must be among {', '.join(valid)}; got "
                        f"{', '.join(map(repr, unknown))}")
