"""``FastQNode``: a QNode on ``qattn.torch`` whose calls skip PennyLane's per-call work.

An ordinary QNode call builds the tape (tens of operator objects), runs the device's
preprocessing transforms and the execution pipeline: ~3-5 ms at 4 qubits, as much as
simulating 1,024 tokens. ``FastQNode`` is a ``qml.QNode`` (drawing, specs, ``qml.workflow``
and every other PennyLane entry point see an ordinary QNode) whose ``__call__`` instead

1. records the circuit once per argument layout (``circuits.fast.program``) and then runs
   every call from the argument tensors: the same kernel, the same numbers, autograd
   gradients;
2. groups rows by task: when the per-row parameters (``weights``, ``task_angles`` gathered
   per row) take a few distinct values, each value's unitary is built once (all of them in
   one pass) and applied to its rows with one matrix product; circuits too wide to fuse
   run one gate-by-gate pass per task with unbroadcast parameters. Outputs come back in
   row order.

Anything else (shots, a tracker, a transform on the QNode, capture, non-torch arguments,
a circuit the recording cannot express) takes the ordinary QNode call.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import MappingProxyType

import pennylane as qml
import torch

from circuits.ansatze import ansatz_shape
from circuits.fast.device import TorchDevice
from circuits.fast.kernel import fuses
from circuits.fast.program import NotRecordable, Program, record
from circuits.spec import CircuitSpec

# Rows per task (on average) below which grouping does not pay: each group is one more
# pass of the kernel's per-call work (~0.3-1 ms).
MIN_ROWS_PER_GROUP = 128


def row_shapes(spec: CircuitSpec) -> dict[str, tuple[int, ...]]:
    """Each circuit argument's shape for one row (``circuits.templates.make_circuit``)."""
    return {"angles": (spec.n_qubits,),
            "weights": ansatz_shape(spec.ansatz, spec.n_layers, spec.n_qubits),
            "task_angles": (spec.n_layers, spec.n_qubits)}


class FastQNode(qml.QNode):
    """A QNode for a library circuit on ``qattn.torch`` (see the module docstring).

    Args:
        func, device, **kwargs: as ``qml.QNode``.
        spec (CircuitSpec): the circuit's specification (argument shapes per row).
        recorded (bool): take the recorded path when possible (False: always the ordinary
            QNode call; for comparisons).
    """

    def __init__(self, func, device, *, spec: CircuitSpec, recorded: bool = True, **kwargs):
        super().__init__(func, device, **kwargs)
        self.row_shapes = row_shapes(spec)
        self.recorded = recorded
        self._programs = {}  # layout -> Program, or None when not recordable
        self._signature = inspect.signature(func)

    @property
    def programs(self) -> Mapping[tuple, Program | None]:
        """The recorded programs so far, by argument layout (each argument's name and whether
        it has a batch dimension, None where absent); None for a layout that could not be
        recorded and runs as an ordinary QNode. Read-only."""
        return MappingProxyType(self._programs)

    def __call__(self, *args, **kwargs):
        values = self._arguments(args, kwargs) if self.recorded else None
        if values is None:
            return super().__call__(*args, **kwargs)
        first, *params = values
        groups = None
        if (values[first] is not None and values[first].dim() == len(self.row_shapes[first]) + 1
                and values[first].shape[0] > 1):
            per_row = [values[k] for k in params if values[k] is not None
                       and values[k].dim() == len(self.row_shapes[k]) + 1]
            if per_row:
                groups = task_groups(per_row, max(1, values[first].shape[0] // MIN_ROWS_PER_GROUP))
        if groups is None:
            out = self._run(values)
        else:
            out = self._run_unitaries(values, groups)
            if out is None:
                out = self._run_grouped(values, first, groups)
        if out is None:
            return super().__call__(*args, **kwargs)
        return out

    # --- arguments ---------------------------------------------------------------------------
    def _arguments(self, args, kwargs) -> dict | None:
        """The arguments by name when the recorded path applies, else None."""
        if (not isinstance(self.device, TorchDevice) or qml.capture.enabled()
                or qml.QueuingManager.recording() or self.shots
                or self.device.tracker.active or len(self.compile_pipeline)
                or self.gradient_kwargs or self.diff_method not in ("best", "backprop")):
            return None
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError:
            return None
        if set(bound.arguments) - set(self.row_shapes) or set(self._signature.parameters) != set(
                self.row_shapes):
            return None
        values = {name: bound.arguments.get(name) for name in self._signature.parameters}
        tensors = [v for v in values.values() if v is not None]
        if not tensors or not all(isinstance(v, torch.Tensor) and v.is_floating_point()
                                  for v in tensors):
            return None
        if len({v.device for v in tensors}) > 1:
            return None
        rows = set()
        for name, value in values.items():
            shape = self.row_shapes[name]
            if value is None:
                continue
            if value.dim() == len(shape) + 1 and tuple(value.shape[1:]) == shape:
                rows.add(value.shape[0])
            elif tuple(value.shape) != shape:
                return None  # PennyLane's own call gives its own error
        return values if len(rows) <= 1 else None

    def _layout(self, values) -> tuple:
        return tuple((name, None if v is None else v.dim() > len(self.row_shapes[name]))
                     for name, v in values.items())

    # --- running -----------------------------------------------------------------------------
    def _program(self, values):
        layout = self._layout(values)
        if layout not in self._programs:
            try:
                self._programs[layout] = record(self, dict(layout), self.row_shapes)
            except NotRecordable:
                self._programs[layout] = None
        return self._programs[layout]

    def _run(self, values):
        program = self._program(values)
        if program is None:
            return None
        return program.run(values, self.device.c_dtype, self.device.max_fused_wires)

    def _run_unitaries(self, values, groups):
        """All groups in one pass, one fused unitary per group (``Program.run_grouped``);
        None where the circuit is too wide to fuse or its gates do not split that way."""
        program = self._program(values)
        rows = sum(len(g) for g in groups)
        if program is None or program.split is None or not fuses(
                program.n_wires, rows, self.device.max_fused_wires):
            return None
        out = program.run_grouped(values, groups, self.device.c_dtype,
                                  self.device.max_fused_wires)  # (N, M)
        return out[:, 0] if out.shape[1] == 1 else tuple(out.unbind(-1))

    def _run_grouped(self, values, first, groups):
        """Each group of rows with its own unbroadcast parameters, gate by gate (wide
        circuits: no dense unitary); outputs in row order."""
        outputs = []
        for index in groups:
            sub = {}
            for name, value in values.items():
                if value is None or value.dim() == len(self.row_shapes[name]):
                    sub[name] = value
                elif name == first:
                    sub[name] = value[index]
                else:
                    sub[name] = value[index[0]]  # the same for every row of the group
            out = self._run(sub)
            if out is None:
                return None
            outputs.append(torch.stack(out, -1) if isinstance(out, tuple) else out[:, None])
        order = torch.cat(groups)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(len(order), device=order.device)
        stacked = torch.cat(outputs).index_select(0, inverse)  # (N, M) in row order
        return stacked[:, 0] if stacked.shape[1] == 1 else tuple(stacked.unbind(-1))


def task_groups(params: list[torch.Tensor], max_groups: int) -> list[torch.Tensor] | None:
    """Rows that share every per-row parameter in ``params`` (each ``(N, ...)``), as index
    tensors, one per distinct set of values; None when there are more than ``max_groups``.

    Rows of one sample are usually adjacent and equal (a task per sample), so only the first
    row of each run of equal rows goes into the exact comparison (``torch.unique``). Tensors
    without data (``meta``, used to check device placement) cannot be grouped: None."""
    if any(p.is_meta for p in params):
        return None
    keys = torch.cat([p.detach().reshape(p.shape[0], -1) for p in params], 1)  # (N, P)
    new_run = torch.ones(keys.shape[0], dtype=torch.bool, device=keys.device)
    new_run[1:] = (keys[1:] != keys[:-1]).any(1)
    starts = new_run.nonzero().squeeze(1)  # (R,)
    if len(starts) > 1:
        distinct, run_group = torch.unique(keys[starts], dim=0, return_inverse=True)
        if len(distinct) > max_groups:
            return None
    else:
        run_group = torch.zeros(1, dtype=torch.long, device=keys.device)
    group = run_group[torch.cumsum(new_run, 0) - 1]  # (N,)
    order = torch.argsort(group, stable=True)
    counts = torch.bincount(group).tolist()
    return list(order.split(counts))
