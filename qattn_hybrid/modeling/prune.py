"""``model.encoder_layers`` / ``model.prune_heads``: a smaller BERT-style encoder, by structure.

Two cuts of a ``transformers`` BERT-style encoder (``BertModel``; all-MiniLM-L6-v2 is one), each
returning a pruned copy that runs the same forward with fewer weights:

* :func:`keep_layers`: the embeddings and the first N transformer layers (or the layers a list
  names, in order). Its last hidden state is the full model's hidden state N, exactly.
* :func:`prune_heads`: attention heads removed, either an explicit set per layer or, for a
  fraction f, the ``floor(f * heads)`` heads of each layer with the lowest
  :func:`head_importance`. A head goes by slicing its rows out of the query / key / value
  ``nn.Linear`` layers and its columns out of the attention output ``dense``; the output is the
  full model's with those heads' context vectors zeroed (transformers 5 has neither
  ``prune_heads`` nor ``head_mask``).

Importance, by default, is data-free: the L2 norm of a head's columns of
``attention.output.dense.weight`` (how large that head's context vectors become in the residual
stream; a context vector is a convex combination of value vectors, so heads whose output
projection is small move little). :func:`head_ablation_importance` scores heads from texts
instead (how far the sentence embeddings move without that head); pass it as ``scores``.
On MiniLM the norm picked heads no better than chance (RESULTS.md).

Both record what they removed in the model's config (``num_hidden_layers``, and ``pruned_heads``:
layer -> removed heads in that layer's original numbering), so the feature-cache fingerprint
(:func:`qattn_hybrid.modeling.encoders.model_fingerprint`, which hashes the config and the weights)
keeps a pruned encoder's features apart, and :func:`restore_pruned_shape` rebuilds the shapes from a
saved config before its weights are loaded. Speed and probe accuracy per variant:
``benchmarks/bench_prune.py`` and RESULTS.md ("Encoder pruning (issue 21)").
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

__all__ = ["head_ablation_importance", "head_importance", "keep_layers", "kept_heads",
           "prune_encoder", "prune_heads", "restore_pruned_shape"]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- structure
def _layers(model: nn.Module) -> nn.ModuleList:
    """``model.encoder.layer``, after checking every layer has BERT's attention Linear layers."""
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    config = getattr(model, "config", None)
    ok = isinstance(layers, nn.ModuleList) and hasattr(config, "num_attention_heads")
    for layer in layers if ok else ():
        attention = getattr(layer, "attention", None)
        parts = [getattr(getattr(attention, "self", None), n, None)
                 for n in ("query", "key", "value")]
        parts.append(getattr(getattr(attention, "output", None), "dense", None))
        ok = ok and all(type(p) is nn.Linear for p in parts)
    if not ok:
        raise TypeError("encoder pruning needs a float BERT-style transformers encoder "
                        "(model.encoder.layer[i].attention.self.query/key/value and "
                        "attention.output.dense as nn.Linear, like BertModel; prune before "
                        f"quantizing); got {type(model).__name__}")
    return layers


def _head_size(model: nn.Module) -> int:
    return model.config.hidden_size // model.config.num_attention_heads


def kept_heads(model: nn.Module) -> list[list[int]]:
    """Per layer, the heads it still has, in the original numbering (0 .. heads - 1)."""
    n_layers, n_heads = len(_layers(model)), model.config.num_attention_heads
    pruned = getattr(model.config, "pruned_heads", None) or {}
    return [[h for h in range(n_heads) if h not in set(pruned.get(str(i), ()))]
            for i in range(n_layers)]


def _set_record(model: nn.Module, kept: list[list[int]]) -> None:
    """config.num_hidden_layers and config.pruned_heads (str layer -> removed heads) from kept."""
    n_heads = model.config.num_attention_heads
    model.config.num_hidden_layers = len(kept)
    model.config.pruned_heads = {str(i): [h for h in range(n_heads) if h not in heads]
                                 for i, heads in enumerate(kept) if len(heads) < n_heads}


# --------------------------------------------------------------------------- layers
def keep_layers(model: nn.Module, layers: int | Sequence[int]) -> nn.Module:
    """A copy of ``model`` with only the first ``layers`` transformer layers (an int) or the
    layers a list names (distinct indices in increasing order); the embeddings (and pooler)
    stay. ``config.num_hidden_layers`` becomes the number kept."""
    n = len(_layers(model))
    index = _layer_index(layers, n)
    pruned = copy.deepcopy(model)
    kept = kept_heads(model)
    pruned.encoder.layer = nn.ModuleList(pruned.encoder.layer[i] for i in index)
    for new, layer in enumerate(pruned.encoder.layer):  # the decoder cache's position
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new
    _set_record(pruned, [kept[i] for i in index])
    log.info("Encoder layers kept: %s of %d", list(index), n)
    return pruned


def _layer_index(layers, n: int) -> list[int]:
    if isinstance(layers, int) and not isinstance(layers, bool):
        if not 1 <= layers <= n:
            raise ValueError(f"layers must be between 1 and the encoder's {n} layers; "
                             f"got {layers}")
        return list(range(layers))
    if (isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers
            or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n
                   for i in layers)
            or any(a >= b for a, b in zip(layers, layers[1:]))):
        raise ValueError(f"layers must be a number of layers in [1, {n}] or a non-empty list "
                         f"of increasing layer indices in [0, {n - 1}]; got {layers!r}")
    return list(layers)


# --------------------------------------------------------------------------- heads
@torch.no_grad()
def head_importance(model: nn.Module) -> list[torch.Tensor]:
    """Per layer, (H_layer,) scores of its current heads: the L2 norm of each head's columns of
    the attention output projection ``attention.output.dense.weight`` (D, H_layer * d)."""
    d = _head_size(model)
    scores = []
    for layer in _layers(model):
        weight = layer.attention.output.dense.weight  # (D, H*d)
        scores.append(weight.reshape(weight.shape[0], -1, d).norm(dim=(0, 2)))  # (H,)
    return scores


@torch.no_grad()
def head_ablation_importance(model: nn.Module, tokenizer, texts: Sequence[str],
                             max_length: int = 64, batch_size: int = 64) -> list[torch.Tensor]:
    """Per layer, (H_layer,) scores from data: how far the sentence embeddings of ``texts``
    (masked mean of the last hidden state, L2-normalised) move when that head alone is removed
    (its columns of the output projection zeroed): the mean squared distance to the full
    model's. One forward over ``texts`` per head (72 for all-MiniLM-L6-v2)."""
    layers, d = _layers(model), _head_size(model)
    if isinstance(texts, str) or not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"texts must be a non-empty sequence of str; got {texts!r}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    batches = [dict(tokenizer(list(texts[s:s + batch_size]), padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt").to(device))
               for s in range(0, len(texts), batch_size)]

    def embed() -> torch.Tensor:  # (N, D)
        rows = []
        for enc in batches:
            hidden = model(**enc).last_hidden_state  # (B, T, D)
            m = enc["attention_mask"][..., None].to(hidden.dtype)
            rows.append(torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1))
        return torch.cat(rows)

    try:
        full, scores = embed(), []
        for layer in layers:
            weight = layer.attention.output.dense.weight  # (D, H*d)
            layer_scores = []
            for h in range(weight.shape[1] // d):
                saved = weight[:, h * d:(h + 1) * d].clone()
                weight[:, h * d:(h + 1) * d] = 0
                try:
                    layer_scores.append(float(((embed() - full) ** 2).sum(-1).mean()))
                finally:  # the weights as they were, whatever happens
                    weight[:, h * d:(h + 1) * d] = saved
            scores.append(torch.tensor(layer_scores))
    finally:
        model.train(was_training)
    return scores


def prune_heads(model: nn.Module, heads: float | Mapping[int, Sequence[int]],
                scores: Sequence[torch.Tensor] | None = None) -> nn.Module:
    """A copy of ``model`` without some attention heads.

    heads: a fraction in [0, 1): each layer loses its ``floor(fraction * heads)`` heads of
        lowest score (ties: the lower index goes first); or a mapping layer index -> heads to
        remove, numbered as the layer has them now (0 .. H_layer - 1). A layer must keep at
        least one head.
    scores: per layer, (H_layer,) importance of its heads, for a fraction; default
        :func:`head_importance` (data-free), or e.g. :func:`head_ablation_importance`.
    """
    layers = _layers(model)
    current = [layer.attention.self.query.out_features // _head_size(model) for layer in layers]
    if scores is not None and [len(s) for s in scores] != current:
        raise ValueError(f"scores must give one score per head of each layer {current}; got "
                         f"{[len(s) for s in scores]}")
    drop = _heads_to_drop(model, heads, current, scores)
    pruned = copy.deepcopy(model)
    kept = kept_heads(model)
    for i, remove in drop.items():
        keep = [h for h in range(current[i]) if h not in remove]
        _slice_heads(pruned.encoder.layer[i].attention, keep, _head_size(model))
        kept[i] = [kept[i][h] for h in keep]
    _set_record(pruned, kept)
    log.info("Attention heads removed: %d of %d", sum(map(len, drop.values())), sum(current))
    return pruned


def _heads_to_drop(model, heads, current: list[int], scores=None) -> dict[int, set[int]]:
    """layer -> set of current head indices to remove, checked."""
    if isinstance(heads, (int, float)) and not isinstance(heads, bool):
        if not (math.isfinite(heads) and 0 <= heads < 1):
            raise ValueError(f"heads must be a fraction in [0, 1) or a mapping layer -> heads; "
                             f"got {heads!r}")
        drop = {}
        for i, layer_scores in enumerate(scores or head_importance(model)):
            n = math.floor(heads * len(layer_scores) + 1e-9)
            order = torch.argsort(torch.as_tensor(layer_scores), stable=True)  # lowest first
            drop[i] = set(order[:n].tolist())
        return {i: s for i, s in drop.items() if s}
    if not isinstance(heads, Mapping):
        raise ValueError(f"heads must be a fraction in [0, 1) or a mapping layer -> heads; "
                         f"got {heads!r}")
    drop = {}
    for i, remove in heads.items():
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(current):
            raise ValueError(f"heads' layer indices must be in [0, {len(current) - 1}]; "
                             f"got {i!r}")
        n = current[i]
        if (isinstance(remove, (str, bytes)) or not isinstance(remove, Sequence)
                or any(isinstance(h, bool) or not isinstance(h, int) or not 0 <= h < n
                       for h in remove) or len(set(remove)) != len(remove)):
            raise ValueError(f"heads[{i}] must be distinct head indices in [0, {n - 1}] "
                             f"(layer {i} has {n} heads); got {remove!r}")
        if len(remove) == n:
            raise ValueError(f"heads[{i}] removes all {n} heads of layer {i}; a layer must "
                             f"keep at least one (drop the layer with keep_layers instead)")
        if remove:
            drop[i] = set(remove)
    return drop


def _slice_heads(attention: nn.Module, keep: list[int], d: int) -> None:
    """In place: ``attention`` (a BertAttention) with only the heads ``keep`` (current index)."""
    rows = torch.cat([torch.arange(h * d, (h + 1) * d) for h in keep])  # of H*d
    sa = attention.self
    for name in ("query", "key", "value"):
        setattr(sa, name, _linear_subset(getattr(sa, name), rows, dim=0))
    attention.output.dense = _linear_subset(attention.output.dense, rows, dim=1)
    sa.num_attention_heads = len(keep)  # forward reshapes with -1 heads of attention_head_size
    sa.all_head_size = len(keep) * d


def _linear_subset(linear: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A new Linear with the output rows (dim 0) or input columns (dim 1) ``index`` of
    ``linear``; a bias is kept whole for dim 1 (it is added once, after the sum over heads)."""
    weight = linear.weight.index_select(dim, index.to(linear.weight.device))
    new = nn.Linear(weight.shape[1], weight.shape[0], bias=linear.bias is not None,
                    device=weight.device, dtype=weight.dtype)
    new.weight.data.copy_(weight)
    if linear.bias is not None:
        bias = linear.bias if dim == 1 else linear.bias[index.to(linear.bias.device)]
        new.bias.data.copy_(bias)
    new.weight.requires_grad_(linear.weight.requires_grad)
    if new.bias is not None:
        new.bias.requires_grad_(linear.bias.requires_grad)
    return new


# --------------------------------------------------------------------------- both, and back
def prune_encoder(model: nn.Module, *, layers: int | Sequence[int] | None = None,
                  heads: float | Mapping[int, Sequence[int]] = 0.0) -> nn.Module:
    """``keep_layers`` (when ``layers`` is given), then ``prune_heads`` on the layers kept (a
    ``heads`` mapping numbers them as kept: 0 .. len - 1); ``model`` itself when there is
    nothing to prune."""
    before = sum(p.numel() for p in model.parameters())
    pruned = model
    if layers is not None:
        pruned = keep_layers(pruned, layers)
    if heads:
        pruned = prune_heads(pruned, heads)
    if pruned is not model:
        after = sum(p.numel() for p in pruned.parameters())
        log.info("Encoder pruned: %d -> %d parameters (%.1f%%)", before, after,
                 100 * after / before)
    return pruned


def restore_pruned_shape(model: nn.Module) -> nn.Module:
    """In place: give a model freshly built from a saved pruned config (``pruned_heads`` set,
    every layer still whole) the shapes of the pruned one, so its saved weights load."""
    kept = kept_heads(model)
    d = _head_size(model)
    for layer, heads in zip(_layers(model), kept):
        if layer.attention.self.query.out_features != len(heads) * d:  # whole: slice it
            _slice_heads(layer.attention, heads, d)
    return model
