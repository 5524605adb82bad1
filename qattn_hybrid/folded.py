"""Folded attention layers: the trained circuits replaced by their exact real polynomial.

``QuantumAttention.fold()`` (and the self-attention layer, and ``MultiTaskModel.fold()``)
returns a module with the same forward signature and the same outputs that runs only real
tensor operations (``circuits.fold``): no PennyLane call at inference, on CPU or CUDA, and
exportable to ONNX and ``torch.export``. A folded layer is for inference: its coefficients are
buffers computed once from the circuit weights; fold again after further training.

    angles (B, T, Q) ─(1, cos, sin) products of each half of the wires─> one GEMM with
    coefficients[task] (n_out, 3^Q) and a row-wise dot ─> ⟨Z⟩ (B, T, n_out)

``QuantumAttention(exact_path="fold")`` is the training counterpart: the same evaluation
with coefficients recomputed, with autograd, on every forward.
"""

from __future__ import annotations

import copy
import functools
import math

import torch
from torch import nn

from circuits import CircuitSpec
from circuits.fold import (check_foldable, fold_coefficients, folded_expectations,
                           task_expectations)
from qattn_hybrid.attention import AttentionOutput, QuantumAttention, check_inputs, mask_scores, pool

__all__ = ["FoldedAttention", "FoldedSelfAttention", "all_task_outputs", "fold_module",
           "folded_outputs"]


def _coefficients(spec: CircuitSpec, circuit: nn.ParameterDict, dtype: torch.dtype,
                  index=None) -> torch.Tensor:
    params = {k: (v if index is None else v[index]).detach().to(torch.float64)
              for k, v in circuit.items()}
    return fold_coefficients(spec, params).to(dtype)  # (K, n_out, 3^Q)


def folded_outputs(angles: torch.Tensor, coefficients: torch.Tensor, tasks) -> torch.Tensor:
    """Expectation values (..., n_out) of `angles` (..., Q) under each task's coefficients
    `coefficients` (K, n_out, 3^Q); `tasks` an int, or a LongTensor over the leading axis."""
    lead = angles.shape[:-1]
    flat = angles.reshape(-1, angles.shape[-1])  # (N, Q)
    if not isinstance(tasks, int):  # one task per leading row: one per token
        tasks = tasks.reshape(tasks.shape + (1,) * (len(lead) - tasks.dim())).expand(lead)
        tasks = tasks.reshape(-1)
    return task_expectations(flat, coefficients, tasks).reshape(*lead, -1)


def all_task_outputs(angles: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """(..., K, n_out): the expectation values of `angles` (..., Q) under every task at once."""
    K, J, _ = coefficients.shape
    flat = angles.reshape(-1, angles.shape[-1])
    return folded_expectations(flat, coefficients.reshape(K * J, -1)).reshape(
        *angles.shape[:-1], K, J)


class FoldedAttention(nn.Module):
    """QuantumAttention with its circuit folded: same forward, same outputs, real arithmetic.

    forward(x (B, T, D), task_id int | LongTensor (B,), mask (B, T) bool or None)
        -> AttentionOutput(pooled (B, D), weights (B, H, T))
    """

    def __init__(self, layer: QuantumAttention):
        super().__init__()
        check_foldable(layer.spec, layer.device_name, layer.shots)
        self.spec, self.d_model, self.n_heads = layer.spec, layer.d_model, layer.n_heads
        self.to_angles = copy.deepcopy(layer.to_angles)
        self.readout = copy.deepcopy(layer.readout)
        self.value = copy.deepcopy(layer.value)
        dtype = layer.to_angles.weight.dtype
        self.register_buffer("coefficients", _coefficients(layer.spec, layer.circuit, dtype))

    @property
    def n_tasks(self) -> int:
        return self.spec.n_tasks

    def angles(self, x: torch.Tensor) -> torch.Tensor:
        return math.pi * torch.tanh(self.to_angles(x))

    def expectation_values(self, x: torch.Tensor, task_id, mask=None) -> torch.Tensor:
        """(B, T, n_out) circuit outputs; masked tokens read 0, as in the circuit layer."""
        tasks = check_inputs(x, task_id, mask, self.d_model, self.n_tasks)
        z = folded_outputs(self.angles(x), self.coefficients, tasks)  # (B, T, n_out)
        return z if mask is None else z * mask[..., None]

    def scores(self, x: torch.Tensor, task_id, mask=None) -> torch.Tensor:
        scores = self.readout(self.expectation_values(x, task_id, mask)).transpose(1, 2)
        return mask_scores(scores, mask)

    def forward(self, x: torch.Tensor, task_id, mask=None) -> AttentionOutput:
        return pool(self.scores(x, task_id, mask), self.value(x))

    def extra_repr(self) -> str:
        s = self.spec
        return (f"d_model={self.d_model}, n_tasks={s.n_tasks}, n_qubits={s.n_qubits}, "
                f"n_heads={self.n_heads}, coefficients={tuple(self.coefficients.shape)}")


@functools.lru_cache(maxsize=1)
def _folded_self_attention_class():
    from qattn_hybrid.self_attention import ROLES, _row_tasks, _SelfAttention

    class FoldedSelfAttention(_SelfAttention):
        """QuantumSelfAttention with its 3·H circuits folded (same forward and outputs)."""

        def __init__(self, layer):
            check_foldable(layer.spec, layer.device_name, layer.shots)
            super().__init__(layer.d_model, layer.n_tasks, layer.n_heads, layer.n_features,
                             layer.score, layer.causal)
            self.spec, self._n_tasks = layer.spec, layer.n_tasks
            self.out = copy.deepcopy(layer.out)
            self.to_angles = copy.deepcopy(layer.to_angles)
            dtype = layer.to_angles.weight.dtype
            n_circuits = len(ROLES) * layer.n_heads
            coefficients = [_coefficients(layer.spec, layer.circuit, dtype, c)
                            for c in range(n_circuits)]
            self.register_buffer("coefficients", torch.stack(coefficients))  # (3H, K, J, 3^Q)

        @property
        def n_tasks(self) -> int:
            return self._n_tasks

        def features(self, x: torch.Tensor, tasks, keep: torch.Tensor) -> torch.Tensor:
            angles = math.pi * torch.tanh(self.to_angles(x[keep]))  # (N, 3H·Q)
            angles = angles.unflatten(-1, (-1, self.spec.n_qubits)).transpose(0, 1)  # (3H, N, Q)
            row_tasks = _row_tasks(tasks, keep)
            return torch.stack([folded_outputs(a, c, row_tasks)
                                for a, c in zip(angles, self.coefficients)])  # (3H, N, E)

    return FoldedSelfAttention


def __getattr__(name: str):
    if name == "FoldedSelfAttention":  # built lazily: self_attention imports model.py
        return _folded_self_attention_class()
    raise AttributeError(name)


def fold_module(module: nn.Module) -> nn.Module:
    """A copy of `module` with every quantum attention layer inside it folded (`module` itself
    when it is one); other submodules are deep-copied, except a model's text encoder, which
    is shared (it is frozen and large). The copy is in eval mode."""
    from qattn_hybrid.self_attention import QuantumSelfAttention

    if isinstance(module, QuantumAttention):
        return FoldedAttention(module).train(module.training)
    if isinstance(module, QuantumSelfAttention):
        return _folded_self_attention_class()(module).train(module.training)
    memo = {}
    encoder = getattr(module, "encoder", None)
    if isinstance(encoder, nn.Module):
        memo[id(encoder)] = encoder
    quantum = {name: sub for name, sub in module.named_modules()
               if isinstance(sub, (QuantumAttention, QuantumSelfAttention))}
    if not quantum:
        raise ValueError(f"module must contain a QuantumAttention or QuantumSelfAttention "
                         f"layer to fold; got {type(module).__name__}")
    for sub in quantum.values():
        memo[id(sub)] = sub  # not copied: replaced below
    clone = copy.deepcopy(module, memo)
    for name, sub in quantum.items():
        parent_name, _, child = name.rpartition(".")
        parent = clone.get_submodule(parent_name) if parent_name else clone
        setattr(parent, child, fold_module(sub))
    return clone.eval()
