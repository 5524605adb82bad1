"""Gate matrices for the ``qattn.torch`` kernel, built in torch (autograd flows through them).

Rotations are built here with a few torch calls per gate *type* per call (PennyLane's
generic ``op.matrix()`` costs tens of microseconds per gate); fixed gates are cached;
anything else falls back to ``op.matrix()``.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from pennylane.operation import Operator, StatePrepBase

# Parametrised gates whose matrix is diagonal: applied as an element-wise product.
DIAGONAL_GATES = frozenset(
    {"RZ", "PhaseShift", "U1", "CRZ", "ControlledPhaseShift", "CPhase", "IsingZZ", "MultiRZ",
     "DiagonalQubitUnitary", "GlobalPhase"}
)
# Gates with a fixed matrix (no parameters, no hyperparameters that change it).
FIXED_GATES = frozenset(
    {"Identity", "PauliX", "PauliY", "PauliZ", "Hadamard", "S", "T", "SX", "CNOT", "CY", "CZ",
     "CH", "SWAP", "ISWAP", "SISWAP", "ECR", "Toffoli", "CSWAP", "CCZ"}
)


def op_matrix(op: Operator, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The matrix of ``op`` in its own wire order: ``(K, K)`` or broadcast ``(N, K, K)``."""
    if op.name in FIXED_GATES:
        return fixed_matrix(op.name, len(op.wires), dtype, device)
    if op.name in ROTATIONS:
        return ROTATIONS[op.name](*(_as_real(p, dtype, device) for p in op.data), dtype)
    mat = op.matrix()
    if isinstance(mat, torch.Tensor):
        return mat.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(mat), dtype=dtype, device=device)


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype == torch.complex64 else torch.float64


def _as_real(param, dtype, device) -> torch.Tensor:
    real = real_dtype(dtype)
    if isinstance(param, torch.Tensor):
        return param.to(device=device, dtype=real)
    return torch.as_tensor(np.asarray(param), dtype=real, device=device)


def _rx(theta, dtype):
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    zero = torch.zeros_like(c)
    return torch.complex(torch.stack([c, zero, zero, c], -1), torch.stack([zero, -s, -s, zero], -1)
                         ).reshape(theta.shape + (2, 2)).to(dtype)


def _ry(theta, dtype):
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    return torch.stack([c, -s, s, c], -1).reshape(theta.shape + (2, 2)).to(dtype)


def _rz(theta, dtype):
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    zero = torch.zeros_like(c)
    return torch.complex(torch.stack([c, zero, zero, c], -1), torch.stack([-s, zero, zero, s], -1)
                         ).reshape(theta.shape + (2, 2)).to(dtype)


def _phase_shift(phi, dtype):
    one, zero = torch.ones_like(phi), torch.zeros_like(phi)
    return torch.complex(torch.stack([one, zero, zero, torch.cos(phi)], -1),
                         torch.stack([zero, zero, zero, torch.sin(phi)], -1)
                         ).reshape(phi.shape + (2, 2)).to(dtype)


def _rot(phi, theta, omega, dtype):
    # Rot = RZ(omega) RY(theta) RZ(phi)
    return _rz(omega, dtype) @ _ry(theta, dtype) @ _rz(phi, dtype)


# Gates whose matrices are built here with a few torch calls (PennyLane's generic
# construction costs tens of microseconds per gate, which adds up at every call).
ROTATIONS = {"RX": _rx, "RY": _ry, "RZ": _rz, "PhaseShift": _phase_shift, "U1": _phase_shift,
              "Rot": _rot}


@functools.lru_cache(maxsize=256)
def fixed_matrix(name, n_wires, dtype, device):
    import pennylane as qml  # local: only for the one-time construction

    op = getattr(qml, name)(wires=range(n_wires))
    return torch.as_tensor(np.asarray(op.matrix()), dtype=dtype, device=device)


def op_batch_size(op) -> int | None:
    """``op.batch_size``, read off the parameters directly for the gates built here (all
    their parameters are scalars when unbroadcast): PennyLane's generic check costs ~0.1 ms
    per broadcast gate. A size mismatch inside one gate is left to PennyLane."""
    if op.name in FIXED_GATES:
        return None
    if op.name in ROTATIONS:
        sizes = {p.shape[0] for p in op.data if getattr(p, "ndim", 0) == 1}
        if len(sizes) == 1:
            return sizes.pop()
        if not sizes:
            return None
    return op.batch_size


def _shaped(param: torch.Tensor, shape: tuple) -> torch.Tensor:
    return param if param.shape == shape else param.expand(shape)


def prepared_matrices(ops, batches, dtype, device, skip=()) -> list:
    """Matrices of the rotations in ``ops``, built with one set of torch calls per gate type
    and broadcast size (not per gate: that is most of the Python cost of a call); ``None``
    for the other operations and for the indices in ``skip``."""
    groups = {}
    for i, (op, batch) in enumerate(zip(ops, batches)):
        if op.name in ROTATIONS and i not in skip:
            groups.setdefault((op.name, batch), []).append(i)
    mats = [None] * len(ops)
    for (name, batch), index in groups.items():
        shape = () if batch is None else (batch,)
        params = [
            torch.stack([_shaped(_as_real(ops[i].data[k], dtype, device), shape)
                         for i in index], -1)
            for k in range(len(ops[index[0]].data))
        ]  # each (P,) or (N, P)
        for i, mat in zip(index, rotation_matrices(name, params, dtype).unbind(-3)):
            mats[i] = mat
    return mats


def rotation_matrices(name: str, params: list, dtype: torch.dtype) -> torch.Tensor:
    """Matrices ``(..., P, 2, 2)`` of ``P`` gates ``name`` from their parameters, each
    ``(..., P)`` (one tensor per gate parameter: three for ``Rot``)."""
    return ROTATIONS[name](*params, dtype)


def rotation_columns(name: str, theta: torch.Tensor) -> torch.Tensor:
    """``R(theta)|0>`` for ``R`` in RX, RY, RZ: ``(..., P, 2)`` from angles ``(..., P)``; real
    for RY."""
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    if name == "RY":
        return torch.stack([c, s], -1)
    zero = torch.zeros_like(c)
    imag = torch.stack([zero, -s], -1) if name == "RX" else torch.stack([-s, zero], -1)
    return torch.complex(torch.stack([c, zero], -1), imag)


def is_rotation(name: str) -> bool:
    """Whether ``name`` is a gate whose matrices ``rotation_matrices`` builds."""
    return name in ROTATIONS


def first_columns(ops, batches, wire_index, dtype, device) -> dict:
    """``{op index: R|0>}`` for the broadcast RX/RY/RZ that act first on their wire, before any
    multi-qubit gate (an angle embedding): only the first column of their matrices is ever
    needed, ``(N, 2)``, and for RY it is real. Built per gate type, like the matrices."""
    groups = {}
    for i in first_column_gates(ops, batches, wire_index):
        groups.setdefault((ops[i].name, batches[i]), []).append(i)
    columns = {}
    for (name, batch), index in groups.items():
        theta = torch.stack([_shaped(_as_real(ops[i].data[0], dtype, device), (batch,))
                             for i in index], -1)  # (N, P)
        columns.update(zip(index, rotation_columns(name, theta).unbind(-2)))
    return columns


def first_column_gates(ops, batches, wire_index) -> list[int]:
    """Indices of the broadcast RX/RY/RZ that act first on their wire, before any
    multi-qubit gate: ``first_columns`` computes only ``R|0>`` for them."""
    index, seen = [], set()
    for i, (op, batch) in enumerate(zip(ops, batches)):
        if len(op.wires) != 1 or isinstance(op, StatePrepBase):
            break
        wire = wire_index[op.wires[0]]
        if wire not in seen and batch is not None and op.name in ("RX", "RY", "RZ"):
            index.append(i)
        seen.add(wire)
    return index
