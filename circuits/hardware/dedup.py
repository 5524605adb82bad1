"""Identical circuits evaluated once, with exact gradients for every row.

Padding and repeated tokens make many rows of a batch identical. Deduplication happens where
circuits are executed: every row stays in the autograd graph as its own circuit, the device
runs each distinct circuit of a batch once (forward and parameter-shift batches alike) and
its result is gathered back to every circuit that asked for it. So a row's gradient is its
own Jacobian times its own upstream gradient, exactly as without deduplication, while the
device sees only the unique circuits.
"""

from __future__ import annotations

import torch

from circuits.build import expectations
from circuits.conditioning import select
from circuits.hardware.cache import parameter_text
from circuits.spec import CircuitSpec


def unique_rows(angles: torch.Tensor,
                tasks: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(first, inverse): index of each unique row's first occurrence (U,), and row -> unique (N,).

    Rows are equal when their angles are bit-identical and their tasks match.
    """
    keys = angles.detach().reshape(angles.shape[0], -1)
    if isinstance(tasks, torch.Tensor):
        keys = torch.cat([keys, tasks.reshape(-1, 1).to(keys.dtype)], dim=1)
    _, inverse = torch.unique(keys, dim=0, return_inverse=True)  # (N,)
    n_unique = int(inverse.max()) + 1 if inverse.numel() else 0
    positions = torch.arange(len(inverse), device=inverse.device)
    first = torch.full((n_unique,), len(inverse), dtype=torch.long, device=inverse.device)
    first = first.scatter_reduce(0, inverse, positions, reduce="amin")  # (U,)
    return first, inverse


def unique_rows_count(angles: torch.Tensor, task_ids: torch.Tensor | int | None = None) -> int:
    """Unique (angles, task) rows among `angles` (N, Q): what deduplication leaves."""
    if angles.shape[0] == 0:
        return 0
    return len(unique_rows(angles, task_ids if isinstance(task_ids, torch.Tensor) else 0)[0])


# Dimensions of one row's circuit arguments (`select`): weights (L, Q, k), task angles (L, Q).
ROW_DIMS = {"weights": 3, "task_angles": 2}


def unique_circuit_rows(angles: torch.Tensor, circuit_args: dict) -> int:
    """Distinct circuits among the rows of a call `qnode(angles, **circuit_args)`: rows whose
    angles and per-row parameters (a leading N on top of one row's shape) are all equal."""
    if angles.dim() < 2:
        return 1
    n = angles.shape[0]
    keys = [angles.detach().reshape(n, -1)]
    for name, value in circuit_args.items():
        if isinstance(value, torch.Tensor) and value.dim() == ROW_DIMS.get(name, -1) + 1:
            keys.append(value.detach().reshape(n, -1).to(keys[0].dtype))
    return int(torch.unique(torch.cat(keys, dim=1), dim=0).shape[0]) if n else 0


def _value(p):
    try:
        return float(p)  # torch / numpy scalars: exact
    except (TypeError, ValueError):
        return parameter_text(p)  # arrays (e.g. matrices): their full-precision text


def _fast_key(tape) -> tuple:
    """Gate types, every parameter value, measurements and shots of `tape` (wires left out:
    they are compared only between circuits whose keys match, see `deduplicate`)."""
    ops = tape.operations
    return (tuple(type(op) for op in ops), tuple(_value(p) for op in ops for p in op.data),
            tuple(repr(m) for m in tape.measurements), tape.shots.total_shots)


def _wires(tape) -> tuple:
    # Operator._wires: the public `wires` property costs ~7 µs a call here (PennyLane 0.45),
    # 25x more; the attribute is what it returns.
    return tuple(getattr(op, "_wires", None) or op.wires for op in tape.operations)


def unique_circuits(circuits) -> tuple[list[int], list[int]]:
    """(firsts, slots): index of each distinct circuit's first occurrence, and for every
    circuit the position of its distinct circuit in `firsts`. Circuits are equal when their
    gates, wires, parameter values (bit for bit), measurements and shots are."""
    seen: dict[tuple, list[int]] = {}  # fast key -> positions in firsts
    firsts, slots, wires = [], [], {}  # wires: position in firsts -> that circuit's wires

    def same_wires(k: int, tape) -> bool:
        if k not in wires:
            wires[k] = _wires(circuits[firsts[k]])
        return wires[k] == _wires(tape)

    for i, tape in enumerate(circuits):
        candidates = seen.setdefault(_fast_key(tape), [])
        slot = next((k for k in candidates if same_wires(k, tape)), None)
        if slot is None:
            slot = len(firsts)
            firsts.append(i)
            candidates.append(slot)
        slots.append(slot)
    return firsts, slots


def deduplicate(device):
    """Wrap `device.execute` (instance attribute, once) so that identical circuits within a
    batch run once and every circuit gets its result. Returns the device."""
    if getattr(device, "_qattn_dedup", False):
        return device
    inner = device.execute

    def execute(circuits, execution_config=None):
        single = not isinstance(circuits, (list, tuple))
        circuits = [circuits] if single else list(circuits)
        firsts, slots = unique_circuits(circuits) if len(circuits) > 1 else ([0], [0])
        if len(firsts) == len(circuits):
            results = tuple(inner(circuits, execution_config))
        else:
            results = list(inner([circuits[i] for i in firsts], execution_config))
            results = tuple(results[k] for k in slots)  # every circuit gets its result
        return results[0] if single else results

    device.execute = execute
    device._qattn_dedup = True
    return device


def enable_dedup(qnode):
    """Turn deduplication on for `qnode` (a QNode, a GuardedQNode or a native node)."""
    node = qnode
    while hasattr(node, "dedup"):  # GuardedQNode / EstimatorNode: they count or pack rows
        node.dedup = True
        if not hasattr(node, "qnode"):
            return qnode
        node = node.qnode
    deduplicate(node.device)
    return qnode


def dedup_expectations(qnode, spec: CircuitSpec, angles: torch.Tensor,
                       tasks: int | torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """`expectations` of `angles` (N, Q) with identical circuits run once; (N, n_outputs).

    Gradients are exact for every row (see the module docstring)."""
    enable_dedup(qnode)
    return expectations(qnode, angles, select(spec, params, tasks))
