"""Task conditioning: how a task changes the circuit, one small function per scheme.

Both schemes expose the same three things:
- `parameter_shapes(spec)`: the trainable tensors and their shapes (name -> shape);
- `select(spec, params, task_ids)`: the circuit arguments for a batch of rows, gathered from
  the per-task tensors (unbroadcast when every row has the same task, so fast simulators can
  fuse the task-independent part; one row of parameters per token otherwise);
- `task_rotation(angles, wires)`: the gate a task's rotation angles add to each layer.
"""

from __future__ import annotations

import math

import pennylane as qml
import torch

from circuits.ansatze import ansatz_shape
from circuits.spec import CircuitSpec, Conditioning


def parameter_shapes(spec: CircuitSpec) -> dict[str, tuple[int, ...]]:
    """Trainable circuit tensors: `weights` always, `task_angles` for task rotations."""
    block = ansatz_shape(spec.ansatz, spec.n_layers, spec.n_qubits)
    if spec.conditioning is Conditioning.PER_TASK_WEIGHTS:
        return {"weights": (spec.n_tasks, *block)}  # (K, L, Q, ...)
    return {"weights": block, "task_angles": (spec.n_tasks, spec.n_layers, spec.n_qubits)}


def n_parameters(spec: CircuitSpec) -> int:
    """Number of trainable circuit parameters over all tasks."""
    return sum(math.prod(shape) for shape in parameter_shapes(spec).values())


def init_parameters(spec: CircuitSpec, generator: torch.Generator | None = None,
                    dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Fresh parameters: variational weights uniform in [0, 2π); task angles N(0, 0.5²).

    Each task gets its own draw, so different tasks start with different circuits.
    """
    params = {}
    for name, shape in parameter_shapes(spec).items():
        if name == "weights":
            params[name] = torch.rand(shape, generator=generator, dtype=dtype) * (2 * math.pi)
        else:
            params[name] = torch.randn(shape, generator=generator, dtype=dtype) * 0.5
    return params


def task_rotation(angles, wires) -> None:
    """RX(angles[..., q]) on every wire: a task's rotation for one layer."""
    for q, wire in enumerate(wires):
        qml.RX(angles[..., q], wires=wire)


def _single_task(task_ids: int | torch.Tensor) -> int | None:
    """The one task every row shares, or None when rows differ."""
    if isinstance(task_ids, int):
        return task_ids
    first = task_ids.reshape(-1)[0]
    return int(first) if bool((task_ids == first).all()) else None


def select(spec: CircuitSpec, params: dict[str, torch.Tensor],
           task_ids: int | torch.Tensor) -> dict[str, torch.Tensor]:
    """Circuit arguments for rows whose tasks are `task_ids` (an int, or a LongTensor (N,)).

    Rows must be the same rows, in the same order, as the angles given to the circuit.
    """
    task = _single_task(task_ids)
    index = task if task is not None else task_ids  # int -> one set; (N,) -> one per row
    if spec.conditioning is Conditioning.PER_TASK_WEIGHTS:
        return {"weights": params["weights"][index]}
    return {"weights": params["weights"], "task_angles": params["task_angles"][index]}
