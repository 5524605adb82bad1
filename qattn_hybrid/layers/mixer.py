"""Token mixers: the features re-read in order before the attention pools them (``model.mixer``).

    features (B, T, D), mask (B, T) ─BiGRUMixer─> (B, T, 2·units), 0 on padding

A frozen encoder's token features were computed without the task: in "the service was slow
but the pasta was great" the vector of "slow" does not say that it is about the service. A
scorer that sees one token at a time can find the aspect's words or the sentiment's words,
but not which sentiment belongs to which aspect. A bidirectional GRU shared by every task
re-reads each token with its neighbours, so the attention that picks a task's tokens also
picks what was said next to them (benchmarks/RESULTS.md, "Aspect sentiment on MAMS-ACSA").

Only real tokens are read, in their order, wherever the mask has them (padding in the middle
included); padding is neither read nor written. A plain tensor program (sort, gather,
scatter, GRU), so the serving graph that holds it exports as it is.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MIXERS", "BiGRUMixer", "build_mixer"]


class BiGRUMixer(nn.Module):
    """A bidirectional GRU over each row's real tokens; (B, T, D), (B, T) -> (B, T, 2·units).

    Args:
        d_model: feature size D of the tokens it reads.
        units: GRU units per direction (the output has 2·units features per token).
        dropout: on the outputs, while training.
    """

    def __init__(self, d_model: int, units: int = 128, dropout: float = 0.1):
        super().__init__()
        for name, number in (("d_model", d_model), ("units", units)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise ValueError(f"{name} must be a positive int; got {number!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {dropout!r}")
        self.d_model, self.units, self.d_out = d_model, units, 2 * units
        self.forward_gru = nn.GRU(d_model, units, batch_first=True)
        self.backward_gru = nn.GRU(d_model, units, batch_first=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must be (B, T, {self.d_model}); got shape {tuple(x.shape)}")
        if mask.shape != x.shape[:2] or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor (B, T) = {tuple(x.shape[:2])}; got "
                             f"{mask.dtype} of shape {tuple(mask.shape)}")
        B, T, _ = x.shape
        position = torch.arange(T, device=x.device).expand(B, T)  # (B, T)
        # real tokens first, in their order (a key no two tokens share: any sort gives it)
        order = torch.argsort(position + T * (~mask).long(), dim=1)  # (B, T)
        lengths = mask.sum(1, keepdim=True)  # (B, 1)
        packed = _rows(x, order)  # (B, T, D)
        # the backward direction reads each row's real tokens last to first; the index map
        # is its own inverse, so the same gather puts its outputs back in token order
        flip = torch.where(position < lengths, lengths - 1 - position, position)  # (B, T)
        ahead, _ = self.forward_gru(packed)  # padding comes after every real token
        behind, _ = self.backward_gru(_rows(packed, flip))
        out = torch.cat([ahead, _rows(behind, flip)], dim=-1)  # (B, T, 2·units), packed order
        out = out * (position < lengths)[..., None]
        unpacked = torch.zeros_like(out).scatter(1, order[..., None].expand_as(out), out)
        return self.dropout(unpacked)  # (B, T, 2·units), 0 on padding

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, units={self.units}"


def _rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x[b, index[b, t]] for every row b: (B, T, F), (B, T) -> (B, T, F)."""
    return x.gather(1, index[..., None].expand(-1, -1, x.shape[-1]))


MIXERS = {"bigru": BiGRUMixer}  # model.mixer -> the module class (d_model, units)


def build_mixer(kind: str | None, d_model: int, units: int) -> BiGRUMixer | None:
    """The mixer ``model.mixer`` names (None: none, the attention reads the features)."""
    if kind is None:
        return None
    if kind not in MIXERS:
        raise ValueError(f"mixer must be one of {', '.join(map(repr, MIXERS))} or None; "
                         f"got {kind!r}")
    return MIXERS[kind](d_model, units)
