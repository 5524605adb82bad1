"""Classical attention pooling: the control for every quantum-attention claim.

Same interface and the same shape of computation as :class:`~qattn_hybrid.QuantumAttention`,
with the circuit replaced by a small classical map::

    x (B, T, D) ─Linear─> tanh ─> h (B, T, hidden)                  shared (as to_angles)
    h, task ─per-task Linear─> scores (B, H, T)                      per task (as θ[task])
    scores ─mask, softmax over T─> weights (B, H, T)
    weights · value(x) split in H heads ─> pooled (B, D)             same value path

Parameters: hidden·(D + 1 + K·H), plus D·D + D with ``value="linear"`` (no score bias: a
softmax over tokens ignores a constant shift). :func:`matched_hidden` picks ``hidden`` so
the count matches a given one (e.g. the quantum layer's), and
:meth:`ClassicalAttention.matching` builds the layer directly. The per-task score weights
start at 0, so, like the quantum layer, the control starts as masked mean pooling.

:class:`MeanPooling` is the plain baseline: the masked mean of the features, no parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from qattn_hybrid.layers.common import (AttentionOutput, check_inputs, mask_scores, param_dtype,
                                        pool, value_path)

__all__ = ["ClassicalAttention", "MeanPooling", "count_parameters", "matched_hidden"]


class ClassicalAttention(nn.Module):
    """Task-conditioned classical attention pooling.

    forward(x (B, T, D), task_id int | LongTensor (B,), mask (B, T) bool or None)
        -> AttentionOutput(pooled (B, D), weights (B, H, T))
    """

    def __init__(self, d_model: int, n_tasks: int, n_heads: int = 1, hidden: int | None = None,
                 value: str = "identity"):
        super().__init__()
        hidden = 8 if hidden is None else hidden
        for name, number in (("d_model", d_model), ("n_tasks", n_tasks), ("n_heads", n_heads),
                             ("hidden", hidden)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise ValueError(f"{name} must be a positive int; got {number!r}")
        if d_model % n_heads:
            raise ValueError(f"d_model must be divisible by n_heads={n_heads}; got {d_model}")
        self.d_model, self.n_tasks, self.n_heads, self.hidden = d_model, n_tasks, n_heads, hidden
        self.to_hidden = nn.Linear(d_model, hidden)
        # per-task score weights, 0 at init (uniform weights: masked mean pooling), as the
        # quantum layer's readout
        self.task_weight = nn.Parameter(torch.zeros(n_tasks, n_heads, hidden))
        self.value = value_path(value, d_model)

    @classmethod
    def matching(cls, n_params: int, d_model: int, n_tasks: int, n_heads: int = 1,
                 value: str = "identity"):
        """The layer whose parameter count is closest to ``n_params``."""
        hidden = matched_hidden(n_params, d_model, n_tasks, n_heads, value)
        return cls(d_model, n_tasks, n_heads, hidden, value)

    def scores(self, x: torch.Tensor, task_id, mask=None) -> torch.Tensor:
        """(B, H, T) attention logits; -inf on masked tokens."""
        tasks = check_inputs(x, task_id, mask, self.d_model, self.n_tasks, param_dtype(self))
        h = torch.tanh(self.to_hidden(x))  # (B, T, hidden)
        if isinstance(tasks, int):
            scores = torch.einsum("btj,hj->bht", h, self.task_weight[tasks])  # w: (H, hidden)
        else:
            scores = torch.einsum("btj,bhj->bht", h, self.task_weight[tasks])  # w: (B, H, hidden)
        return mask_scores(scores, mask)

    def forward(self, x: torch.Tensor, task_id, mask=None) -> AttentionOutput:
        scores = self.scores(x, task_id, mask)  # (B, H, T); checks the inputs first
        return pool(scores, self.value(x))

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_tasks={self.n_tasks}, n_heads={self.n_heads}, "
                f"hidden={self.hidden}")


class MeanPooling(nn.Module):
    """The masked mean of the features: no parameters, the baseline every attention must beat.

    forward(x (B, T, D), task_id, mask (B, T) bool or None)
        -> AttentionOutput(pooled (B, D), weights (B, 1, T) uniform over real tokens)
    """

    def __init__(self, d_model: int, n_tasks: int):
        super().__init__()
        self.d_model, self.n_tasks = d_model, n_tasks

    def forward(self, x: torch.Tensor, task_id, mask=None) -> AttentionOutput:
        check_inputs(x, task_id, mask, self.d_model, self.n_tasks)
        scores = mask_scores(x.new_zeros(x.shape[0], 1, x.shape[1]), mask)  # (B, 1, T)
        return pool(scores, x)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_tasks={self.n_tasks}"


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalars in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _n_params(hidden: int, d_model: int, n_tasks: int, n_heads: int, value: str) -> int:
    value_params = d_model * (d_model + 1) if value == "linear" else 0
    return hidden * (d_model + 1 + n_tasks * n_heads) + value_params


def matched_hidden(n_params: int, d_model: int, n_tasks: int, n_heads: int = 1,
                   value: str = "identity") -> int:
    """The ``hidden`` (>= 1) whose :class:`ClassicalAttention` count is closest to ``n_params``."""
    smallest = _n_params(1, d_model, n_tasks, n_heads, value)
    if isinstance(n_params, bool) or not isinstance(n_params, int) or n_params < smallest:
        raise ValueError(
            f"n_params must be an int >= {smallest} (the count at hidden=1 for d_model={d_model}, "
            f"n_tasks={n_tasks}, n_heads={n_heads}); got {n_params!r}"
        )
    per_unit = d_model + 1 + n_tasks * n_heads
    low = (n_params - smallest) // per_unit + 1
    candidates = (low, low + 1)
    return min(candidates,
               key=lambda h: abs(_n_params(h, d_model, n_tasks, n_heads, value) - n_params))
