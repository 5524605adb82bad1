"""Hardware QNodes: the core QNode (`circuits.build_qnode`) plus what paid devices need.

`build_hardware_qnode` takes the same arguments as `build_qnode` plus a guard (budget,
dry run, retries, result cache) and deduplication, and knows the native Qiskit Runtime
path ("qiskit.estimator", one Estimator PUB per step), which is not a PennyLane device.
"""

from __future__ import annotations

from circuits.build import build_qnode, resolved_diff_method
from circuits.devices import default_device
from circuits.hardware.dedup import enable_dedup
from circuits.hardware.execution import GuardedQNode, guard_qnode
from circuits.hardware.guard import ExecutionGuard
from circuits.plugins import NATIVE_DEVICES, PROFILES
from circuits.spec import CircuitSpec


def build_hardware_qnode(spec: CircuitSpec, device: str | None = None, shots: int | None = None,
                         diff_method: str = "best", device_options: dict | None = None,
                         guard: ExecutionGuard | None = None, dedup: bool = False):
    """`build_qnode(spec, device, shots, diff_method, device_options)`, then: with a `guard`
    every call is counted and budget-checked first; with `dedup` identical circuits of a
    batch run once (exact gradients for every row). Device "qiskit.estimator" is the native
    Qiskit Runtime path."""
    if device in NATIVE_DEVICES:
        qnode = native_qnode(spec, shots, device_options, guard)
    else:
        qnode = build_qnode(spec, device, shots, diff_method, device_options)
        if guard is not None:
            name = default_device(shots) if device is None else device
            qnode = guard_qnode(qnode, qnode.device, spec, guard, name, shots,
                                resolved_diff_method(qnode, spec))
    return enable_dedup(qnode) if dedup else qnode


def native_qnode(spec: CircuitSpec, shots: int | None, device_options: dict | None,
                 guard: ExecutionGuard | None = None):
    """The native Qiskit Runtime Estimator node ('qiskit.estimator'), guarded if asked."""
    from circuits.hardware.estimator import EstimatorNode

    kwargs = PROFILES["qiskit.estimator"].device_kwargs(device_options)
    node = EstimatorNode(spec, kwargs["backend"], shots, session=kwargs.get("session"),
                         optimization_level=kwargs.get("optimization_level", 1),
                         seed=kwargs.get("seed"), guard=guard)
    if guard is None:
        return node
    return GuardedQNode(node, spec, guard, "qiskit.estimator", shots, "parameter-shift")
