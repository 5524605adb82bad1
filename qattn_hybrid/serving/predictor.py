"""Predictions of a loaded MultiTaskModel (folded or circuit path) in the serving format.

The same dict per text as an exported model's (``runtime.format_predictions``): tokens, the
``truncated`` flag and per task the label, class probabilities and attention over the tokens.
The frozen encoder runs directly in float32 here (a server must not keep every text it sees
in the training-time feature cache, which also rounds features to float16).
"""

from __future__ import annotations

import torch

from qattn_hybrid.modeling.encoders import EncodedText, hidden_states
from qattn_hybrid.serving.runtime import format_predictions, tokenize

__all__ = ["ModelPredictor", "task_manifest"]


def task_manifest(model) -> list[dict]:
    """[{name, task_type, labels, output}] in the model's task order (the export's output
    order); ``output`` says what the task emits: "probabilities" over its labels or a "value"."""
    return [{"name": t.name, "task_type": t.task_type, "labels": list(t.labels),
             "output": t.serving_output} for t in model.tasks.values()]


class ModelPredictor:
    """predict(texts, tasks=None) -> one dict per text (see runtime.ExportedModel.predict)."""

    def __init__(self, model):
        self.model = model.eval()
        self.tasks = task_manifest(model)
        self.tokenizer = model.encoder.tokenizer
        self.max_length = model.encoder.max_length

    @torch.no_grad()
    def raw(self, texts: list[str], tasks: list[str] | None = None):
        """(per-task outputs as in the export, with None for tasks not asked, tokenized)."""
        enc = tokenize(self.tokenizer, texts, self.max_length, tensors="pt")
        encoder = self.model.encoder.model
        device = next(encoder.parameters()).device
        ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
        hidden = hidden_states(encoder, self.model.encoder.layers, input_ids=ids,
                               attention_mask=mask)
        keep = mask.bool()
        encoded = EncodedText(hidden * keep[..., None], keep)
        raw = []
        for task in self.tasks:
            if tasks is not None and task["name"] not in tasks:
                raw += [None, None]
                continue
            out = self.model(encoded, task["name"])
            scores = self.model.tasks[task["name"]].serve(out.logits)
            raw += [scores.float().cpu().numpy(), out.weights.float().cpu().numpy()]
        return raw, enc

    def predict(self, texts: list[str], tasks: list[str] | None = None) -> list[dict]:
        raw, enc = self.raw(texts, tasks)
        return format_predictions(self.tasks, raw, enc["tokens"], enc["truncated"], tasks)
