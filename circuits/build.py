"""QNode construction: the only place in the library where a QNode is made."""

from __future__ import annotations

import functools

import pennylane as qml
import torch

from circuits.conditioning import init_parameters, select
from circuits.devices import default_device, make_device
from circuits.spec import CircuitSpec, check_shots
from circuits.templates import make_circuit

# Gradient methods that cannot differentiate broadcast tapes (PennyLane #4462): the QNode
# is wrapped in `qml.transforms.broadcast_expand`, one tape per row, still one execution.
SHIFT_METHODS = {"parameter-shift", "spsa", "finite-diff", "hadamard"}
# What works with shots on every device: the shift rules and their cousins.
SHOT_METHODS = ("best", "parameter-shift", "spsa", "finite-diff", "hadamard")


def build_qnode(spec: CircuitSpec, device: str | None = None, shots: int | None = None,
                diff_method: str = "best", device_options: dict | None = None):
    """A torch-interface QNode `qnode(angles, weights, task_angles=None)` for `spec`.

    `device=None` picks `default_device(shots)`: the fast exact `qattn.torch` for exact
    runs, `default.qubit` with shots. `angles` (N, Q) evaluates all N rows in one call
    (parameter broadcasting). With a shift-rule gradient (or "best" resolving to one, e.g.
    with shots) the QNode is wrapped in `broadcast_expand`, so hardware gradients work on
    batches. A `diff_method` the device cannot use with these shots is refused here, not at
    the first forward. Budgets, deduplication and the native Qiskit Runtime path are built
    on top of this by `circuits.hardware.build_hardware_qnode`.
    """
    check_shots(shots)
    device = default_device(shots) if device is None else device
    dev = make_device(device, spec.n_qubits, **(device_options or {}))
    try:
        qnode = _qnode_class(dev, spec)(make_circuit(spec), dev, interface="torch",
                                        diff_method=diff_method, shots=shots)
        method = resolved_diff_method(qnode, spec)
    except qml.exceptions.QuantumFunctionError:
        raise _diff_method_error(device, shots, diff_method) from None
    if method in SHIFT_METHODS:
        qnode = qml.transforms.broadcast_expand(qnode)
    return qnode


def _qnode_class(dev, spec: CircuitSpec):
    """`qml.QNode`, or on `qattn.torch` a `FastQNode` (recorded calls: no per-call tape)."""
    from circuits.fast.device import TorchDevice
    from circuits.fast.qnode import FastQNode

    return functools.partial(FastQNode, spec=spec) if isinstance(dev, TorchDevice) else qml.QNode


def resolved_diff_method(qnode, spec: CircuitSpec) -> str:
    """The gradient method `qnode` will actually use ("best" resolved for this device).

    Raises PennyLane's QuantumFunctionError when the device cannot use the requested
    method with these shots (`build_qnode` turns it into a ValueError that says why).
    """
    method = qnode.diff_method
    args = example_arguments(spec)
    if method == "best":
        return qml.workflow.get_best_diff_method(qnode)(*args.values())
    qml.workflow.construct_execution_config(qnode, resolve=True)(*args.values())
    return method if isinstance(method, str) else getattr(method, "__name__", str(method))


def _diff_method_error(device: str, shots: int | None, diff_method) -> ValueError:
    if shots is not None:
        return ValueError(
            f"diff_method must be one of {', '.join(map(repr, SHOT_METHODS))} with "
            f"shots={shots} (backprop and adjoint need exact simulation, shots=None); "
            f"got {diff_method!r}")
    return ValueError(f"diff_method must be a method device {device!r} supports; "
                      f"got {diff_method!r}")


def example_arguments(spec: CircuitSpec, n_rows: int = 2) -> dict[str, torch.Tensor]:
    """Circuit arguments of the right shapes (task 0, random parameters), for inspection."""
    params = init_parameters(spec, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    angles = torch.zeros(n_rows, spec.n_qubits, dtype=torch.float64)
    return {"angles": angles, **select(spec, params, 0)}


def expectations(qnode, angles: torch.Tensor,
                 circuit_args: dict[str, torch.Tensor]) -> torch.Tensor:
    """Run `qnode` on a batch of rows; returns (N, n_outputs) in the angles' dtype and on
    their device (CPU or any CUDA index), whatever device the simulator computed on."""
    out = qnode(angles, **circuit_args)
    out = torch.stack([torch.as_tensor(o) for o in out], dim=-1)  # (N, n_outputs)
    return out.reshape(angles.shape[0], -1).to(device=angles.device, dtype=angles.dtype)
