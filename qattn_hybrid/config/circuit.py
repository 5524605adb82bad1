"""Where the circuit sits in a config: ``[model.circuit]`` becomes one
:class:`circuits.CircuitSpec` and ``[model.execution]`` one :class:`circuits.ExecutionSpec`,
each checked by the record itself (the config keeps no copy of their rules), and the keys of
the older flat layout, refused with the place each one moved to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from circuits.spec import CircuitSpec, ExecutionSpec
from qattn_hybrid.config.checks import ConfigError, moved_notes, reject_unknown

__all__ = ["MOVED_KEYS", "circuit_from_table", "circuit_table", "execution_from_table",
           "moved_keys"]

# Keys of the old flat [model] layout -> (table they moved to, their name there)
MOVED_MODEL_KEYS = {
    **{name: ("model.circuit", name) for name in ("n_qubits", "n_layers", "ansatz",
                                                  "conditioning", "rotation", "reupload",
                                                  "readout")},
    "device": ("model.execution", "qml_device"),
    **{name: ("model.execution", name) for name in ("shots", "diff_method", "device_options")},
}
MOVED_TRAINING_KEYS = {"device": ("training", "torch_device")}
MOVED_KEYS = {"model": MOVED_MODEL_KEYS, "training": MOVED_TRAINING_KEYS}


def moved_keys(where: str, values: dict) -> list[str]:
    """One note per key of the older flat layout in section ``where``'s ``values``:
    ``model.n_qubits moved to [model.circuit] n_qubits`` (for saved models, too)."""
    return moved_notes(where, values, MOVED_KEYS.get(where, {}))


def circuit_from_table(values, section: str = "model.circuit") -> CircuitSpec:
    """A ``[model.circuit]`` table as a CircuitSpec (n_tasks 1), checked by CircuitSpec
    itself; ConfigError naming ``model.circuit.<field>`` otherwise."""
    if isinstance(values, CircuitSpec):
        return values
    if not isinstance(values, Mapping):
        raise ConfigError(f"{section} must be a table of circuit fields; got {values!r}")
    if "n_tasks" in values:
        raise ConfigError(f"{section}.n_tasks is not a config key: the model's circuit has one "
                          "task per entry of data.tasks")
    reject_unknown(section, values, CIRCUIT_KEYS)
    return _build(section, CircuitSpec, values)


def execution_from_table(values, section: str = "model.execution") -> ExecutionSpec:
    """A ``[model.execution]`` table as an ExecutionSpec; ConfigError naming the field."""
    if isinstance(values, ExecutionSpec):
        return values
    if not isinstance(values, Mapping):
        raise ConfigError(f"{section} must be a table of execution fields; got {values!r}")
    reject_unknown(section, values, [f.name for f in dataclasses.fields(ExecutionSpec)])
    return _build(section, ExecutionSpec, values)


def circuit_table(spec: CircuitSpec) -> dict:
    """A CircuitSpec as a ``[model.circuit]`` table (without n_tasks)."""
    return {k: v for k, v in spec.to_dict().items() if k != "n_tasks"}


CIRCUIT_KEYS = [f.name for f in dataclasses.fields(CircuitSpec) if f.name != "n_tasks"]


def _build(section: str, cls, values: Mapping):
    """``cls(**values)``; its own TypeError/ValueError ("n_qubits must be ...") becomes a
    ConfigError naming ``section.n_qubits``."""
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        message = str(err.args[0] if err.args else err)
        raise ConfigError(f"{section}.{message}") from None
