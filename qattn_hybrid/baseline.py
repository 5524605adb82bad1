"""Classical attention pooling: the control for every quantum-attention claim.

Same interface and the same shape of computation as :class:`~qattn_hybrid.QuantumAttention`,
with the circuit replaced by a small classical map::

    x (B, T, D) ─Linear─> tanh ─> h (B, T, hidden)                  shared (as to_angles)
    h, task ─per-task Linear─> scores (B, H, T)                      per task (as θ[task])
    scores ─mask, softmax over T─> weights (B, H, T)
    weights · value(x) split in H heads ─> pooled (B, D)             same value projection

Parameters: hidden·(D + 1 + K·H) + D·D + D (no score bias: a softmax over tokens ignores
a constant shift). :func:`matched_hidden` picks ``hidden`` so
the count matches a given one (e.g. the quantum layer's), and
:meth:`ClassicalAttention.matching` builds the layer directly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from qattn_hybrid.attention import AttentionOutput, check_inputs, mask_scores, param_dtype, pool

__all__ = ["ClassicalAttention", "count_parameters", "matched_hidden"]


class ClassicalAttention(nn.Module):
    """Task-conditioned classical attention pooling.

    forward(x (B, T, D), task_id int | LongTensor (B,), mask (B, T) bool or None)
        -> AttentionOutput(pooled (B, D), weights (B, H, T))
    """

    def __init__(self, d_model: int, n_tasks: int, n_heads: int = 1, hidden: int | None = None):
        super().__init__()
        hidden = 8 if hidden is None else hidden
        for name, value in (("d_model", d_model), ("n_tasks", n_tasks), ("n_heads", n_heads),
                            ("hidden", hidden)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        if d_model % n_heads:
            raise ValueError(f"d_model must be divisible by n_heads={n_heads}; got {d_model}")
        self.d_model, self.n_tasks, self.n_heads, self.hidden = d_model, n_tasks, n_heads, hidden
        self.to_hidden = nn.Linear(d_model, hidden)
        bound = 1.0 / math.sqrt(hidden)  # nn.Linear's default init, per task
        self.task_weight = nn.Parameter(torch.empty(n_tasks, n_heads, hidden).uniform_(-bound, bound))
        self.value = nn.Linear(d_model, d_model)

    @classmethod
    def matching(cls, n_params: int, d_model: int, n_tasks: int, n_heads: int = 1):
        """The layer whose parameter count is closest to ``n_params``."""
        return cls(d_model, n_tasks, n_heads, matched_hidden(n_params, d_model, n_tasks, n_heads))

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


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalars in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _n_params(hidden: int, d_model: int, n_tasks: int, n_heads: int) -> int:
    return hidden * (d_model + 1 + n_tasks * n_heads) + d_model * (d_model + 1)


def matched_hidden(n_params: int, d_model: int, n_tasks: int, n_heads: int = 1) -> int:
    """The ``hidden`` (>= 1) whose :class:`ClassicalAttention` count is closest to ``n_params``."""
    smallest = _n_params(1, d_model, n_tasks, n_heads)
    if isinstance(n_params, bool) or not isinstance(n_params, int) or n_params < smallest:
        raise ValueError(
            f"n_params must be an int >= {smallest} (the count at hidden=1 for d_model={d_model}, "
            f"n_tasks={n_tasks}, n_heads={n_heads}); got {n_params!r}"
        )
    per_unit = d_model + 1 + n_tasks * n_heads
    low = (n_params - smallest) // per_unit + 1
    candidates = (low, low + 1)
    return min(candidates, key=lambda h: abs(_n_params(h, d_model, n_tasks, n_heads) - n_params))
