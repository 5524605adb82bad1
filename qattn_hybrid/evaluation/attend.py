"""Which words of one text each task attends to: token weights summed to words.

    amap = word_attention(model, "The service was slow but the pasta was great.")
    amap.words                  # the text's whitespace-separated words (text.split())
    amap.weights                # (K, W) each task's attention share per word
    amap.specials               # (K,) the share [CLS] / [SEP] took (the rest is the words')
    amap.top_words(0, 3)        # [("service", 0.41), ("slow", 0.22), ("was", 0.08)]

The model's attention weights (B, H, T) are averaged over heads, then each sub-word token's
weight goes to the word its characters lie in (the fast tokenizer's offset mapping). Special
tokens have no characters: their weight is kept apart, so ``weights.sum(1) + specials == 1``.
Words cut off by ``max_length`` get no token and weight 0. :func:`task_weights` is the model
run both this and :func:`qattn_hybrid.evaluation.plots.attention_map` (per head, per token) read.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["TaskRun", "WordAttention", "aggregate_words", "task_weights", "token_words",
           "word_attention", "word_spans"]


@dataclass(frozen=True)
class TaskRun:
    """One task's forward pass on one text."""

    task: str
    weights: torch.Tensor  # (H, T) attention over the text's real tokens
    outputs: torch.Tensor  # the task's outputs for the text: logits (C,) or a prediction ()


@torch.no_grad()
def task_weights(model, text: str, tasks: Sequence[str] | None = None) -> list[TaskRun]:
    """Run ``model`` (in eval mode) on ``text`` once per task (all of them by default); the
    text is encoded once."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty str (not only whitespace); got {text!r}")
    tasks = list(model.tasks) if tasks is None else list(tasks)
    if not tasks:
        raise ValueError(f"tasks must name at least one task; got {tasks!r}")
    for task in tasks:
        model.task_id(task)  # unknown names: an error listing the model's tasks
    was_training = model.training
    model.eval()
    try:
        encoded = model.encode([text])
        T = int(encoded.mask[0].sum())
        runs = []
        for task in tasks:
            out = model(encoded, task)
            runs.append(TaskRun(task, out.weights[0, :, :T].float().cpu(),
                                out.logits[0].float().cpu()))
    finally:
        model.train(was_training)
    return runs


# --------------------------------------------------------------------------- tokens -> words
def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character span of each whitespace-separated word (the words of
    ``text.split()``, in order)."""
    return [m.span() for m in re.finditer(r"\S+", text)]


def token_words(offsets: Sequence[tuple[int, int]], special: Sequence[bool],
                spans: Sequence[tuple[int, int]]) -> list[int | None]:
    """Word index of each token: the first word whose span overlaps the token's characters
    ``offsets[t] = (start, end)``; None for special tokens and tokens with no characters."""
    if len(offsets) != len(special):
        raise ValueError(f"offsets and special must have one entry per token; got "
                         f"{len(offsets)} and {len(special)}")
    ends = [end for _, end in spans]
    result: list[int | None] = []
    for (start, end), is_special in zip(offsets, special):
        w = bisect.bisect_right(ends, start)  # first word ending after the token starts
        inside = not is_special and end > start and w < len(spans) and spans[w][0] < end
        result.append(w if inside else None)
    return result


def aggregate_words(weights: torch.Tensor, words: Sequence[int | None],
                    n_words: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token weights (R, T) -> (word weights (R, n_words), special-token weight (R,)):
    each word gets the sum of its tokens' weights (``words[t]``: token t's word, or None)."""
    if weights.ndim != 2 or weights.shape[1] != len(words):
        raise ValueError(f"weights must be (R, T) with T = {len(words)} tokens; got shape "
                         f"{tuple(weights.shape)}")
    index = torch.tensor([n_words if w is None else w for w in words], dtype=torch.long)
    summed = torch.zeros(weights.shape[0], n_words + 1, dtype=weights.dtype)
    summed.index_add_(1, index, weights)  # column n_words collects the special tokens
    return summed[:, :n_words], summed[:, n_words]


# --------------------------------------------------------------------------- the map
@dataclass(frozen=True)
class WordAttention:
    """Each task's attention over one text's words, with its prediction."""

    text: str
    words: list[str]
    tasks: list[str]
    weights: torch.Tensor  # (K, W) attention share per word (head mean)
    specials: torch.Tensor  # (K,) share of the special tokens ([CLS], [SEP])
    n_tokens: int  # tokens attended over, specials included (mean pooling: 1 / n_tokens each)
    n_read: int  # words with a token: the first n_read (the rest were cut at max_length)
    labels: list  # per task: the predicted label (classification) or value (regression)
    probabilities: list  # per task: the label's probability, None for regression

    def top_words(self, k: int, n: int = 3) -> list[tuple[str, float]]:
        """Task k's ``n`` most attended words, most first (ties: the earlier word)."""
        order = sorted(range(len(self.words)), key=lambda w: -float(self.weights[k, w]))
        return [(self.words[w], float(self.weights[k, w])) for w in order[:n]]

    def prediction(self, k: int) -> str:
        """Task k's prediction as text: ``"negative (0.64)"`` (label and its probability), or
        the predicted value of a regression task."""
        label, p = self.labels[k], self.probabilities[k]
        return f"{label:.4g}" if p is None else f"{label} ({p:.2f})"

    def to_dict(self, top: int = 3) -> dict:
        """JSON-able: the words, and per task its prediction, word weights and top words."""
        tasks = [{"task": task, "label": self.labels[k], "probability": self.probabilities[k],
                  "special_weight": float(self.specials[k]),
                  "weights": [round(float(v), 6) for v in self.weights[k]],
                  "top_words": [{"word": w, "weight": round(v, 6)}
                                for w, v in self.top_words(k, top)]}
                 for k, task in enumerate(self.tasks)]
        return {"text": self.text, "words": self.words, "n_tokens": self.n_tokens,
                "n_words_read": self.n_read, "tasks": tasks}


def word_attention(model, text: str, tasks: Sequence[str] | None = None) -> WordAttention:
    """Run ``model`` on ``text`` for each task (all by default) and sum its head-mean
    attention over each word's sub-word tokens."""
    runs = task_weights(model, text, tasks)
    offsets, special = _token_offsets(model.encoder, text)
    if len(offsets) != runs[0].weights.shape[1]:
        raise RuntimeError(f"the tokenizer gave {len(offsets)} tokens but the model attended "
                           f"over {runs[0].weights.shape[1]}")
    spans = word_spans(text)
    weights = torch.stack([run.weights.mean(0) for run in runs])  # (K, T)
    words = token_words(offsets, special, spans)
    word_w, special_w = aggregate_words(weights, words, len(spans))
    n_read = 1 + max((w for w in words if w is not None), default=-1)
    labels, probabilities = zip(*(_prediction(model.tasks[run.task], run.outputs)
                                  for run in runs))
    return WordAttention(text, [text[a:b] for a, b in spans], [run.task for run in runs],
                         word_w, special_w, len(offsets), n_read, list(labels),
                         list(probabilities))


def _token_offsets(encoder, text: str) -> tuple[list[tuple[int, int]], list[bool]]:
    """(start, end) characters and is-special of each token the encoder reads of ``text``."""
    tokenizer = encoder.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"word attention needs a fast tokenizer (offset mapping); got "
                        f"{type(tokenizer).__name__}")
    enc = tokenizer(text, truncation=True, max_length=encoder.max_length,
                    return_offsets_mapping=True, return_special_tokens_mask=True)
    return [tuple(o) for o in enc["offset_mapping"]], [bool(s) for s in
                                                       enc["special_tokens_mask"]]


def _prediction(task, outputs: torch.Tensor) -> tuple:
    """(label or value, probability of the label or None) of one text's outputs."""
    label = task.predictions(outputs[None])[0]
    served = task.serve(outputs[None])[0]
    return label, (float(served.max()) if served.ndim == 1 else None)
