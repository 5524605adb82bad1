"""``model.encoder_quantize = "int8"``: the frozen encoder, its Linear layers int8-quantized.

Every ``nn.Linear`` of the encoder (attention projections, feed-forward layers: ~95 % of
all-MiniLM-L6-v2's encoder compute) gets int8 weights (per-tensor affine) and int8 activations
quantized on the fly per batch (``torch.ao.quantization.quantize_dynamic``, qint8); embeddings
and LayerNorms stay float32. It is an option for the frozen encoder only: features move by up
to ~0.4-0.5 in the masked mean (the fp32 features' scale is ~1), so it changes results and its
features are cached apart from the float32 ones (their fingerprint is the float32 model's,
tagged ``int8``). Speed and each task's probe accuracy against float32 are measured in
``benchmarks/bench_encoder.py`` and RESULTS.md ("Encoder runtimes").
"""

from __future__ import annotations

import copy
import hashlib
import logging
import warnings

import torch
from torch import nn

__all__ = ["ENCODER_QUANTIZE", "quantize_encoder"]

log = logging.getLogger(__name__)
ENCODER_QUANTIZE = ("int8",)  # the values model.encoder_quantize takes besides None


def quantize_encoder(model: nn.Module, tokenizer, mode: str) -> nn.Module:
    """A copy of ``model`` with int8 dynamic-quantized Linear layers, for inference only.

    The copy carries ``qattn_fingerprint``, the float32 model's fingerprint tagged with ``mode``,
    which :func:`qattn_hybrid.modeling.encoders.model_fingerprint` returns for it (a quantized state
    dict holds packed weights that cannot be hashed as plain tensors).
    """
    from qattn_hybrid.modeling.encoders import model_fingerprint

    if mode not in ENCODER_QUANTIZE:
        raise ValueError(f"encoder_quantize must be one of {list(ENCODER_QUANTIZE)}; "
                         f"got {mode!r}")
    base = model_fingerprint(model, tokenizer)
    with warnings.catch_warnings():  # torch.ao's deprecation notices (torchao takes over)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantized = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)
    quantized.requires_grad_(False)
    quantized.qattn_fingerprint = hashlib.sha256(f"{base}-{mode}".encode()).hexdigest()[:16]
    n = sum(isinstance(m, nn.Linear) for m in model.modules())
    log.info("Encoder quantized (%s): %d Linear layers with int8 weights", mode, n)
    return quantized
