"""The multi-task model: a shared text encoder, task-conditioned attention pooling, one head per
task; saved and loaded in the Hugging Face style (``config.json`` + ``model.safetensors``).

    texts ─encoder (frozen + cached, or fine-tuned)─> features (B, T, D), mask (B, T)
    features ─mixer (model.mixer; none by default)─> features (B, T, D')
    features, task ─attention[task]─> pooled (B, D'), weights (B, H, T)
    pooled ─L2-normalise (normalize_pooled)─> dropout ─> head[task] ─task.output─> logits (B, C)
                                                     (B,) for a regression task

What a task's head outputs, its loss and how a prediction is read are the task's own
(:class:`qattn_hybrid.tasks.kinds.Task`, one class per task type): a regression task's head predicts
standardised targets and its outputs are in the targets' own scale, a classification task's are
logits.

The attention is picked by name from the registry :data:`qattn_hybrid.layers.registry.ATTENTIONS`
(``quantum``, ``classical``, ``quantum_self``, ``mean``: the masked mean with no parameters,
the baseline); every kind starts as masked mean pooling. A new kind is one more builder
registered there with :func:`~qattn_hybrid.layers.registry.register_attention`.

Saving never pickles and loading never unpickles: weights go to safetensors, everything else
(model config, task names, label lists, how to rebuild the encoder) to JSON. Files are written
to a temporary folder that replaces the target only once complete.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from qattn_hybrid.config.circuit import moved_keys
from qattn_hybrid.config.sections import ModelConfig, validate_section
from qattn_hybrid.layers.mixer import build_mixer
from qattn_hybrid.layers.registry import (  # noqa: F401  (ATTENTIONS, register_attention re-exported)
    ATTENTIONS,
    build_attention,
    register_attention,
)
from qattn_hybrid.modeling.encoders import (
    EncodedText,
    TextEncoder,
    TokenFeatureCache,
    load_encoder,
    model_fingerprint,
)
from qattn_hybrid.tasks.kinds import Task, task_from_dict
from qattn_hybrid.utils.files import CheckpointError, atomic_directory, read_json, read_safetensors
from qattn_hybrid.utils.manifest import MANIFEST_NAME, check_finite, verify_manifest, write_manifest

__all__ = [
    "ATTENTIONS",
    "MANIFEST_NAME",
    "CheckpointError",
    "ModelOutput",
    "MultiTaskModel",
    "load_text_encoder",
    "register_attention",
]

log = logging.getLogger(__name__)
FORMAT = "qattn_hybrid.MultiTaskModel"
FORMAT_VERSION = 1
CONFIG_NAME, WEIGHTS_NAME, TOKENIZER_DIR = "config.json", "model.safetensors", "tokenizer"
BUNDLED_ENCODER = "minilm"  # ModelConfig.encoder value for the bundled all-MiniLM-L6-v2


class ModelOutput(NamedTuple):
    logits: torch.Tensor  # (B, C) class scores, or (B,) regression predictions
    weights: torch.Tensor  # (B, H, T) attention over tokens
    mask: torch.Tensor  # (B, T) bool, True = real token


# --------------------------------------------------------------------------- the model
def load_text_encoder(config: ModelConfig, cache_dir: str | None = None) -> TextEncoder:
    """The encoder ``config.encoder`` names, as a TextEncoder that remembers its source.

    Build it once and pass it to several models (e.g. in a benchmark) to share the feature
    cache; models built on it still save the encoder as a reference.
    """
    source = None if config.encoder == BUNDLED_ENCODER else config.encoder
    if source is not None and not Path(source).expanduser().is_dir():
        raise FileNotFoundError(
            f"model.encoder must be {BUNDLED_ENCODER!r} (the bundled all-MiniLM-L6-v2) or a "
            f"local transformers model directory (nothing is downloaded); got {source!r}, "
            "which is not a directory")
    model, tokenizer = load_encoder(source)
    model = _pruned(model, config)
    if config.encoder_quantize is not None:
        from qattn_hybrid.modeling.quantize import quantize_encoder

        model = quantize_encoder(model, tokenizer, config.encoder_quantize)
    encoder = TextEncoder(model, tokenizer, max_length=config.max_length,
                          finetune=not config.freeze_encoder, cache_dir=cache_dir,
                          layers=config.feature_layers)
    encoder.source = config.encoder
    return encoder


def _pruned(model: nn.Module, config: ModelConfig) -> nn.Module:
    """``model`` cut to ``config.encoder_layers`` / ``config.prune_heads`` (itself if neither)."""
    if config.encoder_layers is None and not config.prune_heads:
        return model
    from qattn_hybrid.modeling.prune import prune_encoder

    try:
        return prune_encoder(model, layers=config.encoder_layers, heads=config.prune_heads)
    except ValueError as err:  # the layer range (the config checked the rest)
        raise ValueError(f"model.encoder_layers: {err}") from None


def _head(d_model: int, n_outputs: int, hidden: int) -> nn.Module:
    if hidden == 0:
        return nn.Linear(d_model, n_outputs)
    return nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, n_outputs))


class MultiTaskModel(nn.Module):
    """Shared encoder, task-conditioned attention, one head per task.

    forward(texts: list[str] | EncodedText, task: str) -> ModelOutput
    """

    def __init__(self, config: ModelConfig, tasks: Sequence[Task],
                 encoder: TextEncoder | None = None, *, cache_dir: str | None = None):
        super().__init__()
        if not tasks:
            raise ValueError("tasks must name at least one task; got none")
        bad = next((t for t in tasks if not isinstance(t, Task)), None)
        if bad is not None:
            raise TypeError(f"tasks must be Task objects (qattn_hybrid.tasks.kinds); got {bad!r}")
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique; got {names}")
        self.config, self.tasks = config, {t.name: t for t in tasks}
        self.task_index = {name: k for k, name in enumerate(names)}  # name -> circuit task id
        self.encoder = encoder if encoder is not None else load_text_encoder(config, cache_dir)
        # Where the encoder came from ("minilm" or a folder): a frozen one is saved as this
        # reference; None (built in memory) means its weights are saved with the model.
        self.encoder_source = getattr(self.encoder, "source", None)
        if self.encoder.finetune and not config.finetune_embeddings:
            log.debug("Fine-tuning without the embeddings (%d parameters fixed)",
                      self.encoder.freeze_embeddings())
        d_model = self.encoder.hidden_size
        self.mixer = build_mixer(config.mixer, d_model, config.mixer_units)
        d_model = self.mixer.d_out if self.mixer is not None else d_model
        self.attention = build_attention(config, d_model, len(tasks))
        self.dropout = nn.Dropout(config.dropout)
        self.heads = nn.ModuleDict(
            {t.name: _head(d_model, t.n_outputs, config.head_hidden) for t in tasks}
        )
        self.metadata: dict = {}  # JSON-able extras saved with the model (e.g. the data config)

    # ---- forward
    def task_id(self, task: str) -> int:
        """Index of a task name; a clear error for names the model does not have."""
        if task not in self.task_index:
            raise KeyError(f"Unknown task {task!r}. Available: {', '.join(self.task_index)}")
        return self.task_index[task]

    def encode(self, texts: Sequence[str] | EncodedText) -> EncodedText:
        """Token features (B, T, D) and mask (B, T): from the encoder, or passed through."""
        if isinstance(texts, EncodedText):
            return texts
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of str (a batch); got a single str")
        return self.encoder(texts)

    def forward(self, texts: Sequence[str] | EncodedText, task: str) -> ModelOutput:
        task_id = self.task_id(task)
        features, mask = self.encode(texts)  # (B, T, D), (B, T)
        features = self.mix(features, mask)  # (B, T, D')
        pooled, weights = self.attention(features, task_id, mask)  # (B, D'), (B, H, T)
        return ModelOutput(self.task_output(pooled, task), weights, mask)

    def mix(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The token features the attention reads: re-read by the mixer (``model.mixer``), or
        as they are. (B, T, D), (B, T) -> (B, T, D')."""
        return features if self.mixer is None else self.mixer(features, mask)

    def task_output(self, pooled: torch.Tensor, task: str) -> torch.Tensor:
        """`task`'s head on pooled features (B, D): logits (B, C), or (B,) predictions in the
        targets' own scale for a regression task. The one path from pooled features to outputs
        (training, evaluation, the exported serving graph)."""
        if self.config.normalize_pooled:  # unit length: the scale a linear head trains well on
            pooled = F.normalize(pooled, dim=-1)
        head = self.heads[task](self.dropout(pooled))  # (B, n_outputs)
        return self.tasks[task].output(head)

    def loss(self, output: ModelOutput, targets: torch.Tensor, task: str) -> torch.Tensor:
        """The task's own loss (cross-entropy for classification; MSE or Huber on
        standardised targets for regression, ``config.regression_loss``)."""
        return self.tasks[task].loss(output.logits, targets, self.config)

    @torch.no_grad()
    def predict(self, texts: Sequence[str], task: str) -> list:
        """Labels (classification) or numbers (regression) for ``texts``, in eval mode."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of str (a batch); got a single str")
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"texts[{i}] must be a non-empty str (not only whitespace); "
                                 f"got {text!r}")
        was_training = self.training
        self.eval()
        try:
            logits = self(texts, task).logits
        finally:
            self.train(was_training)
        return self.tasks[task].predictions(logits)

    def fold(self) -> MultiTaskModel:
        """A copy for inference with the attention's circuits folded into exact real
        arithmetic (same outputs; the encoder is shared); see qattn_hybrid.layers.folding."""
        from qattn_hybrid.layers.folding import fold_module

        return fold_module(self)

    def label_ids(self, labels: Sequence[str], task: str) -> torch.Tensor:
        """(B,) class ids of label strings; a clear error for a label the task does not have."""
        self.task_id(task)  # unknown names raise
        return self.tasks[task].label_ids(labels)

    # ---- save / load
    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` + ``model.safetensors`` (+ ``tokenizer/``) atomically.

        A frozen encoder loaded by name or path is stored as that reference plus a fingerprint
        of its weights (checked on load); an in-memory or fine-tuned encoder is stored in full.
        """
        from safetensors.torch import save_file

        store_encoder = self.encoder_source is None or self.encoder.finetune
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()
                 if store_encoder or not k.startswith("encoder.")}
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.config.to_dict(),
            "tasks": [t.to_dict() for t in self.tasks.values()],
            "encoder": {
                "source": None if store_encoder else self.encoder_source,
                "fingerprint": _fingerprint(self.encoder),
                "hf_config": self.encoder.model.config.to_dict() if store_encoder else None,
            },
            "metadata": self.metadata,
        }
        with atomic_directory(directory) as tmp:
            save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": FORMAT})
            (tmp / CONFIG_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            if store_encoder:
                self.encoder.tokenizer.save_pretrained(str(tmp / TOKENIZER_DIR))
            write_manifest(tmp)  # SHA-256 of every file, checked by from_pretrained
        return Path(directory)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, *, cache_dir: str | None = None,
                        map_location: str | torch.device = "cpu") -> MultiTaskModel:
        """Rebuild a model written by :meth:`save_pretrained` (safetensors + JSON only).

        Every file is checked against ``manifest.json`` first, and non-finite weights are
        refused (CheckpointError naming the file).
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise CheckpointError(f"model folder {directory} does not exist")
        verify_manifest(directory)
        meta = read_json(directory / CONFIG_NAME, what="model config")
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{directory / CONFIG_NAME} must describe a {FORMAT}; got "
                                  f"format {meta.get('format')!r}")
        moved = moved_keys("model", meta.get("model") or {})
        if moved:
            raise CheckpointError(f"{directory / CONFIG_NAME} was saved in an older config "
                                  f"layout this version does not read: {'; '.join(moved)}")
        try:
            config = ModelConfig.from_dict(meta["model"])
            validate_section("model", config)
            tasks = [task_from_dict(t) for t in meta["tasks"]]
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{directory / CONFIG_NAME} is inconsistent: {err}") from None
        state = read_safetensors(directory / WEIGHTS_NAME, device=map_location)
        check_finite(state, directory / WEIGHTS_NAME)
        encoder = None
        if meta["encoder"]["source"] is None:
            encoder = _saved_encoder(directory, meta["encoder"]["hf_config"], config, cache_dir,
                                     state)
        model = cls(config, tasks, encoder, cache_dir=cache_dir)
        model.metadata = dict(meta.get("metadata") or {})
        model.load_weights(state, directory)
        _check_fingerprint(model, meta["encoder"]["fingerprint"], directory)
        return model.to(map_location).eval()

    def load_weights(self, state: dict[str, torch.Tensor], directory: Path) -> None:
        """Load saved weights (the encoder's only when they were stored) after checking their
        names and shapes; CheckpointError naming the file in ``directory`` otherwise."""
        own = self.state_dict()
        expected = {k for k in own if self.encoder_source is None or self.encoder.finetune
                    or not k.startswith("encoder.")}
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        bad_shape = [k for k in expected & set(state) if state[k].shape != own[k].shape]
        if missing or unexpected or bad_shape:
            raise CheckpointError(f"{directory / WEIGHTS_NAME} does not match its config: "
                                  f"missing {missing[:5]}, unexpected {unexpected[:5]}, "
                                  f"wrong shape {bad_shape[:5]}")
        # the encoder's current entries where it was not stored: a quantized encoder's modules
        # need every one of theirs (scale, zero point, packed weights) to load
        own.update(state)  # (own keeps its _metadata: the quantized modules read versions)
        self.load_state_dict(own, strict=False)
        cache = self.encoder.cache
        if cache is not None and any(k.startswith("encoder.") for k in state):
            if model_fingerprint(self.encoder.model, self.encoder.tokenizer) != cache.fingerprint:
                # new frozen weights: features cached for the old ones must not be reused
                self.encoder.cache = TokenFeatureCache(
                    self.encoder.model, self.encoder.tokenizer, max_length=cache.max_length,
                    batch_size=cache.batch_size, storage_dtype=cache.storage_dtype,
                    cache_dir=None if cache.dir is None else cache.dir.parent,
                    layers=cache.layers)


def _saved_encoder(directory: Path, hf_config: dict, config: ModelConfig,
                   cache_dir: str | None, state: dict[str, torch.Tensor]) -> TextEncoder:
    """The encoder stored in the folder, its weights loaded before any feature is cached."""
    from transformers import AutoConfig

    hf = dict(hf_config)
    model_type = hf.pop("model_type")
    model, tokenizer = load_encoder(config=AutoConfig.for_model(model_type, **hf),
                                    tokenizer=directory / TOKENIZER_DIR)
    if hf.get("pruned_heads"):  # saved by qattn_hybrid.modeling.prune: its shapes first
        from qattn_hybrid.modeling.prune import restore_pruned_shape

        restore_pruned_shape(model)
    prefix = "encoder.model."
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(f"{directory / WEIGHTS_NAME} does not match its encoder config: "
                              f"{str(err)[:300]}") from None
    return TextEncoder(model, tokenizer, max_length=config.max_length,
                       finetune=not config.freeze_encoder, cache_dir=cache_dir,
                       layers=config.feature_layers)


def _fingerprint(encoder: TextEncoder) -> str:
    if encoder.cache is not None:  # frozen: computed once, when the cache was made
        return encoder.cache.fingerprint
    return model_fingerprint(encoder.model, encoder.tokenizer)


def _check_fingerprint(model: MultiTaskModel, expected: str, directory: Path) -> None:
    actual = _fingerprint(model.encoder)
    if actual != expected:
        raise CheckpointError(f"the encoder {model.encoder_source!r} differs from the one "
                              f"{directory} was trained with (fingerprint {actual} != {expected})")
