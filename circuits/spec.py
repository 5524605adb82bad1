"""The circuit specification: one frozen, validated dataclass that every other module reads."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

MAX_QUBITS = 20


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
