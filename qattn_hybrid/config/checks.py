"""The checks behind every config field, each raising a ConfigError whose message starts
with the field it is about (``training.lr must be > 0; got -1``).

A field's bounds stand beside it, and one checker reads them all::

    lr: float = bounded(1e-2, low=0, low_open=True)   # check_bounds: "must be > 0"
    schedule: str = bounded("cosine", one_of=("cosine", "linear", "constant"))

Checks that relate two fields stay in the section's own ``_check``.

Used by :mod:`qattn_hybrid.config.sections` (the sections and how they are read) and by anything
that validates config-like tables the same way.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Union

__all__ = [
    "Bounds",
    "ConfigError",
    "bounded",
    "check_bounds",
    "check_choice",
    "check_nonempty",
    "check_range",
    "check_types",
    "moved_notes",
    "reject_moved",
    "reject_unknown",
]


class ConfigError(ValueError):
    """An invalid configuration value, key or file; the message names the field."""


@dataclass(frozen=True)
class Bounds:
    """What a config field accepts beyond its type: a range (``low`` / ``high``, the bound
    excluded where ``low_open`` / ``high_open``; numbers are also checked finite), one of a
    set of values (``one_of``: a tuple, or a function that returns one, for registries that
    grow), or a non-empty str. None passes: the field's type says whether None is allowed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    one_of: tuple | Callable[[], tuple] | None = None
    nonempty: bool = False

    def check(self, section: str, name: str, value) -> None:
        """ConfigError naming ``section.name`` if ``value`` is out of bounds."""
        if value is None:
            return
        if self.one_of is not None:
            check_choice(section, name, value,
                         self.one_of() if callable(self.one_of) else self.one_of)
        if self.nonempty:
            check_nonempty(section, name, value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            check_range(section, name, value, self.low, self.high, self.low_open,
                        self.high_open)


def bounded(default=dataclasses.MISSING, *, default_factory=dataclasses.MISSING,
            **bounds) -> dataclasses.Field:
    """A dataclass field with its :class:`Bounds` (keyword arguments) in its metadata, read
    by :func:`check_bounds`: ``epochs: int = bounded(15, low=1)``."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"bounds": Bounds(**bounds)})


def check_bounds(section: str, obj) -> None:
    """Every field of the dataclass ``obj`` made by :func:`bounded` against its bounds."""
    for f in dataclasses.fields(obj):
        if "bounds" in f.metadata:
            f.metadata["bounds"].check(section, f.name, getattr(obj, f.name))


def moved_notes(where: str, values: dict, moved: dict[str, tuple[str, str]]) -> list[str]:
    """One note per key of an older layout in ``values`` (``moved``: key -> (the table it
    moved to, its name there)): ``model.n_qubits moved to [model.circuit] n_qubits``."""
    notes = []
    for key in (k for k in moved if k in values):
        table, name = moved[key]
        place = f"[{table}] {name}" if table != where else f"{table}.{name}"
        notes.append(f"{where}.{key} moved to {place}")
    return notes


def reject_moved(notes: list[str]) -> None:
    """One ConfigError listing every key of an older layout (``moved_notes``), if any."""
    if notes:
        raise ConfigError("; ".join(notes) + " (the config layout changed; see README, "
                          "Training a multi-task model)")


def reject_unknown(where: str, values: dict, valid) -> None:
    """ConfigError naming the keys of ``values`` not in ``valid``, and listing the valid ones."""
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ConfigError(f"Unknown key{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(map(repr, unknown))} in {where}. "
                          f"Valid keys: {', '.join(valid)}")


def check_types(section: str, obj) -> None:
    """Every field of the dataclass ``obj`` against its annotation (``int | None``, ...)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if not _matches(value, hints[f.name]):
            raise ConfigError(f"{section}.{f.name} must be {_type_name(hints[f.name])}; "
                              f"got {type(value).__name__} {value!r}")


def _matches(value, hint) -> bool:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is float:  # ints are fine where a float is expected (lr = 1 in TOML)
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin or hint)


def _type_name(hint) -> str:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "None"
    return {int: "an int", float: "a number", bool: "a bool", str: "a str", list: "a list",
            dict: "a table"}.get(hint, getattr(hint, "__name__", str(hint)))


def check_range(section: str, name: str, value, low=None, high=None, low_open=False,
                high_open=False) -> None:
    """Finite, and within [low, high] (``low_open`` / ``high_open``: the bound excluded)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{section}.{name} must be finite; got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise ConfigError(f"{section}.{name} must be {'>' if low_open else '>='} {low}; "
                          f"got {value}")
    if high is not None and (value >= high if high_open else value > high):
        raise ConfigError(f"{section}.{name} must be {'<' if high_open else '<='} {high}; "
                          f"got {value}")


def check_choice(section: str, name: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{section}.{name} must be one of {', '.join(map(repr, choices))}; "
                          f"got {value!r}")


def check_nonempty(section: str, name: str, value: str) -> None:
    if not value:
        raise ConfigError(f"{section}.{name} must be a non-empty str; got {value!r}")
