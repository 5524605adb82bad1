"""QSANN-style quantum self-attention (Li et al., arXiv 2205.05625), batched and task-conditioned.

    x (B, T, D) ─Linear─> π·tanh ─> angles (B, T, 3, H, Q)          one set per role and head
    angles, task ─3·H circuits (one batched call)─> q, k, v (B, H, T, E)   E = spec.n_outputs
    q, k ─score─> (B, H, T, T) ─mask keys (and j > i if causal), softmax over j─> weights
    weights · v ─> (B, T, H·E) ─Linear─> out (B, T, D)

Query, key and value of a token are the expectation values of three task-conditioned
circuits per head (the same circuit definition, separate parameters). Scores:

- ``"gaussian"`` (QSANN): exp(-‖q_i - k_j‖²) normalised over j, i.e. a softmax of -‖q_i - k_j‖².
  With ``n_qubits=1`` (one ⟨Z⟩ each) this is QSANN's scalar kernel exp(-(q_i - k_j)²);
  with more qubits q and k are the vectors of every expectation value read out.
- ``"dot"``: softmax over j of q_i·k_j / √E.

Masks: ``mask`` (B, T) is True on real tokens. Padded tokens are not simulated, get attention
weight exactly 0 as keys, and as queries have an all-zero weight row and a zero output.
A causal layer also gives weight 0 to every key j > i. A real query always sees itself, so
every real row of weights sums to 1.

``QuantumEncoderLayer`` wraps the attention as a transformer encoder layer (residual, layer
norm, feed-forward); ``ClassicalSelfAttention`` is the control with the same interface and the
circuits replaced by a small per-task classical map of about the same size.
"""

from __future__ import annotations

import copy
import math
from typing import Literal, NamedTuple

import torch
from torch import nn

from circuits import CircuitSpec, ExecutionSpec, expectations, init_parameters, select
from circuits.fold import check_foldable
from qattn_hybrid.layers.common import AttentionOutput, check_inputs, param_dtype
from qattn_hybrid.layers.folding import Foldable, circuit_coefficients, fold_module, folded_outputs
from qattn_hybrid.layers.quantum import CircuitDevice, layer_specs

__all__ = [
    "ClassicalSelfAttention",
    "FoldedSelfAttention",
    "QuantumEncoderLayer",
    "QuantumSelfAttention",
    "SelfAttentionOutput",
    "SelfAttentionPooling",
]

ROLES = ("query", "key", "value")  # circuit index c = role * n_heads + head
Score = Literal["gaussian", "dot"]
Batching = Literal["stacked", "per_circuit"]


class SelfAttentionOutput(NamedTuple):
    out: torch.Tensor  # (B, T, D): 0 on padded query positions
    weights: torch.Tensor  # (B, H, T, T): rows sum to 1 for real queries; 0 on masked keys


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


# ----------------------------------------------------------------------------- scores and masks
def gaussian_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """(B, H, T, E), (B, H, T, E) -> (B, H, T, T) logits -‖q_i - k_j‖² (log of QSANN's kernel)."""
    return -(q.unsqueeze(-2) - k.unsqueeze(-3)).pow(2).sum(-1)


def dot_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """(B, H, T, E), (B, H, T, E) -> (B, H, T, T) logits q_i·k_j / √E."""
    return q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])


SCORES = {"gaussian": gaussian_scores, "dot": dot_scores}


def allowed_pairs(keep: torch.Tensor, causal: bool) -> torch.Tensor:
    """(B, T) real-token mask -> (B, 1, T, T) bool: may query i attend to key j.

    Padded query rows allow every key (their softmax stays finite; the row is zeroed after).
    """
    T = keep.shape[1]
    allowed = keep[:, None, None, :].expand(-1, 1, T, T)  # keys must be real
    if causal:
        allowed = allowed & torch.ones(T, T, dtype=torch.bool, device=keep.device).tril()
    return allowed | ~keep[:, None, :, None]


def attend(q, k, v, keep: torch.Tensor, score: str, causal: bool):
    """Weights (B, H, T, T) and attended values (B, H, T, E); padded query rows are 0."""
    scores = SCORES[score](q, k).masked_fill(~allowed_pairs(keep, causal), float("-inf"))
    weights = torch.softmax(scores, dim=-1) * keep[:, None, :, None]  # zero padded queries
    return weights, weights @ v


# ----------------------------------------------------------------------------- the shared layer
class _SelfAttention(nn.Module):
    """Everything but the per-token features: subclasses implement `features`."""

    def __init__(self, d_model: int, n_tasks: int, n_heads: int, n_features: int,
                 score: str, causal: bool):
        super().__init__()
        for name, value in (("d_model", d_model), ("n_tasks", n_tasks), ("n_heads", n_heads)):
            _check_positive(name, value)
        _check_choice("score", score, tuple(SCORES))
        if not isinstance(causal, bool):
            raise TypeError(f"causal must be a bool; got {type(causal).__name__}")
        self.d_model, self.n_heads, self.n_features = d_model, n_heads, n_features
        self.score, self.causal = score, causal
        self.out = nn.Linear(n_heads * n_features, d_model)  # concatenated heads -> D

    def features(self, x: torch.Tensor, tasks, keep: torch.Tensor) -> torch.Tensor:
        """(3·H, N, E) query, key and value features of the N real tokens `x[keep]`."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, task_id, mask=None) -> SelfAttentionOutput:
        tasks = check_inputs(x, task_id, mask, self.d_model, self.n_tasks, param_dtype(self))
        B, T, _ = x.shape
        keep = mask if mask is not None else torch.ones(B, T, dtype=torch.bool, device=x.device)
        rows = self.features(x, tasks, keep)  # (3H, N, E)
        dense = rows.new_zeros(rows.shape[0], B, T, rows.shape[-1])
        dense[:, keep] = rows  # (3H, B, T, E); padded tokens read 0
        q, k, v = dense.view(3, self.n_heads, B, T, -1).permute(0, 2, 1, 3, 4)  # each (B, H, T, E)
        weights, attended = attend(q, k, v, keep, self.score, self.causal)
        out = self.out(attended.transpose(1, 2).reshape(B, T, -1))  # (B, T, D)
        return SelfAttentionOutput(out * keep[..., None], weights)


def _row_tasks(tasks, keep: torch.Tensor):
    """The task of every real token, in `x[keep]` order: an int, or a LongTensor (N,)."""
    if isinstance(tasks, int):
        return tasks
    return tasks[:, None].expand_as(keep)[keep]


# ----------------------------------------------------------------------------- quantum
class QuantumSelfAttention(CircuitDevice, Foldable, _SelfAttention):
    """Self-attention whose queries, keys and values are expectation values of circuits.

    forward(x (B, T, D), task_id int | LongTensor (B,), mask (B, T) bool or None)
        -> SelfAttentionOutput(out (B, T, D), weights (B, H, T, T))

    `batching`: "stacked" runs all 3·H circuits as one batched call (rows stacked, one set of
    circuit parameters per row); "per_circuit" makes one call per circuit with unbroadcast
    parameters, which lets a fused simulator apply the token-independent part once.
    Both put every token through in the same call; the results are identical.
    """

    def __init__(self, d_model: int, n_tasks: int | None = None, n_qubits: int | None = None,
                 n_layers: int | None = None, n_heads: int = 1, score: Score = "gaussian",
                 causal: bool = False, ansatz: str | None = None,
                 conditioning: str | None = None, qml_device: str | None = None,
                 shots: int | None = None, diff_method: str | None = None,
                 rotation: str | None = None, reupload: bool | None = None,
                 readout: str | None = None, batching: Batching = "stacked",
                 device_options: dict | None = None, *, spec: CircuitSpec | None = None,
                 execution: ExecutionSpec | None = None, guard=None):
        # spec / execution: the circuit and where it runs (circuits.CircuitSpec and
        # ExecutionSpec), or their flat keywords, as for QuantumAttention (never both).
        spec, execution = layer_specs(
            n_tasks, spec, execution, n_qubits=n_qubits, n_layers=n_layers, ansatz=ansatz,
            conditioning=conditioning, rotation=rotation, reupload=reupload, readout=readout,
            qml_device=qml_device, shots=shots, diff_method=diff_method,
            device_options=device_options)
        super().__init__(d_model, spec.n_tasks, n_heads, spec.n_outputs, score, causal)
        _check_choice("batching", batching, ("stacked", "per_circuit"))
        self.batching = batching
        self.init_circuit_device(spec, execution, guard)
        n_qubits = spec.n_qubits

        n_circuits = len(ROLES) * n_heads
        self.to_angles = nn.Linear(d_model, n_circuits * n_qubits)
        draws = [init_parameters(spec) for _ in range(n_circuits)]  # a different draw each
        self.circuit = nn.ParameterDict(
            {k: nn.Parameter(torch.stack([d[k] for d in draws])) for k in draws[0]}
        )  # each (3H, *parameter_shapes(spec)[k])

    @property
    def n_tasks(self) -> int:
        return self.spec.n_tasks

    def angles(self, x: torch.Tensor) -> torch.Tensor:
        """(..., D) -> (..., 3·H, Q) rotation angles in (-π, π), one set per circuit."""
        return (math.pi * torch.tanh(self.to_angles(x))).unflatten(-1, (-1, self.spec.n_qubits))

    def circuit_arguments(self, c: int, tasks, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """Circuit c's arguments for rows of tasks `tasks` (int, or LongTensor (N,))."""
        params = {k: v[c].to(dtype) for k, v in self.circuit.items()}
        return select(self.spec, params, tasks)

    def features(self, x: torch.Tensor, tasks, keep: torch.Tensor) -> torch.Tensor:
        angles = self.angles(x[keep]).transpose(0, 1)  # (3H, N, Q)
        row_tasks = _row_tasks(tasks, keep)
        args = [self.circuit_arguments(c, row_tasks, angles.dtype) for c in range(len(angles))]
        if self.batching == "per_circuit":
            return torch.stack([expectations(self.qnode, a, kw) for a, kw in zip(angles, args)])
        C, N, Q = angles.shape
        base = self.circuit_arguments(0, 0, angles.dtype)  # unbroadcast shapes, one task
        stacked = {key: torch.cat([_per_row(kw[key], N, base[key].dim()) for kw in args])
                   for key in base}  # one set of parameters per row, (3H·N, ...)
        return expectations(self.qnode, angles.reshape(C * N, Q), stacked).view(C, N, -1)

    def fold(self) -> nn.Module:
        """This layer with its circuits folded into exact real arithmetic (no simulation at
        inference; same forward and outputs); see qattn_hybrid.layers.folding."""
        return FoldedSelfAttention(self).train(self.training)

    def extra_repr(self) -> str:
        s = self.spec
        return (f"d_model={self.d_model}, n_tasks={s.n_tasks}, n_qubits={s.n_qubits}, "
                f"n_layers={s.n_layers}, n_heads={self.n_heads}, score={self.score!r}, "
                f"causal={self.causal}, ansatz={s.ansatz.value}, "
                f"conditioning={s.conditioning.value}, qml_device={self.qml_device!r}, "
                f"shots={self.shots}, batching={self.batching!r}")


def _per_row(t: torch.Tensor, n_rows: int, unbroadcast_dim: int) -> torch.Tensor:
    """A circuit argument with one copy per row: (N, ...), expanding an unbroadcast one."""
    return t if t.dim() > unbroadcast_dim else t.expand(n_rows, *t.shape)


# ----------------------------------------------------------------------------- classical control
class ClassicalSelfAttention(_SelfAttention):
    """The control: the same layer with each circuit replaced by a small per-task classical map.

        x ─Linear─> tanh ─> h (B, T, 3, H, hidden) ─per-task, per-circuit Linear─> tanh ─> q, k, v

    With hidden = n_qubits and n_features = the circuit's outputs, the token-wise parameters
    match the quantum layer's (per circuit and task: hidden·E + E against L·Q·2 for the default
    ansatz), and the projections, scores, masks and output are shared code.
    """

    def __init__(self, d_model: int, n_tasks: int | None = None, n_heads: int = 1,
                 hidden: int | None = None, n_features: int | None = None,
                 score: Score = "gaussian", causal: bool = False, *,
                 spec: CircuitSpec | None = None):
        # spec: the quantum layer's CircuitSpec to match (hidden = spec.n_qubits, n_features =
        #   spec.n_outputs, n_tasks = spec.n_tasks); without it hidden and n_features default to 4
        if spec is not None:
            if not isinstance(spec, CircuitSpec):
                raise TypeError(f"spec must be a circuits.CircuitSpec; got {type(spec).__name__}")
            if hidden is not None or n_features is not None:
                raise ValueError("spec= must be given alone, not with hidden or n_features "
                                 "(it sets both); got both")
            if n_tasks is not None and n_tasks != spec.n_tasks:
                raise ValueError(f"n_tasks must equal spec.n_tasks={spec.n_tasks} (or be left "
                                 f"out); got {n_tasks}")
            n_tasks, hidden, n_features = spec.n_tasks, spec.n_qubits, spec.n_outputs
        hidden = 4 if hidden is None else hidden
        n_features = 4 if n_features is None else n_features
        _check_positive("hidden", hidden)
        _check_positive("n_features", n_features)
        super().__init__(d_model, n_tasks, n_heads, n_features, score, causal)
        self.n_tasks, self.hidden = n_tasks, hidden
        n_circuits = len(ROLES) * n_heads
        self.to_hidden = nn.Linear(d_model, n_circuits * hidden)
        bound = 1.0 / math.sqrt(hidden)  # nn.Linear's default init, per circuit and task
        self.task_weight = nn.Parameter(
            torch.empty(n_circuits, n_tasks, hidden, n_features).uniform_(-bound, bound))
        self.task_bias = nn.Parameter(
            torch.empty(n_circuits, n_tasks, n_features).uniform_(-bound, bound))

    def features(self, x: torch.Tensor, tasks, keep: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.to_hidden(x[keep])).unflatten(-1, (-1, self.hidden)).transpose(0, 1)
        row_tasks = _row_tasks(tasks, keep)  # h: (3H, N, hidden)
        if isinstance(row_tasks, int):
            w, b = self.task_weight[:, row_tasks], self.task_bias[:, row_tasks, None]
            return torch.tanh(h @ w + b)  # (3H, N, E)
        w, b = self.task_weight[:, row_tasks], self.task_bias[:, row_tasks]  # (3H, N, hidden, E)
        return torch.tanh((h.unsqueeze(-2) @ w).squeeze(-2) + b)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_tasks={self.n_tasks}, n_heads={self.n_heads}, "
                f"hidden={self.hidden}, n_features={self.n_features}, score={self.score!r}, "
                f"causal={self.causal}")


class FoldedSelfAttention(_SelfAttention):
    """QuantumSelfAttention with its 3·H circuits folded (same forward and outputs)."""

    def __init__(self, layer):
        check_foldable(layer.spec, layer.qml_device, layer.shots)
        super().__init__(layer.d_model, layer.n_tasks, layer.n_heads, layer.n_features,
                         layer.score, layer.causal)
        self.spec, self._n_tasks = layer.spec, layer.n_tasks
        self.out = copy.deepcopy(layer.out)
        self.to_angles = copy.deepcopy(layer.to_angles)
        dtype = layer.to_angles.weight.dtype
        n_circuits = len(ROLES) * layer.n_heads
        coefficients = [circuit_coefficients(layer.spec, layer.circuit, dtype, c)
                        for c in range(n_circuits)]
        self.register_buffer("coefficients", torch.stack(coefficients))  # (3H, K, J, 3^Q)

    @property
    def n_tasks(self) -> int:
        return self._n_tasks

    def features(self, x: torch.Tensor, tasks, keep: torch.Tensor) -> torch.Tensor:
        angles = math.pi * torch.tanh(self.to_angles(x[keep]))  # (N, 3H·Q)
        angles = angles.unflatten(-1, (-1, self.spec.n_qubits)).transpose(0, 1)  # (3H, N, Q)
        row_tasks = _row_tasks(tasks, keep)
        return torch.stack([folded_outputs(a, c, row_tasks)
                            for a, c in zip(angles, self.coefficients)])  # (3H, N, E)


# ----------------------------------------------------------------------------- encoder layer
class QuantumEncoderLayer(nn.Module):
    """A transformer encoder layer with quantum self-attention, stacked like PyTorch's own.

        post-norm (default): x = norm1(x + drop(attn(x)));  x = norm2(x + drop(ff(x)))
        pre-norm:            x = x + drop(attn(norm1(x)));  x = x + drop(ff(norm2(x)))

    forward(x (B, T, D), task_id, mask (B, T) bool, True = real) -> SelfAttentionOutput(out
    (B, T, D), weights (B, H, T, T)); padded positions of `out` are 0. Against
    `nn.TransformerEncoderLayer(batch_first=True)`: pass `mask=~src_key_padding_mask`, and
    `causal=True` at construction instead of a causal `src_mask`. Extra keyword arguments go
    to :class:`QuantumSelfAttention` (spec, execution, n_heads, score, causal, batching, or
    the flat n_qubits, qml_device, ...).
    """

    def __init__(self, d_model: int, n_tasks: int | None = None, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Literal["relu", "gelu"] = "relu",
                 layer_norm_eps: float = 1e-5, norm_first: bool = False, **attention_options):
        super().__init__()
        _check_positive("dim_feedforward", dim_feedforward)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a float in [0, 1); got {dropout!r}")
        _check_choice("activation", activation, ("relu", "gelu"))
        self.self_attn = QuantumSelfAttention(d_model, n_tasks, **attention_options)
        self.feed_forward = nn.Sequential(
            nn.Linear(d_model, dim_feedforward), nn.ReLU() if activation == "relu" else nn.GELU(),
            nn.Dropout(dropout), nn.Linear(dim_feedforward, d_model))
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x: torch.Tensor, task_id, mask=None) -> SelfAttentionOutput:
        attn = self.self_attn
        check_inputs(x, task_id, mask, attn.d_model, attn.n_tasks,  # before any norm sees x
                     param_dtype(self))
        if self.norm_first:
            attn = self.self_attn(self.norm1(x), task_id, mask)
            x = x + self.dropout1(attn.out)
            x = x + self.dropout2(self.feed_forward(self.norm2(x)))
        else:
            attn = self.self_attn(x, task_id, mask)
            x = self.norm1(x + self.dropout1(attn.out))
            x = self.norm2(x + self.dropout2(self.feed_forward(x)))
        if mask is not None:
            x = x * mask[..., None]  # padded positions are 0
        return SelfAttentionOutput(x, attn.weights)

    def fold(self) -> nn.Module:
        """This layer with its circuits folded into exact real arithmetic (no simulation at
        inference; same forward and outputs); see qattn_hybrid.layers.folding."""
        return fold_module(self)


# ----------------------------------------------------------------------------- MultiTaskModel
class SelfAttentionPooling(nn.Module):
    """A self-attention stack followed by a mean over real tokens: QuantumAttention's interface.

    forward(x (B, T, D), task_id, mask) -> AttentionOutput(pooled (B, D), weights (B, H, T)),
    where weights[b, h, j] is the attention key j receives, averaged over the real queries
    (>= 0, sums to 1 over real tokens, 0 on padded ones): the layer's attention map, summarised.
    """

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor, task_id, mask=None) -> AttentionOutput:
        out, weights = self.layer(x, task_id, mask)  # (B, T, D), (B, H, T, T); inputs checked
        keep = mask if mask is not None else x.new_ones(x.shape[:2], dtype=torch.bool)
        n_real = keep.sum(dim=1, keepdim=True).to(out.dtype)  # (B, 1)
        pooled = (out * keep[..., None]).sum(dim=1) / n_real  # (B, D)
        received = weights.sum(dim=2) / n_real[..., None]  # (B, H, T): padded query rows are 0
        return AttentionOutput(pooled, received)

