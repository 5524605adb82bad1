"""The multi-task model: a shared text encoder, task-conditioned attention pooling, one head per
task; saved and loaded in the Hugging Face style (``config.json`` + ``model.safetensors``).

    texts ─encoder (frozen + cached, or fine-tuned)─> features (B, T, D), mask (B, T)
    features, task ─attention[task]─> pooled (B, D), weights (B, H, T)
    pooled ─L2-normalise (normalize_pooled)─> dropout ─> head[task] ─> logits (B, C)
                                                     (B,) for a regression task

The attention is picked by name from :data:`ATTENTIONS` (``quantum``: task-conditioned
:class:`~qattn_hybrid.QuantumAttention`; ``classical``: :class:`ClassicalAttention` with the
quantum layer's parameter count; ``mean``: :class:`MeanPooling`, the masked mean with no
parameters, the baseline). Every kind starts as masked mean pooling. A new kind is one more builder registered with
:func:`register_attention`, e.g. ``quantum_self`` from ``qattn_hybrid.self_attention``.

Saving never pickles and loading never unpickles: weights go to safetensors, everything else
(model config, task names, label lists, how to rebuild the encoder) to JSON. Files are written
to a temporary folder that replaces the target only once complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from qattn_hybrid.attention import QuantumAttention
from qattn_hybrid.baseline import ClassicalAttention, MeanPooling, count_parameters
from qattn_hybrid.config import ModelConfig
from qattn_hybrid.encoders import (
    EncodedText,
    TextEncoder,
    TokenFeatureCache,
    load_encoder,
    model_fingerprint,
)
from qattn_hybrid.files import atomic_directory

__all__ = [
    "ATTENTIONS",
    "CheckpointError",
    "ModelOutput",
    "MultiTaskModel",
    "TaskInfo",
    "load_text_encoder",
    "register_attention",
]

log = logging.getLogger(__name__)
FORMAT = "qattn_hybrid.MultiTaskModel"
FORMAT_VERSION = 1
CONFIG_NAME, WEIGHTS_NAME, TOKENIZER_DIR = "config.json", "model.safetensors", "tokenizer"
BUNDLED_ENCODER = "minilm"  # ModelConfig.encoder value for the bundled all-MiniLM-L6-v2


class CheckpointError(ValueError):
    """A saved model or checkpoint that is missing, corrupt, truncated or inconsistent."""


@dataclass(frozen=True)
class TaskInfo:
    """What the model needs to know about a task: its name, type and label list."""

    name: str
    labels: tuple[str, ...] = ()  # class id -> label; () for regression
    task_type: str = "classification"  # | "regression"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "." in self.name:
            raise ValueError(f"task name must be a non-empty str without '.'; got {self.name!r}")
        if self.task_type not in ("classification", "regression"):
            raise ValueError(f"Task {self.name!r}: task_type must be 'classification' or "
                             f"'regression'; got {self.task_type!r}")
        object.__setattr__(self, "labels", tuple(self.labels))
        if self.task_type == "classification" and len(self.labels) < 2:
            raise ValueError(f"Task {self.name!r}: a classification task must have at least 2 "
                             f"labels; got {list(self.labels)}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"Task {self.name!r}: labels must be unique; got {list(self.labels)}")

    @property
    def n_outputs(self) -> int:
        return len(self.labels) if self.task_type == "classification" else 1

    @classmethod
    def from_data(cls, task) -> TaskInfo:
        """From a loaded :class:`qattn_hybrid.data.TaskData`."""
        return cls(task.name, tuple(task.labels), task.spec.task_type)


class ModelOutput(NamedTuple):
    logits: torch.Tensor  # (B, C) class scores, or (B,) regression predictions
    weights: torch.Tensor  # (B, H, T) attention over tokens
    mask: torch.Tensor  # (B, T) bool, True = real token


# --------------------------------------------------------------------------- attention registry
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
    return QuantumAttention(
        d_model, n_tasks, n_qubits=config.n_qubits, n_layers=config.n_layers,
        n_heads=config.n_heads, ansatz=config.ansatz, conditioning=config.conditioning,
        device=config.device, shots=config.shots, diff_method=config.diff_method,
        rotation=config.rotation, reupload=config.reupload, readout=config.readout,
        device_options=config.device_options, value=config.value,
    )


@register_attention("classical")
def classical_attention(config: ModelConfig, d_model: int, n_tasks: int) -> nn.Module:
    """Classical pooling with as many parameters as the quantum layer this config would build."""
    reference = quantum_attention(dataclasses.replace(config, device="default.qubit", shots=None,
                                                      diff_method="best", device_options={}),
                                  d_model, n_tasks)
    return ClassicalAttention.matching(count_parameters(reference), d_model, n_tasks,
                                       config.n_heads, config.value)


@register_attention("mean")
def mean_pooling(config: ModelConfig, d_model: int, n_tasks: int) -> nn.Module:
    """No attention: the masked mean of the token features (0 parameters)."""
    return MeanPooling(d_model, n_tasks)


def build_attention(config: ModelConfig, d_model: int, n_tasks: int) -> nn.Module:
    if config.attention == "quantum_self":
        import qattn_hybrid.self_attention  # noqa: F401  (registers "quantum_self" on import)
    if config.attention not in ATTENTIONS:
        raise ValueError(f"Unknown attention {config.attention!r}. "
                         f"Available: {', '.join(sorted(ATTENTIONS))}")
    return ATTENTIONS[config.attention](config, d_model, n_tasks)


# --------------------------------------------------------------------------- the model
def load_text_encoder(config: ModelConfig, cache_dir: str | None = None) -> TextEncoder:
    """The encoder ``config.encoder`` names, as a TextEncoder that remembers its source.

    Build it once and pass it to several models (e.g. in a benchmark) to share the feature
    cache; models built on it still save the encoder as a reference.
    """
    source = None if config.encoder == BUNDLED_ENCODER else config.encoder
    model, tokenizer = load_encoder(source)
    encoder = TextEncoder(model, tokenizer, max_length=config.max_length,
                          finetune=not config.freeze_encoder, cache_dir=cache_dir)
    encoder.source = config.encoder
    return encoder


def _head(d_model: int, n_outputs: int, hidden: int) -> nn.Module:
    if hidden == 0:
        return nn.Linear(d_model, n_outputs)
    return nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, n_outputs))


class MultiTaskModel(nn.Module):
    """Shared encoder, task-conditioned attention, one head per task.

    forward(texts: list[str] | EncodedText, task: str) -> ModelOutput
    """

    def __init__(self, config: ModelConfig, tasks: Sequence[TaskInfo],
                 encoder: TextEncoder | None = None, *, cache_dir: str | None = None):
        super().__init__()
        if not tasks:
            raise ValueError("tasks must name at least one task; got none")
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique; got {names}")
        self.config, self.tasks = config, {t.name: t for t in tasks}
        self.task_index = {name: k for k, name in enumerate(names)}  # name -> circuit task id
        self.encoder = encoder if encoder is not None else load_text_encoder(config, cache_dir)
        # Where the encoder came from ("minilm" or a folder): a frozen one is saved as this
        # reference; None (built in memory) means its weights are saved with the model.
        self.encoder_source = getattr(self.encoder, "source", None)
        d_model = self.encoder.hidden_size
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
        pooled, weights = self.attention(features, task_id, mask)  # (B, D), (B, H, T)
        if self.config.normalize_pooled:  # unit length: the scale a linear head trains well on
            pooled = F.normalize(pooled, dim=-1)
        logits = self.heads[task](self.dropout(pooled))  # (B, C)
        if self.tasks[task].task_type == "regression":
            logits = logits.squeeze(-1)  # (B,)
        return ModelOutput(logits, weights, mask)

    def loss(self, output: ModelOutput, targets: torch.Tensor, task: str) -> torch.Tensor:
        """Cross-entropy (classification) or mean squared error (regression)."""
        if self.tasks[task].task_type == "regression":
            return F.mse_loss(output.logits, targets.to(output.logits.dtype))
        return F.cross_entropy(output.logits, targets)

    @torch.no_grad()
    def predict(self, texts: Sequence[str], task: str) -> list:
        """Labels (classification) or numbers (regression) for ``texts``, in eval mode."""
        was_training = self.training
        self.eval()
        try:
            logits = self(texts, task).logits
        finally:
            self.train(was_training)
        info = self.tasks[task]
        if info.task_type == "regression":
            return logits.tolist()
        return [info.labels[i] for i in logits.argmax(-1).tolist()]

    def label_ids(self, labels: Sequence[str], task: str) -> torch.Tensor:
        """(B,) class ids of label strings; a clear error for a label the task does not have."""
        self.task_id(task)  # unknown names raise
        info = self.tasks[task]
        lookup = {label: i for i, label in enumerate(info.labels)}
        missing = sorted({str(lab) for lab in labels if lab not in lookup})
        if missing:
            raise KeyError(f"Task {task!r}: labels {missing} are not in its label map. "
                           f"Known labels: {', '.join(info.labels)}")
        return torch.tensor([lookup[lab] for lab in labels], dtype=torch.long)

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
            "model": dataclasses.asdict(self.config),
            "tasks": [dataclasses.asdict(t) for t in self.tasks.values()],
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
        return Path(directory)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, *, cache_dir: str | None = None,
                        map_location: str | torch.device = "cpu") -> MultiTaskModel:
        """Rebuild a model written by :meth:`save_pretrained` (safetensors + JSON only)."""
        directory = Path(directory)
        meta = read_json(directory / CONFIG_NAME, what="model config")
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{directory / CONFIG_NAME} must describe a {FORMAT}; got "
                                  f"format {meta.get('format')!r}")
        try:
            config = ModelConfig(**meta["model"])
            config._check("model")
            tasks = [TaskInfo(t["name"], tuple(t["labels"]), t["task_type"]) for t in meta["tasks"]]
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{directory / CONFIG_NAME} is inconsistent: {err}") from None
        state = read_safetensors(directory / WEIGHTS_NAME, device=map_location)
        encoder = None
        if meta["encoder"]["source"] is None:
            encoder = _saved_encoder(directory, meta["encoder"]["hf_config"], config, cache_dir,
                                     state)
        model = cls(config, tasks, encoder, cache_dir=cache_dir)
        model.metadata = dict(meta.get("metadata") or {})
        model._load_weights(state, directory)
        _check_fingerprint(model, meta["encoder"]["fingerprint"], directory)
        return model.to(map_location).eval()

    def _load_weights(self, state: dict[str, torch.Tensor], directory: Path) -> None:
        own = self.state_dict()
        expected = {k for k in own if self.encoder_source is None or self.encoder.finetune
                    or not k.startswith("encoder.")}
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        bad_shape = [k for k in expected & set(state) if state[k].shape != own[k].shape]
        if missing or unexpected or bad_shape:
            raise CheckpointError(f"{directory / WEIGHTS_NAME} does not match its config: "
                                  f"missing {missing[:5]}, unexpected {unexpected[:5]}, "
                                  f"wrong shape {bad_shape[:5]}")
        self.load_state_dict(state, strict=False)
        cache = self.encoder.cache
        if cache is not None and any(k.startswith("encoder.") for k in state):
            if model_fingerprint(self.encoder.model, self.encoder.tokenizer) != cache.fingerprint:
                # new frozen weights: features cached for the old ones must not be reused
                self.encoder.cache = TokenFeatureCache(
                    self.encoder.model, self.encoder.tokenizer, max_length=cache.max_length,
                    batch_size=cache.batch_size, storage_dtype=cache.storage_dtype,
                    cache_dir=None if cache.dir is None else cache.dir.parent)


def _saved_encoder(directory: Path, hf_config: dict, config: ModelConfig,
                   cache_dir: str | None, state: dict[str, torch.Tensor]) -> TextEncoder:
    """The encoder stored in the folder, its weights loaded before any feature is cached."""
    from transformers import AutoConfig

    hf = dict(hf_config)
    model_type = hf.pop("model_type")
    model, tokenizer = load_encoder(config=AutoConfig.for_model(model_type, **hf),
                                    tokenizer=directory / TOKENIZER_DIR)
    prefix = "encoder.model."
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(f"{directory / WEIGHTS_NAME} does not match its encoder config: "
                              f"{str(err)[:300]}") from None
    return TextEncoder(model, tokenizer, max_length=config.max_length,
                       finetune=not config.freeze_encoder, cache_dir=cache_dir)


def _fingerprint(encoder: TextEncoder) -> str:
    if encoder.cache is not None:  # frozen: computed once, when the cache was made
        return encoder.cache.fingerprint
    return model_fingerprint(encoder.model, encoder.tokenizer)


def _check_fingerprint(model: MultiTaskModel, expected: str, directory: Path) -> None:
    actual = _fingerprint(model.encoder)
    if actual != expected:
        raise CheckpointError(f"the encoder {model.encoder_source!r} differs from the one "
                              f"{directory} was trained with (fingerprint {actual} != {expected})")


# --------------------------------------------------------------------------- safe file I/O
def read_json(path: Path, what: str = "file") -> dict:
    """A JSON object from ``path``; CheckpointError when missing, truncated or not JSON."""
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{what} {path} is corrupt or truncated: {err}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{what} {path} must hold a JSON object; got {type(data).__name__}")
    return data


def read_safetensors(path: Path, device="cpu") -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file; CheckpointError when missing, truncated or corrupt."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist")
    try:
        return load_file(str(path), device=str(device))
    except Exception as err:  # SafetensorError, OSError: header, size or dtype problems
        raise CheckpointError(f"weights file {path} is corrupt or truncated: {err}") from None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


