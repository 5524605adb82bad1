"""``qattn.torch``: an exact, broadcasting state-vector simulator written in torch.

A PennyLane device (new device API) for exact training: ``diff_method="backprop"`` gives
autograd gradients through a batched torch simulation (see ``circuits.fast.kernel``), on the
parameters' device (CPU or CUDA), in complex64 or complex128.

    dev = qml.device("qattn.torch", wires=4)              # complex dtype follows the inputs
    dev = qml.device("qattn.torch", wires=4, c_dtype=torch.complex64)

Supported: every operation with a matrix (anything else is decomposed by PennyLane),
analytic ``expval``/``var``/``probs``/``state`` and the other state measurements, and
samples drawn from the exact state when shots are set. Mid-circuit measurements are
deferred (no post-selection). Parameters from autograd or JAX that need backprop run on
PennyLane's reference simulator, so those interfaces still work; the fast path is torch.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pennylane as qml
import torch
from pennylane import math
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.modifiers import simulator_tracking, single_tape_support
from pennylane.devices.preprocess import (
    decompose,
    no_sampling,
    null_postprocessing,
    validate_device_wires,
)
from pennylane.devices.qubit import simulate as reference_simulate
from pennylane.devices.qubit.sampling import measure_with_samples
from pennylane.exceptions import DecompositionUndefinedError, DeviceError, WireError
from pennylane.measurements import (
    ClassicalShadowMP,
    ExpectationMP,
    MidMeasureMP,
    SampleMeasurement,
    ShadowExpvalMP,
    StateMeasurement,
    StateMP,
)
from pennylane.transforms import defer_measurements
from pennylane.transforms.core import transform

from circuits.fast.gates import op_batch_size
from circuits.fast.kernel import final_state
from circuits.fast.measure import measure_all, probabilities

logger = logging.getLogger(__name__)

DEVICE_NAME = "qattn.torch"
C_DTYPES = (torch.complex64, torch.complex128)
# Interfaces whose backprop needs their own arrays end to end: run on PennyLane's simulator.
_FOREIGN_BACKPROP = {math.Interface.AUTOGRAD, math.Interface.JAX, math.Interface.JAX_JIT,
                     math.Interface.TF, math.Interface.TF_AUTOGRAPH}


# ----------------------------------------------------------------------------- preprocessing
def _supported_operation(op) -> bool:
    if isinstance(op, MidMeasureMP):
        return False
    if op.name.startswith("Pow") and any(math.requires_grad(d) for d in op.data):
        return False  # as default.qubit: fractional powers of trainable gates decompose
    return op.has_matrix


def _decomposer(op):
    try:
        return op.decomposition()
    except DecompositionUndefinedError:
        raise DeviceError(
            f"operations on {DEVICE_NAME} must have a matrix or a decomposition into "
            f"operations that do; got {op.name}"
        ) from None


def _observable_ok(obs, expval: bool) -> bool:
    if isinstance(obs, qml.ops.CompositeOp):
        return all(_observable_ok(o, expval) for o in obs.operands)
    if isinstance(obs, qml.ops.SymbolicOp):
        return _observable_ok(obs.base, expval)
    if expval and isinstance(obs, (qml.Hermitian, qml.SparseHamiltonian)):
        return True
    return obs.has_diagonalizing_gates


@transform
def validate_wires_in_range(tape, wires=None):
    """Raise a WireError naming the device wires when the tape uses others."""
    if wires and (extra := [w for w in tape.wires if w not in wires]):
        raise WireError(
            f"wires on {DEVICE_NAME} must be among the device wires {wires.tolist()}; "
            f"got {extra}"
        )
    return (tape,), null_postprocessing


@transform
def validate_measurements(tape):
    """Raise a DeviceError for a measurement the device cannot do in the tape's mode."""
    for mp in tape.measurements:
        if isinstance(mp, (ClassicalShadowMP, ShadowExpvalMP)):
            raise DeviceError(
                f"measurements on {DEVICE_NAME} must not be classical shadows; got {mp}"
            )
        if tape.shots:
            ok = isinstance(mp, SampleMeasurement) and (
                mp.obs is None or _observable_ok(mp.obs, expval=False)
            )
            kind, why = "sample-based (expval, var, probs, sample, counts)", "with finite shots"
        else:
            ok = isinstance(mp, StateMeasurement) and (
                mp.obs is None or _observable_ok(mp.obs, expval=isinstance(mp, ExpectationMP))
            )
            kind, why = "state-based (expval, var, probs, state, density_matrix, ...)", (
                "for analytic simulation"
            )
        if not ok:
            raise DeviceError(
                f"measurements {why} on {DEVICE_NAME} must be {kind}; got {mp}, "
                f"not accepted {why}"
            )
    return (tape,), null_postprocessing


# ----------------------------------------------------------------------------- the device
@simulator_tracking
@single_tape_support
class TorchDevice(Device):
    """Exact batched state-vector simulation in torch, differentiable by backprop.

    Args:
        wires (int or Iterable): number of wires or their labels.
        shots: default shots (deprecated by PennyLane in favour of ``qml.set_shots``).
        c_dtype (torch.dtype or None): ``torch.complex64`` or ``torch.complex128``; ``None``
            (default) follows the inputs: complex64 when every floating torch parameter is
            float32 (or complex64), else complex128.
        seed (int or None): seed of the sampler used with shots.
        max_fused_wires (int or None): fuse unbroadcast operations into one dense unitary
            (``4**n`` entries) only up to this many wires; wider circuits run gate by gate.
            None (default): the measured rule of ``circuits.fast.kernel.fuses``.
    """

    _device_options = ("c_dtype", "max_fused_wires")

    def __init__(self, wires=None, shots=None, c_dtype=None, seed=None,
                 max_fused_wires=None):
        super().__init__(wires=wires, shots=shots)
        if c_dtype is not None and c_dtype not in C_DTYPES:
            raise ValueError(
                f"c_dtype must be torch.complex64, torch.complex128 or None; got {c_dtype!r}"
            )
        if max_fused_wires is not None and (
                not isinstance(max_fused_wires, int) or max_fused_wires < 0):
            raise ValueError(
                f"max_fused_wires must be None or a non-negative int; got {max_fused_wires!r}"
            )
        self._c_dtype = c_dtype
        self._max_fused_wires = max_fused_wires
        self._rng = np.random.default_rng(seed)

    @property
    def name(self):
        return DEVICE_NAME

    @property
    def c_dtype(self) -> torch.dtype | None:
        """The complex dtype of the simulation; None follows the inputs."""
        return self._c_dtype

    @property
    def max_fused_wires(self) -> int | None:
        """Widest circuit whose unbroadcast gates are fused into one dense unitary (None:
        the measured rule, ``circuits.fast.kernel.fuses``)."""
        return self._max_fused_wires

    # --- configuration -----------------------------------------------------------------------
    def supports_derivatives(self, execution_config=None, circuit=None) -> bool:
        if execution_config is None:
            return True
        if execution_config.gradient_method not in {"backprop", "best"}:
            return False
        return circuit is None or not circuit.shots

    def setup_execution_config(self, config=None, circuit=None) -> ExecutionConfig:
        config = config or ExecutionConfig()
        for option in config.device_options:
            if option not in self._device_options:
                raise DeviceError(
                    f"device options of {DEVICE_NAME} must be among {self._device_options}; "
                    f"got {option!r}"
                )
        mcm_method = config.mcm_config.mcm_method
        if mcm_method not in (None, "deferred"):
            raise DeviceError(
                f"mcm_method on {DEVICE_NAME} must be 'deferred' (or None); got {mcm_method!r}"
            )
        gradient_method = config.gradient_method
        if gradient_method == "best":
            gradient_method = "backprop"
        updates = {
            "gradient_method": gradient_method,
            "mcm_config": replace(config.mcm_config, mcm_method="deferred"),
            "device_options": {
                "c_dtype": self._c_dtype,
                "max_fused_wires": self._max_fused_wires,
                **config.device_options,
            },
        }
        if config.use_device_gradient is None:
            updates["use_device_gradient"] = gradient_method == "backprop"
        if config.use_device_jacobian_product is None:
            updates["use_device_jacobian_product"] = False
        if config.grad_on_execution is None:
            updates["grad_on_execution"] = False
        return replace(config, **updates)

    def preprocess_transforms(self, execution_config=None):
        config = execution_config or ExecutionConfig()
        pipeline = qml.CompilePipeline()
        pipeline.add_transform(validate_wires_in_range, wires=self.wires)
        pipeline.add_transform(defer_measurements, allow_postselect=False)
        pipeline.add_transform(
            decompose,
            stopping_condition=_supported_operation,
            decomposer=_decomposer,
            name=self.name,
            device_wires=self.wires,
        )
        pipeline.add_transform(validate_device_wires, self.wires, name=self.name)
        pipeline.add_transform(validate_measurements)
        if config.gradient_method == "backprop":
            pipeline.add_transform(no_sampling, name=f"backprop + {self.name}")
        return pipeline

    # --- execution ---------------------------------------------------------------------------
    def execute(self, circuits, execution_config=None):
        config = execution_config or ExecutionConfig()
        if config.gradient_method == "backprop" and config.interface in _FOREIGN_BACKPROP:
            logger.debug("%s: %s backprop runs on PennyLane's reference simulator",
                         DEVICE_NAME, config.interface)
            return tuple(
                reference_simulate(c, rng=self._rng, interface=config.interface)
                for c in circuits
            )
        options = config.device_options
        return tuple(
            self._simulate(
                c, options.get("c_dtype", self._c_dtype),
                options.get("max_fused_wires", self._max_fused_wires),
            )
            for c in circuits
        )

    def _simulate(self, tape, c_dtype, max_fused_wires):
        params = tape.get_parameters(trainable_only=False)
        torch_params = [p for p in params if isinstance(p, torch.Tensor)]
        dtype = c_dtype or _natural_dtype(torch_params)
        # The state lives where the parameters do (CUDA if any parameter is on a GPU).
        device = next((p.device for p in torch_params if p.device.type != "cpu"),
                      torch.device("cpu"))
        batches = [op_batch_size(op) for op in tape.operations]
        batch = _batch_size(batches)
        wire_order = list(self.wires) if self.wires else list(tape.wires)
        if wire_order != list(range(len(wire_order))):
            wire_map = {w: i for i, w in enumerate(wire_order)}
            (tape,), _ = qml.map_wires(tape, wire_map)
            wire_order = list(range(len(wire_order)))
        state = final_state(tape.operations, batches, wire_order, batch or 1, dtype, device,
                            max_fused_wires)  # (N, 2**n)
        n = len(wire_order)
        if tape.shots:
            shaped = state.reshape(((batch,) if batch else ()) + (2,) * n)
            result = measure_with_samples(
                tape.measurements, shaped, tape.shots, is_state_batched=bool(batch), rng=self._rng
            )
            return result[0] if len(tape.measurements) == 1 else result
        probs = None  # (N, 2**n), only when some measurement needs it
        if any(type(m) is not StateMP for m in tape.measurements):
            probs = probabilities(state)
        wire_index = {w: i for i, w in enumerate(wire_order)}
        results = tuple(
            measure_all(tape.measurements, state, probs, wire_index, n, batched=bool(batch))
        )
        if not torch_params:  # numpy in, numpy out
            results = tuple(_to_numpy(r) for r in results)
        return results[0] if len(results) == 1 else results


def _natural_dtype(torch_params) -> torch.dtype:
    floats = [p.dtype for p in torch_params if p.is_floating_point() or p.is_complex()]
    if floats and all(d in (torch.float32, torch.complex64, torch.float16, torch.bfloat16)
                      for d in floats):
        return torch.complex64
    return torch.complex128


def _batch_size(batches):
    """The tape's broadcast size (None when unbroadcast); a clear error on a mismatch."""
    sizes = {b for b in batches if b is not None}
    if len(sizes) > 1:
        raise ValueError(
            f"broadcast sizes of the operations must all be equal; got {sorted(sizes)}"
        )
    return sizes.pop() if sizes else None


def _to_numpy(result):
    if isinstance(result, torch.Tensor):
        return result.detach().cpu().numpy()
    return result
