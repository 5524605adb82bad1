"""The model: a shared text encoder, attention pooling per task, one head per task.

    model.py     :class:`MultiTaskModel`: build, forward, save and load
    encoders.py  ``transformers`` encoders, tokenising, the frozen-feature cache
    prune.py     fewer encoder layers or heads (``model.encoder_layers``, ``prune_heads``)
    quantize.py  the frozen encoder with int8 Linear layers (``model.encoder_quantize``)
"""

from __future__ import annotations

from qattn_hybrid.utils.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "DEFAULT_ENCODER": "qattn_hybrid.modeling.encoders",
    "EncodedText": "qattn_hybrid.modeling.encoders",
    "TextEncoder": "qattn_hybrid.modeling.encoders",
    "TokenFeatureCache": "qattn_hybrid.modeling.encoders",
    "check_layers": "qattn_hybrid.modeling.encoders",
    "default_encoder_path": "qattn_hybrid.modeling.encoders",
    "encode_texts": "qattn_hybrid.modeling.encoders",
    "hidden_states": "qattn_hybrid.modeling.encoders",
    "load_encoder": "qattn_hybrid.modeling.encoders",
    "model_fingerprint": "qattn_hybrid.modeling.encoders",
    "tokenize_batch": "qattn_hybrid.modeling.encoders",
    "ATTENTIONS": "qattn_hybrid.modeling.model",
    "CheckpointError": "qattn_hybrid.modeling.model",
    "MANIFEST_NAME": "qattn_hybrid.modeling.model",
    "ModelOutput": "qattn_hybrid.modeling.model",
    "MultiTaskModel": "qattn_hybrid.modeling.model",
    "load_text_encoder": "qattn_hybrid.modeling.model",
    "register_attention": "qattn_hybrid.modeling.model",
    "head_ablation_importance": "qattn_hybrid.modeling.prune",
    "head_importance": "qattn_hybrid.modeling.prune",
    "keep_layers": "qattn_hybrid.modeling.prune",
    "kept_heads": "qattn_hybrid.modeling.prune",
    "prune_encoder": "qattn_hybrid.modeling.prune",
    "prune_heads": "qattn_hybrid.modeling.prune",
    "restore_pruned_shape": "qattn_hybrid.modeling.prune",
    "ENCODER_QUANTIZE": "qattn_hybrid.modeling.quantize",
    "quantize_encoder": "qattn_hybrid.modeling.quantize",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
