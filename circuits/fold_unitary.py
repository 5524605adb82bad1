"""Every task's variational unitary, from a gate program compiled once per circuit spec.

Folding needs V_k (the circuit after its embedding) for every task k on every call when it
is used for training, so the PennyLane tape is not rebuilt per call: it is recorded once with
*tagged* parameters (each weight replaced by its own index), which tells for every gate which
weights it reads. A call then gathers the weights, builds all rotation matrices of one gate
type in one batched torch call, multiplies each wire's run of one-qubit gates into one 2x2 per
task, and applies runs of fixed gates (a CNOT ring) as one index permutation. Autograd flows
through all of it. Circuits with gates outside this set (or templates that do arithmetic on
their weights) get ``None`` from :func:`compile_program`; ``circuits.fold`` then applies the
decomposed tape gate by gate.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pennylane as qml
import torch

from circuits.conditioning import parameter_shapes
from circuits.fast.gates import FIXED_GATES, ROTATIONS
from circuits.fast.kernel import monomial_table, run_table
from circuits.spec import CircuitSpec
from circuits.templates import make_variational

__all__ = ["compile_program", "program_unitaries", "variational_gates"]


class _Program:
    """names: parameter order; groups: gate type -> (op ids, index tensor (n_data, K, P));
    steps: ("1q", wire, op ids in order) | ("perm", src, phase)."""

    def __init__(self, names, groups, steps, n_qubits, n_tasks):
        self.names, self.groups, self.steps = names, groups, steps
        self.n_qubits, self.n_tasks = n_qubits, n_tasks


def _tags(spec: CircuitSpec) -> tuple[list[str], dict[str, torch.Tensor]]:
    names, tags, offset = [], {}, 0
    for name, shape in parameter_shapes(spec).items():
        size = math.prod(shape)
        tags[name] = (torch.arange(size, dtype=torch.float64) + offset).reshape(shape)
        names.append(name)
        offset += size
    return names, tags


def _indices(op, n_tasks: int, n_params: int):
    """(n_data, K) long indices of the weights `op` reads, or None if they are not plain
    weights (a template computed something from them)."""
    out = []
    for value in op.data:
        value = torch.as_tensor(value, dtype=torch.float64)
        rounded = value.round()
        if not bool((value == rounded).all()) or bool((rounded < 0).any()) \
                or bool((rounded >= n_params).any()):
            return None
        out.append(rounded.long().expand(n_tasks) if rounded.dim() == 0 else rounded.long())
    return torch.stack(out) if out else None


def variational_gates(spec: CircuitSpec, args: dict[str, torch.Tensor]) -> list:
    """The variational part's gates, decomposed until each has a matrix (the one place its
    tape is recorded); parameters may carry a leading task dimension (broadcasting)."""
    tape = qml.tape.make_qscript(make_variational(spec))(**args)
    (tape,), _ = qml.devices.preprocess.decompose(
        tape, stopping_condition=lambda op: op.has_matrix, name="fold")
    return tape.operations


@functools.lru_cache(maxsize=32)
def compile_program(spec: CircuitSpec) -> _Program | None:
    """The gate program of `spec`'s variational part, or None when it cannot be compiled."""
    names, tags = _tags(spec)
    n_params = sum(t.numel() for t in tags.values())
    ops = variational_gates(spec, {k: tags[k] for k in names})
    n, k = spec.n_qubits, spec.n_tasks
    groups, steps, pending, run = {}, [], {}, []

    def flush_run():
        if run:
            src, phase, _ = run_table(tuple(run), n)  # (gather, phase, inverse)
            steps.append(("perm", src, phase))
            run.clear()

    def flush_pending():
        for wire in sorted(pending):
            steps.append(("1q", wire, pending[wire]))
        pending.clear()

    for i, op in enumerate(ops):
        wires = tuple(int(w) for w in op.wires)
        if op.name in ROTATIONS and len(wires) == 1:
            index = _indices(op, k, n_params)
            if index is None or index.shape[-1] != k:
                return None
            groups.setdefault(op.name, ([], []))
            groups[op.name][0].append(i)
            groups[op.name][1].append(index)
            flush_run()
            pending.setdefault(wires[0], []).append(i)
        elif op.name in FIXED_GATES and monomial_table(op.name, n, wires) is not None:
            flush_pending()
            run.append((op.name, wires))
        else:
            return None
    flush_run()
    flush_pending()
    groups = {name: (ids, torch.stack(index, -1)) for name, (ids, index) in groups.items()}
    return _Program(names, groups, steps, n, k)


def program_unitaries(program: _Program, params: dict[str, torch.Tensor],
                      c_dtype: torch.dtype) -> torch.Tensor:
    """(K, 2^Q, 2^Q) unitaries U[k, x, b] = <x|V_k|b>, differentiable in `params`."""
    real = torch.float64 if c_dtype == torch.complex128 else torch.float32
    flat = torch.cat([params[name].reshape(-1).to(real) for name in program.names])
    device, n, k = flat.device, program.n_qubits, program.n_tasks
    mats = {}
    for name, (ids, index) in program.groups.items():
        values = flat[index.to(device)]  # (n_data, K, P)
        built = ROTATIONS[name](*values.unbind(0), c_dtype)  # (K, P, 2, 2)
        mats.update(zip(ids, built.unbind(1)))
    dim = 2**n
    state = torch.eye(dim, dtype=c_dtype, device=device).expand(k, dim, dim)  # S[k, b, x]
    for step in program.steps:
        if step[0] == "1q":
            _, wire, ids = step
            m = mats[ids[0]]
            for i in ids[1:]:
                m = mats[i] @ m
            s = state.reshape(k, dim * 2**wire, 2, 2 ** (n - wire - 1))
            state = torch.matmul(m[:, None], s).reshape(k, dim, dim)
        else:
            _, src, phase = step
            state = state[..., src.to(device)]
            if phase is not None:
                state = state * phase.to(device=device, dtype=c_dtype)
    return state.transpose(1, 2)
