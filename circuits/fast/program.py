"""A circuit's gates recorded once, then evaluated straight from its argument tensors.

Recording runs the quantum function once with *coded* arguments (every entry holds its
own index, exact in float64) and the device's preprocessing on the tape; each gate
parameter of the final tape then names the argument entry it reads. A call gathers those
entries from the real arguments (one gather per gate type and argument), builds the
matrices in a few batched torch calls and runs the kernel and the measurements: no tape,
no operator objects, no transforms, the same numbers (the same kernel runs either way).

Recording refuses (``NotRecordable``) what it cannot express exactly: a gate parameter
computed from the arguments rather than read from them, a gate outside the kernel's table
of rotations and fixed gates (state preparation included). It cannot see a gate sequence
that depends on parameter values, so it is used for circuits whose sequence does not (the
library's templates: ``circuits.templates``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pennylane as qml
import torch
from pennylane.devices import ExecutionConfig

from circuits.fast.gates import (FIXED_GATES, first_column_gates, is_rotation, real_dtype,
                                 rotation_columns, rotation_matrices)
from circuits.fast.kernel import final_state
from circuits.fast.measure import measure_all, probabilities


class NotRecordable(Exception):
    """The circuit cannot be run from a recording; the caller takes the ordinary route."""


class Gate(NamedTuple):
    """What the kernel reads from an operation."""

    name: str
    wires: tuple
    data: tuple = ()


class _Source(NamedTuple):
    """Where one gate parameter comes from: entry ``index`` of argument ``arg`` (flattened
    per row), or the constant ``value`` when ``arg`` is None."""

    arg: str | None
    index: int
    value: float = 0.0


def record(qnode, layout: dict[str, bool | None], row_shapes: dict[str, tuple]) -> Program:
    """The recording of ``qnode`` for arguments laid out as ``layout`` (name -> has a row
    dimension, or None when not given); ``row_shapes`` holds each argument's shape per row."""
    coded, offset = {}, 1.0
    for name, batched in layout.items():
        if batched is None:
            coded[name] = None
            continue
        shape = row_shapes[name]
        size = int(np.prod(shape))
        codes = torch.arange(offset, offset + size, dtype=torch.float64).reshape(shape)
        coded[name] = codes.expand((2,) + shape) if batched else codes
        offset += size
    tape = qml.workflow.construct_tape(qnode)(**coded)
    device = qnode.device
    config = device.setup_execution_config(ExecutionConfig(gradient_method="backprop",
                                                           interface="torch"))
    (tape,), _ = device.preprocess_transforms(config)((tape,))
    decode = _decoder(coded, row_shapes)
    wire_order = list(device.wires) if device.wires else list(tape.wires)
    wire_index = {w: i for i, w in enumerate(wire_order)}
    gates, sources = [], []
    for op in tape.operations:
        if not (op.name in FIXED_GATES or is_rotation(op.name)):
            raise NotRecordable(f"gate {op.name} is not in the kernel's table")
        gates.append(Gate(op.name, tuple(wire_index[w] for w in op.wires)))
        sources.append(tuple(decode(p) for p in op.data))
    return Program(gates, sources, tape.measurements, wire_index, layout)


def _decoder(coded: dict, row_shapes: dict):
    """A function: gate parameter of the coded tape -> its ``_Source``."""
    starts = []  # (first code, argument, size)
    for name, codes in coded.items():
        if codes is not None:
            flat = codes.reshape(-1, int(np.prod(row_shapes[name])))[0]
            starts.append((float(flat[0]), name, flat.numel()))

    def decode(param) -> _Source:
        if not isinstance(param, torch.Tensor):
            value = np.asarray(param, dtype=float)
            if value.ndim:
                raise NotRecordable("gate parameters must be scalars")
            return _Source(None, 0, float(value))
        values = param.detach().reshape(-1)
        if param.ndim > 1 or not bool((values == values[0]).all()):
            raise NotRecordable("gate parameters must be one argument entry each")
        code = float(values[0])
        for first, name, size in starts:
            if first <= code < first + size and code == int(code):
                return _Source(name, int(code - first))
        raise NotRecordable(f"gate parameter {code} is computed, not read, from the arguments")

    return decode


class Program:
    """Gates with their parameters' sources, the measurements, and the plan of gathers.

    ``initial``: the gates act on a given state batch, not on ``|0...0>`` (no first-column
    shortcut); ``split``: prepare ``run_grouped``."""

    def __init__(self, gates, sources, measurements, wire_index, layout, initial=False,
                 split=True):
        self.gates, self.sources, self.measurements = gates, sources, measurements
        self.wire_index, self.n_wires, self.layout = wire_index, len(wire_index), layout
        # Broadcast gates: those reading a batched argument.
        self.batched = [any(s.arg is not None and layout[s.arg] for s in src) for src in sources]
        self.columns = set() if initial else set(first_column_gates(
            gates, [b or None for b in self.batched], dict(enumerate(range(self.n_wires)))))
        self.groups = {}  # (name, column?, batched) -> gate indices
        for i, (gate, src) in enumerate(zip(gates, sources)):
            if is_rotation(gate.name):
                key = (gate.name, i in self.columns, self.batched[i])
                self.groups.setdefault(key, []).append(i)
        self.gathers = {key: [_gather_plan([sources[i][k] for i in index])
                              for k in range(len(sources[index[0]]))]
                        for key, index in self.groups.items()}
        self.split = self._split() if split else None

    def _split(self):
        """``(rows, rest)``: programs for the gates that read the first (row) argument, with
        the one-qubit gates before them on their wires, and for all the others (acting on
        the state the first leave), when the first can move ahead of the second: every
        row gate is a one-qubit gate preceded on its wire by one-qubit gates that read no
        other per-row argument. Else None."""
        row_arg = next(iter(self.layout))
        reads = [{s.arg for s in src} for src in self.sources]
        last = {}  # wire -> index of its last row gate
        for i, gate in enumerate(self.gates):
            if row_arg in reads[i]:
                if len(gate.wires) != 1 or len(reads[i] - {row_arg, None}):
                    return None
                last[gate.wires[0]] = i
        if not last:
            return None
        head = []
        for i, gate in enumerate(self.gates):
            before = [w for w in gate.wires if i <= last.get(w, -1)]
            if before and (len(gate.wires) != 1 or (self.batched[i] and row_arg not in reads[i])):
                return None
            if before:
                head.append(i)
        tail = [i for i in range(len(self.gates)) if i not in set(head)]

        def part(index, initial):
            return Program([self.gates[i] for i in index], [self.sources[i] for i in index],
                           self.measurements, self.wire_index, self.layout, initial=initial,
                           split=False)

        return part(head, False), part(tail, True)

    def run(self, values: dict, c_dtype: torch.dtype | None, max_fused_wires: int):
        """Outputs as the QNode returns them (a tuple, one entry per measurement), for the
        argument tensors ``values`` laid out as recorded."""
        dtype, device, real = _dtypes(values, c_dtype)
        rows = next((values[k].shape[0] for k, b in self.layout.items() if b), None)
        flat = {k: (v.reshape(rows, -1) if self.layout[k] else v.reshape(-1)).to(real)
                for k, v in values.items() if v is not None}
        state = self.state(flat, rows, dtype, device, max_fused_wires)
        return self.measure(state, batched=rows is not None)

    def run_grouped(self, values: dict, groups: list, c_dtype, max_fused_wires: int):
        """``run`` for rows whose other per-row arguments take one value per group (index
        tensors ``groups``): the row gates on the rows, then each group's unitary built
        once, all of them in one pass (the identity's rows, ``2**n`` per group), and one
        matrix product per group; outputs ``(N, M)`` in row order. Needs ``split``."""
        dtype, device, real = _dtypes(values, c_dtype)
        head, tail = self.split
        order = torch.cat(groups)
        first = torch.stack([g[0] for g in groups])
        dim, n_rows = 2**self.n_wires, order.shape[0]
        row_flat, unitary_flat = {}, {}
        for k, v in values.items():
            if v is None:
                continue
            if not self.layout[k]:
                row_flat[k] = unitary_flat[k] = v.reshape(-1).to(real)
                continue
            v = v.reshape(v.shape[0], -1).to(real)
            row_flat[k] = v[order]  # the row argument, sorted by group
            unitary_flat[k] = v[first].repeat_interleave(dim, 0)  # one row per basis state
        state = head.state(row_flat, n_rows, dtype, device, max_fused_wires)  # (N, 2**n)
        eye = torch.eye(dim, dtype=dtype, device=device).repeat(len(groups), 1)
        unitaries = tail.state(unitary_flat, eye.shape[0], dtype, device, max_fused_wires,
                               initial=eye).reshape(len(groups), dim, dim)
        parts, start = [], 0
        for rows_of_group, unitary in zip(groups, unitaries):
            stop = start + len(rows_of_group)
            parts.append(state[start:stop] @ unitary)
            start = stop
        out = torch.stack(self.measure(torch.cat(parts), batched=True, as_tuple=False), -1)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(n_rows, device=order.device)
        return out.index_select(0, inverse)  # (N, M)

    def state(self, flat, rows, dtype, device, max_fused_wires, initial=None):
        """The state batch after the gates, parameters gathered from ``flat`` (name ->
        ``(N, P)`` or ``(P,)`` real tensors)."""
        real = real_dtype(dtype)
        columns, mats = {}, [None] * len(self.gates)
        for (name, column, batched), index in self.groups.items():
            params = [_gathered(plan, flat, rows if batched else None, real, device)
                      for plan in self.gathers[(name, column, batched)]]  # each (P,) / (N, P)
            if column:
                columns.update(zip(index, rotation_columns(name, params[0]).unbind(-2)))
            else:
                mats_group = rotation_matrices(name, params, dtype).unbind(-3)
                for i, mat in zip(index, mats_group):
                    mats[i] = mat
        batches = [rows if b else None for b in self.batched]
        wires = list(range(self.n_wires))
        return final_state(self.gates, batches, wires, rows or 1, dtype, device,
                           max_fused_wires, prepared=(columns, mats), initial=initial)

    def measure(self, state, batched: bool, as_tuple: bool = True):
        probs = probabilities(state)
        results = measure_all(self.measurements, state, probs, self.wire_index, self.n_wires,
                              batched=batched)
        return results[0] if as_tuple and len(results) == 1 else tuple(results)


def _dtypes(values: dict, c_dtype):
    """(complex dtype, torch device, real dtype) of a call."""
    tensors = [v for v in values.values() if v is not None]
    dtype = c_dtype or _natural_dtype(tensors)
    return dtype, tensors[0].device, real_dtype(dtype)


def _gather_plan(sources: list[_Source]):
    """``[(arg, entry indices, positions)]`` per argument, plus constants, for one parameter
    slot of a group of gates."""
    by_arg = {}
    for pos, src in enumerate(sources):
        by_arg.setdefault(src.arg, []).append(pos)
    plan = []
    for arg, positions in by_arg.items():
        if arg is None:
            plan.append((None, torch.tensor([sources[p].value for p in positions]), positions))
        else:
            plan.append((arg, torch.tensor([sources[p].index for p in positions]), positions))
    return plan, len(sources)


def _gathered(plan_size, flat: dict, rows, real, device) -> torch.Tensor:
    """One parameter slot of a group of gates: ``(P,)``, or ``(N, P)`` when ``rows``."""
    plan, size = plan_size
    parts = []
    for arg, index, _ in plan:
        if arg is None:
            part = index.to(device=device, dtype=real)
        else:
            part = flat[arg][..., index.to(device)]
        if rows is not None and part.dim() == 1:
            part = part.expand(rows, -1)
        parts.append(part)
    if len(plan) == 1:
        return parts[0]
    order = torch.as_tensor(np.argsort(np.concatenate([p for _, _, p in plan])), device=device)
    return torch.cat(parts, -1)[..., order]


def _natural_dtype(tensors) -> torch.dtype:
    single = (torch.float32, torch.complex64, torch.float16, torch.bfloat16)
    floats = [t.dtype for t in tensors if t.is_floating_point() or t.is_complex()]
    return torch.complex64 if floats and all(d in single for d in floats) else torch.complex128
