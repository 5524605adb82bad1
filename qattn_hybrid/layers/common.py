"""What every attention-pooling layer shares: its output, its input checks, and pooling.

    check_inputs(x, task_id, mask, d_model, n_tasks)  -> task id(s), or a clear error
    scores (B, H, T) ─mask_scores─> ─pool(scores, value(x))─> AttentionOutput(pooled, weights)

The quantum layer (:mod:`qattn_hybrid.layers.quantum`), its classical control
(:mod:`qattn_hybrid.layers.classical`) and the self-attention layers differ only in how they
score tokens; everything here is shared so a comparison between them compares the scores alone.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["VALUE_PATHS", "AttentionOutput", "check_inputs", "mask_scores", "param_dtype", "pool",
           "value_path"]


class AttentionOutput(NamedTuple):
    pooled: torch.Tensor  # (B, D)
    weights: torch.Tensor  # (B, H, T): >= 0, sum to 1 over real tokens, 0 on masked ones


def check_inputs(x, task_id, mask, d_model: int, n_tasks: int,
                 dtype: torch.dtype | None = None) -> int | torch.Tensor:
    """Validate a forward call's inputs; returns the task as an int or a LongTensor (B,).

    ``dtype``: the layer's parameter dtype. Inputs of another floating dtype are refused with a
    TypeError naming both, rather than cast silently (a float16 input to a float32 layer would
    otherwise fail deep inside torch, and casting would hide a precision choice).
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point torch.Tensor (B, T, D); got {_describe(x)}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"x must have the layer's dtype {dtype}; got {x.dtype} (convert the "
                        f"input with x.to({dtype}), or the layer with layer.to({x.dtype}))")
    if x.dim() != 3:
        raise ValueError(f"x must be 3-D (B, T, D); got shape {tuple(x.shape)}")
    if x.shape[-1] != d_model:
        raise ValueError(f"x's last dimension must be d_model={d_model}; got {x.shape[-1]}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must have at least one row and one token; got shape {tuple(x.shape)}")
    if not all(bool(torch.isfinite(v)) for v in torch.aminmax(x)):  # 1 pass (NaN propagates)
        raise ValueError("x must contain only finite values; got NaN or inf")
    if mask is not None:
        _check_mask(mask, x.shape[:2])
    tasks = _check_task_id(task_id, x.shape[0], n_tasks)
    return tasks if isinstance(tasks, int) else tasks.to(x.device)  # task ids follow x


def param_dtype(module: nn.Module) -> torch.dtype | None:
    """The dtype of a module's first floating-point parameter (None when it has none)."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), None)


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of dtype {value.dtype} and shape {tuple(value.shape)}"
    return f"{type(value).__name__}"


def _check_mask(mask, shape: torch.Size) -> None:
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError("mask must be a bool tensor (B, T), True = real token; "
                        f"got {_describe(mask)}")
    if mask.shape != shape:
        raise ValueError(f"mask must have shape {tuple(shape)} (B, T); got {tuple(mask.shape)}")
    empty = (~mask.any(dim=1)).nonzero().flatten()
    if len(empty):
        raise ValueError(f"every row of mask must keep at least one token; rows {empty.tolist()} "
                         "are fully masked")


def _check_task_id(task_id, batch: int, n_tasks: int) -> int | torch.Tensor:
    if isinstance(task_id, torch.Tensor) and task_id.dim() == 0:
        task_id = task_id.item() if not task_id.is_floating_point() else task_id
    if isinstance(task_id, numbers.Integral) and not isinstance(task_id, bool):
        if not 0 <= task_id < n_tasks:
            raise ValueError(f"task_id must be in [0, {n_tasks}); got {task_id}")
        return int(task_id)
    if not isinstance(task_id, torch.Tensor) or task_id.is_floating_point() or task_id.dtype in (
        torch.bool, torch.complex64, torch.complex128
    ):
        raise TypeError("task_id must be an int or an integer LongTensor (B,); "
                        f"got {_describe(task_id)}")
    if task_id.shape != (batch,):
        raise ValueError(f"task_id must have shape ({batch},) (one task per row); "
                         f"got {tuple(task_id.shape)}")
    bad = (task_id < 0) | (task_id >= n_tasks)
    if bool(bad.any()):
        raise ValueError(f"task_id must be in [0, {n_tasks}); got {task_id[bad].tolist()}")
    return task_id.long()


def mask_scores(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Scores (B, H, T) with -inf on masked tokens (mask (B, T), True = real), so they get 0."""
    return scores if mask is None else scores.masked_fill(~mask[:, None, :], float("-inf"))


def pool(scores: torch.Tensor, values: torch.Tensor) -> AttentionOutput:
    """Softmax of `scores` (B, H, T) over T; head h pools its D/H slice of `values` (B, T, D)."""
    weights = torch.softmax(scores, dim=-1)  # (B, H, T); exactly 0 where scores are -inf
    B, T, D = values.shape
    heads = values.view(B, T, scores.shape[1], -1).transpose(1, 2)  # (B, H, T, D/H)
    pooled = (weights.unsqueeze(-1) * heads).sum(dim=2)  # (B, H, D/H)
    return AttentionOutput(pooled.reshape(B, D), weights)


VALUE_PATHS = ("identity", "linear")


def value_path(value: str, d_model: int) -> nn.Module:
    """The value map of an attention-pooling layer: identity, or a Linear that starts as it."""
    if value not in VALUE_PATHS:
        raise ValueError(f"value must be one of {', '.join(map(repr, VALUE_PATHS))}; "
                         f"got {value!r}")
    if value == "identity":
        return nn.Identity()
    linear = nn.Linear(d_model, d_model)
    with torch.no_grad():
        linear.weight.copy_(torch.eye(d_model))
        linear.bias.zero_()
    return linear
