"""Length-bucketed batches: rows of similar length in one batch, so a fine-tuned encoder pads
(and computes) little.

    order = bucket_order(perm, lengths, batch_size=32, chunk_batches=50, generator=g)

``perm`` is a (seeded) random permutation of a task's rows. It is cut into chunks of
``chunk_batches * batch_size`` rows; each chunk is sorted by length and cut into batches; the
batches of the whole pass are then shuffled (seeded), so a pass still visits every row exactly
once, batches stay random in content beyond their chunk, and a step's length is not predictable
from its position. Only the last batch of a pass can be short. :class:`TaskSampler` uses it with
``length_buckets`` (``training.length_buckets``) when the encoder is fine-tuned; with a frozen,
cached encoder padding is cheap and batches stay plainly random.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["bucket_order"]


def bucket_order(perm: torch.Tensor, lengths: Sequence[int] | torch.Tensor, batch_size: int,
                 chunk_batches: int, generator: torch.Generator) -> torch.Tensor:
    """``perm`` reordered so every ``batch_size`` consecutive rows have similar lengths.

    perm: (N,) row ids (a permutation, or a rank's shard of one); lengths: length of every row
    of the task, indexed by row id. Returns (N,) the same ids; consecutive slices of
    ``batch_size`` (from position 0) are the batches.
    """
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")
    if not (isinstance(chunk_batches, int) and chunk_batches >= 1):
        raise ValueError(f"chunk_batches must be an int >= 1; got {chunk_batches!r}")
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    chunk = chunk_batches * batch_size
    batches: list[torch.Tensor] = []
    for start in range(0, len(perm), chunk):
        rows = perm[start : start + chunk]
        rows = rows[torch.argsort(lengths[rows], stable=True)]  # ties keep the random order
        batches.extend(rows.split(batch_size))
    full = [b for b in batches if len(b) == batch_size]
    short = [b for b in batches if len(b) < batch_size]  # at most one: the pass's last rows
    shuffled = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
    return torch.cat(shuffled + short) if batches else perm.clone()

