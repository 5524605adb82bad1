"""Attention-pooling layers: how a task turns token features into one vector.

    common.py          what they share: the output, input checks, masking, pooling
    quantum.py         :class:`QuantumAttention`: task-conditioned circuits score the tokens
    classical.py       :class:`ClassicalAttention`: the classical control, and mean pooling
    self_attention.py  QSANN-style quantum self-attention and its classical control
    folding.py         trained circuits replaced by their exact real polynomial
    mixer.py           :class:`BiGRUMixer`: the tokens re-read in order before the pooling
    registry.py        every attention kind by name (``model.attention``)
"""

from __future__ import annotations

from qattn_hybrid.utils.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "ClassicalAttention": "qattn_hybrid.layers.classical",
    "MeanPooling": "qattn_hybrid.layers.classical",
    "count_parameters": "qattn_hybrid.layers.classical",
    "matched_hidden": "qattn_hybrid.layers.classical",
    "AttentionOutput": "qattn_hybrid.layers.common",
    "VALUE_PATHS": "qattn_hybrid.layers.common",
    "check_inputs": "qattn_hybrid.layers.common",
    "mask_scores": "qattn_hybrid.layers.common",
    "param_dtype": "qattn_hybrid.layers.common",
    "pool": "qattn_hybrid.layers.common",
    "value_path": "qattn_hybrid.layers.common",
    "Foldable": "qattn_hybrid.layers.folding",
    "all_task_outputs": "qattn_hybrid.layers.folding",
    "circuit_coefficients": "qattn_hybrid.layers.folding",
    "fold_module": "qattn_hybrid.layers.folding",
    "folded_outputs": "qattn_hybrid.layers.folding",
    "BiGRUMixer": "qattn_hybrid.layers.mixer",
    "MIXERS": "qattn_hybrid.layers.mixer",
    "build_mixer": "qattn_hybrid.layers.mixer",
    "AngleMap": "qattn_hybrid.layers.quantum",
    "CIRCUIT_KEYWORDS": "qattn_hybrid.layers.quantum",
    "CircuitDevice": "qattn_hybrid.layers.quantum",
    "EXECUTION_KEYWORDS": "qattn_hybrid.layers.quantum",
    "FoldedAttention": "qattn_hybrid.layers.quantum",
    "QuantumAttention": "qattn_hybrid.layers.quantum",
    "layer_specs": "qattn_hybrid.layers.quantum",
    "ATTENTIONS": "qattn_hybrid.layers.registry",
    "AttentionBuilder": "qattn_hybrid.layers.registry",
    "build_attention": "qattn_hybrid.layers.registry",
    "register_attention": "qattn_hybrid.layers.registry",
    "ClassicalSelfAttention": "qattn_hybrid.layers.self_attention",
    "FoldedSelfAttention": "qattn_hybrid.layers.self_attention",
    "QuantumEncoderLayer": "qattn_hybrid.layers.self_attention",
    "QuantumSelfAttention": "qattn_hybrid.layers.self_attention",
    "SelfAttentionOutput": "qattn_hybrid.layers.self_attention",
    "SelfAttentionPooling": "qattn_hybrid.layers.self_attention",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
