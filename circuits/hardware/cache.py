"""On-disk result cache keyed by circuit hash, written atomically.

A long QPU evaluation that stops (crash, timeout, budget) resumes without re-running the
batches it finished: every circuit's result is stored under a hash of the device identity
and the circuit (gates, wires, parameter values, measurements, shots). Files are written to
a temporary name and renamed into place, so a crash never leaves a half-written result.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def parameter_text(p) -> str:
    """Full-precision text of a gate parameter (numpy, torch or float)."""
    arr = np.asarray(p.detach().cpu() if hasattr(p, "detach") else p, dtype=float)
    return ",".join(repr(float(v)) for v in arr.reshape(-1))


def tape_key(tape, identity: str) -> str:
    """Stable hash (across processes, unlike `tape.hash`) of a circuit on one device."""
    parts = [identity, f"shots={tape.shots.total_shots}"]
    for op in tape.operations:
        params = ";".join(parameter_text(p) for p in op.data)
        parts.append(f"{op.name}{tuple(op.wires.tolist())}[{params}]")
    parts += [repr(m) for m in tape.measurements]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def encode_result(result):
    """A device result (scalar or tuple of scalars / arrays) as JSON."""
    if isinstance(result, (tuple, list)):
        return {"tuple": [encode_result(r) for r in result]}
    return {"array": np.asarray(result, dtype=float).tolist()}


def decode_result(data):
    if "tuple" in data:
        return tuple(decode_result(r) for r in data["tuple"])
    value = np.asarray(data["array"], dtype=float)
    return value if value.ndim else np.float64(value)


class ResultCache:
    """Results on disk under `directory`, one JSON file per circuit hash."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.hits = 0  # results served from disk since creation

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str):
        """The stored result, or None."""
        path = self._path(key)
        if not path.exists():
            return None
        self.hits += 1
        return decode_result(json.loads(path.read_text()))

    def put(self, key: str, result) -> None:
        """Store atomically: write a temporary file, then rename it into place."""
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(encode_result(result), f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*/*.json"))
