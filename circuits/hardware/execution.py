"""Hardware execution: identical rows evaluated once, and whole steps checked before sending.

- `unique_rows` / `dedup_expectations`: identical (angles, task) rows (padding, repeated
  tokens) become one circuit; results are gathered back (autograd flows through the
  gathers: the summed gradient of a group of identical rows reaches the group's first row,
  which is exact for every parameter upstream of identical inputs).
- `GuardedQNode`: the QNode behind a guard; before each call it counts the whole forward
  (or training step, when gradients will be taken) and refuses it if the budget would be
  exceeded, so a refused step sends nothing at all.
"""

from __future__ import annotations

import torch

from circuits.build import expectations
from circuits.conditioning import select
from circuits.hardware.cost import plan_counts
from circuits.hardware.guard import ExecutionGuard, check_program_set_shots
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


def dedup_expectations(qnode, spec: CircuitSpec, angles: torch.Tensor,
                       tasks: int | torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """`expectations` on the unique rows of `angles` (N, Q) only; returns (N, n_outputs)."""
    first, inverse = unique_rows(angles, tasks)
    unique_tasks = tasks if isinstance(tasks, int) else tasks[first]
    z = expectations(qnode, angles[first], select(spec, params, unique_tasks))  # (U, n_out)
    return z[inverse]


class GuardedQNode:
    """A QNode (or native Estimator node) whose every call is counted and budget-checked."""

    def __init__(self, qnode, spec: CircuitSpec, guard: ExecutionGuard, device: str,
                 shots: int, diff_method: str, max_executables: int | None = None,
                 max_set_shots: int | None = None):
        self.qnode, self.spec, self.guard = qnode, spec, guard
        self.device_name, self.shots, self.diff_method = device, shots, diff_method
        self.max_executables, self.max_set_shots = max_executables, max_set_shots

    @property
    def device(self):
        return self.qnode.device

    def __call__(self, angles, *args, **kwargs):
        tensors = [angles, *args, *kwargs.values()]
        training = torch.is_grad_enabled() and any(
            isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)
        n_rows = angles.shape[0] if angles.dim() > 1 else 1
        planned = plan_counts(self.spec, n_rows, self.diff_method, self.shots, self.device_name,
                              training, self.max_executables)
        self.guard.check_plan(planned, "this training step" if training else "this forward pass")
        largest_batch = max(n_rows, planned.circuits - n_rows)  # forward or gradient batch
        check_program_set_shots(largest_batch, self.shots, self.max_executables,
                                self.max_set_shots)
        return self.qnode(angles, *args, **kwargs)


def guard_qnode(qnode, device, spec: CircuitSpec, guard: ExecutionGuard, device_name: str,
                shots: int | None, diff_method: str) -> GuardedQNode:
    """Attach `guard` to `device` (every batch counted, checked, retried, cached) and wrap
    `qnode` so that whole steps are checked before sending."""
    from circuits.hardware.profiles import get_profile, local_profile

    if shots is None:
        raise ValueError("shots must be a positive int when a guard (budget) is used; got None")
    profile = get_profile(device_name) or local_profile(device_name)
    max_executables = max_set_shots = None
    if profile.packing == "program_set":  # the plugin reads it from the device properties
        max_executables = getattr(device, "_max_program_set_executables", None) or 0
        max_set_shots = _program_set_shot_limit(device)
    guard.attach(device, profile, max_executables, max_set_shots)
    return GuardedQNode(qnode, spec, guard, device_name, shots, diff_method, max_executables,
                        max_set_shots)


def _program_set_shot_limit(device) -> int | None:
    """A Braket device's `maximumTotalShots` per program set, or None if it has none."""
    try:
        from braket.device_schema import DeviceActionType

        action = device._device.properties.action.get(DeviceActionType.OPENQASM_PROGRAM_SET)
    except (AttributeError, ImportError):
        return None
    return getattr(action, "maximumTotalShots", None)


def native_qnode(spec: CircuitSpec, shots: int | None, device_options: dict | None,
                 guard: ExecutionGuard | None = None):
    """The native Qiskit Runtime Estimator node ('qiskit.estimator'), guarded if asked."""
    from circuits.hardware.estimator import EstimatorNode
    from circuits.hardware.profiles import PROFILES

    kwargs = PROFILES["qiskit.estimator"].device_kwargs(device_options)
    node = EstimatorNode(spec, kwargs["backend"], shots, session=kwargs.get("session"),
                         optimization_level=kwargs.get("optimization_level", 1),
                         seed=kwargs.get("seed"), guard=guard)
    if guard is None:
        return node
    return GuardedQNode(node, spec, guard, "qiskit.estimator", shots, "parameter-shift")
