"""Whole steps checked before sending: a QNode behind a guard.

`GuardedQNode` counts, before each call, the whole forward (or training step, when
gradients will be taken) and refuses it if the budget would be exceeded, so a refused step
sends nothing at all. `guard_qnode` attaches the guard to the device (every batch counted,
checked, retried and cached) and wraps the QNode.
"""

from __future__ import annotations

import torch

from circuits.hardware.cost import plan_counts
from circuits.hardware.dedup import unique_circuit_rows
from circuits.hardware.guard import ExecutionGuard, check_program_set_shots
from circuits.plugins import get_profile, local_profile
from circuits.spec import CircuitSpec


class GuardedQNode:
    """A QNode (or native Estimator node) whose every call is counted and budget-checked."""

    def __init__(self, qnode, spec: CircuitSpec, guard: ExecutionGuard, device: str,
                 shots: int, diff_method: str, max_executables: int | None = None,
                 max_set_shots: int | None = None):
        self.qnode, self.spec, self.guard = qnode, spec, guard
        self.device_name, self.shots, self.diff_method = device, shots, diff_method
        self.max_executables, self.max_set_shots = max_executables, max_set_shots
        self.dedup = False  # identical rows run once: plan on the distinct ones

    @property
    def device(self):
        return self.qnode.device

    def __call__(self, angles, *args, **kwargs):
        circuit_args = {**dict(zip(("weights", "task_angles"), args)), **kwargs}
        tensors = [angles, *circuit_args.values()]
        training = torch.is_grad_enabled() and any(
            isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)
        n_rows = angles.shape[0] if angles.dim() > 1 else 1
        if self.dedup:
            n_rows = unique_circuit_rows(angles, circuit_args)
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
