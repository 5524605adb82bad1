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
from circuits.hardware.cache import tape_key
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


def deduplicate(device):
    """Wrap `device.execute` (instance attribute, once) so that identical circuits within a
    batch run once and every circuit gets its result. Returns the device."""
    if getattr(device, "_qattn_dedup", False):
        return device
    inner = device.execute

    def execute(circuits, execution_config=None):
        single = not isinstance(circuits, (list, tuple))
        circuits = [circuits] if single else list(circuits)
        if len(circuits) < 2:
            results = inner(circuits, execution_config)
            return results[0] if single else tuple(results)
        slot: dict[str, int] = {}  # circuit key -> index among the unique circuits
        order = [slot.setdefault(tape_key(c, ""), len(slot)) for c in circuits]
        firsts = {}
        for i, k in enumerate(order):
            firsts.setdefault(k, i)
        unique = [circuits[firsts[k]] for k in range(len(slot))]
        results = list(inner(unique, execution_config))
        gathered = tuple(results[k] for k in order)  # every circuit gets its result
        return gathered[0] if single else gathered

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
