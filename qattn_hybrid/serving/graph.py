"""The exportable serving graph: token ids in, every task's probabilities and attention out.

    input_ids (B, T), attention_mask (B, T) ─encoder─> features (B, T, D) ─mixer, if any─>
    features ─folded attention, all tasks at once─> weights_k (B, H, T), pooled_k (B, D)
    pooled_k ─head_k─> task_k.serve ─> probabilities_k (B, C_k), or predictions_k (B,)

A plain tensor program (no input checks with data-dependent branches, no PennyLane, no
complex numbers), so ``torch.export`` and the ONNX exporter take it as is. Outputs come in
task order, two per task: ``(scores_0, weights_0, scores_1, weights_1, ...)``.
"""

from __future__ import annotations

import torch
from torch import nn

from qattn_hybrid.layers.common import mask_scores, pool
from qattn_hybrid.layers.folding import all_task_outputs
from qattn_hybrid.layers.quantum import FoldedAttention
from qattn_hybrid.modeling.encoders import hidden_states

__all__ = ["ServingGraph", "serving_graph"]


class ServingGraph(nn.Module):
    """forward(input_ids (B, T) int64, attention_mask (B, T) int64) -> per task
    (probabilities (B, C) or predictions (B,), attention weights (B, H, T))."""

    def __init__(self, model):
        super().__init__()
        self.model = model  # a folded MultiTaskModel: its heads give each task's outputs
        self.encoder, self.attention = model.encoder.model, model.attention
        self.layers = model.encoder.layers  # hidden states averaged into the features
        self.tasks = list(model.tasks)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        mask = attention_mask.bool()  # (B, T)
        hidden = hidden_states(self.encoder, self.layers, input_ids=input_ids,
                               attention_mask=attention_mask)  # (B, T, D)
        x = hidden * mask[..., None]  # (B, T, D), 0 on padding (as the library's encoder)
        x = self.model.mix(x, mask)  # (B, T, D'): model.mixer's outputs, if it has one
        att = self.attention
        G = att.n_circuits
        values = att.value(x)  # (B, T, D)
        angles = att.angles(x).unflatten(-1, (G, -1))  # (B, T, G, Q): circuit g's angles
        every = all_task_outputs(angles, att.coefficients)  # (B, T, G, K·G, J)
        every = every * mask[..., None, None, None]
        circuit = torch.arange(G)
        outputs = []
        for k, task in enumerate(self.tasks):
            # circuit g of task k: its angles under conditioning set k·G + g
            z = every[:, :, circuit, k * G + circuit, :].flatten(-2)  # (B, T, G·n_out)
            scores = mask_scores(att.readout(z).transpose(1, 2), mask)  # (B, H, T)
            pooled, weights = pool(scores, values)
            out = self.model.task_output(pooled, task)  # (B, C) logits, or (B,) predictions
            outputs += [self.model.tasks[task].serve(out), weights]  # probabilities or values
        return tuple(outputs)


def serving_graph(model) -> ServingGraph:
    """The ServingGraph of a MultiTaskModel (folded first if it is not), in eval mode."""
    if model.config.attention != "quantum":
        raise ValueError(f"attention must be 'quantum' to export a model (the folded "
                         f"QuantumAttention); got {model.config.attention!r}")
    folded = model if isinstance(model.attention, FoldedAttention) else model.fold()
    return ServingGraph(folded).eval()
