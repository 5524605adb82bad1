"""Folding: the trained circuits of attention layers replaced by their exact real polynomial.

``QuantumAttention.fold()`` (and the self-attention layer, and ``MultiTaskModel.fold()``)
returns a module with the same forward signature and the same outputs that runs only real
tensor operations (``circuits.fold``): no PennyLane call at inference, on CPU or CUDA, and
exportable to ONNX and ``torch.export``. A folded layer is for inference: its coefficients are
buffers computed once from the circuit weights; fold again after further training.

    angles (B, T, Q) ─(1, cos, sin) products of each half of the wires─> one GEMM with
    coefficients[task] (n_out, 3^Q) and a row-wise dot ─> ⟨Z⟩ (B, T, n_out)

This module holds the shared arithmetic and :func:`fold_module`; each layer's folded form
lives beside the layer (``attention.FoldedAttention``, ``self_attention.FoldedSelfAttention``),
so the layers and this module import each other in one direction only.
``QuantumAttention(exact_path="fold")`` is the training counterpart: the same evaluation
with coefficients recomputed, with autograd, on every forward.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from circuits import CircuitSpec
from circuits.fold import fold_coefficients, folded_expectations, task_expectations

__all__ = ["Foldable", "all_task_outputs", "circuit_coefficients", "fold_module",
           "folded_outputs"]


def circuit_coefficients(spec: CircuitSpec, circuit: nn.ParameterDict, dtype: torch.dtype,
                         index=None) -> torch.Tensor:
    """(K, n_out, 3^Q) fold coefficients of a layer's circuit weights (circuit `index` of a
    stacked set when given), in `dtype`."""
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


class Foldable:
    """Mixin of a quantum layer that can fold itself: ``fold()`` returns its folded form
    (QuantumAttention -> FoldedAttention, QuantumSelfAttention -> FoldedSelfAttention) in the
    layer's train/eval mode. :func:`fold_module` folds every Foldable inside a module."""

    def fold(self) -> nn.Module:
        raise NotImplementedError


def fold_module(module: nn.Module) -> nn.Module:
    """A copy of `module` with every quantum attention layer inside it folded (`module` itself
    when it is one); other submodules are deep-copied, except a model's text encoder, which
    is shared (it is frozen and large). The copy is in eval mode."""
    if isinstance(module, Foldable):
        return module.fold()
    memo = {}
    encoder = getattr(module, "encoder", None)
    if isinstance(encoder, nn.Module):
        memo[id(encoder)] = encoder
    quantum = {name: sub for name, sub in module.named_modules()
               if isinstance(sub, Foldable)}
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
