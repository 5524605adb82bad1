"""The attention registry: every attention kind a MultiTaskModel can pool with, by name.

    ATTENTIONS["quantum"]       task-conditioned QuantumAttention (qattn_hybrid.layers.quantum)
    ATTENTIONS["classical"]     ClassicalAttention with the quantum layer's parameter count
    ATTENTIONS["quantum_self"]  QuantumEncoderLayer then a mean over tokens (self_attention)
    ATTENTIONS["mean"]          MeanPooling: the masked mean, 0 parameters (the baseline)

A builder maps ``(ModelConfig, d_model, n_tasks)`` to a module with QuantumAttention's
interface: ``forward(x (B, T, D), task_id, mask (B, T)) -> (pooled (B, D), weights (B, H, T))``.
A new built-in kind is one builder here under ``@register_attention("name")`` plus its name in
:data:`qattn_hybrid.config.choices.ATTENTION_KINDS` (what the config accepts without importing
torch); code outside the package may register its own at run time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from torch import nn

from circuits import ExecutionSpec
from qattn_hybrid.config.sections import ModelConfig
from qattn_hybrid.layers.classical import ClassicalAttention, MeanPooling, count_parameters
from qattn_hybrid.layers.quantum import QuantumAttention
from qattn_hybrid.layers.self_attention import QuantumEncoderLayer, SelfAttentionPooling

__all__ = ["ATTENTIONS", "AttentionBuilder", "build_attention", "register_attention"]

AttentionBuilder = Callable[[ModelConfig, int, int], nn.Module]  # (config, d_model, n_tasks)
ATTENTIONS: dict[str, AttentionBuilder] = {}


def register_attention(name: str) -> Callable[[AttentionBuilder], AttentionBuilder]:
    """Decorator adding a builder ``(config, d_model, n_tasks) -> module`` to ATTENTIONS.

    The module must follow QuantumAttention's interface:
    ``forward(x (B, T, D), task_id, mask (B, T)) -> (pooled (B, D), weights (B, H, T))``.
    """
    def add(builder: AttentionBuilder) -> AttentionBuilder:
        ATTENTIONS[name] = builder
        return builder
    return add


@register_attention("quantum")
def quantum_attention(config: ModelConfig, d_model: int, n_tasks: int) -> nn.Module:
    return QuantumAttention(d_model, n_heads=config.n_heads, value=config.value,
                            n_circuits=config.n_circuits, spec=config.circuit_spec(n_tasks),
                            execution=config.execution)


@register_attention("classical")
def classical_attention(config: ModelConfig, d_model: int, n_tasks: int) -> nn.Module:
    """Classical pooling with as many parameters as the quantum layer this config would build
    (counted on default.qubit, so that a QPU config contacts nothing)."""
    local = dataclasses.replace(config, execution=ExecutionSpec("default.qubit"))
    reference = quantum_attention(local, d_model, n_tasks)
    return ClassicalAttention.matching(count_parameters(reference), d_model, n_tasks,
                                       config.n_heads, config.value)


@register_attention("mean")
def mean_pooling(config: ModelConfig, d_model: int, n_tasks: int) -> nn.Module:
    """No attention: the masked mean of the token features (0 parameters)."""
    return MeanPooling(d_model, n_tasks)


@register_attention("quantum_self")
def quantum_self_attention(config, d_model: int, n_tasks: int) -> SelfAttentionPooling:
    """QuantumEncoderLayer (pre-norm, feed-forward width d_model) then a mean over real tokens.

    The attention's output projection and the feed-forward's last layer start at 0, so both
    residual branches add 0 and the pooled output starts as the masked mean of the features
    (as every attention kind of the model does).
    """
    layer = QuantumEncoderLayer(
        d_model, dim_feedforward=d_model, dropout=config.dropout, norm_first=True,
        n_heads=config.n_heads, spec=config.circuit_spec(n_tasks), execution=config.execution)
    for linear in (layer.self_attn.out, layer.feed_forward[-1]):
        nn.init.zeros_(linear.weight)
        nn.init.zeros_(linear.bias)
    return SelfAttentionPooling(layer)


def build_attention(config: ModelConfig, d_model: int, n_tasks: int) -> nn.Module:
    """The attention ``config.attention`` names, for ``n_tasks`` tasks of width ``d_model``."""
    if config.attention not in ATTENTIONS:
        raise ValueError(f"Unknown attention {config.attention!r}. "
                         f"Available: {', '.join(sorted(ATTENTIONS))}")
    return ATTENTIONS[config.attention](config, d_model, n_tasks)
