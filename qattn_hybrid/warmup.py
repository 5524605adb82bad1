"""Filling a frozen encoder's feature cache before the first training step.

    stats = warm_features(trainer)      # every distinct text of every task and split, once
    stats.distinct, stats.encoded, stats.seconds, stats.threads

Every distinct text of a run (all tasks, all splits; tasks on one file share their texts) is
encoded once, length-sorted, and its token features kept in the cache (memory and
``data.cache_dir``). The encoder runs with ``training.encode_threads`` torch threads (None:
as many as training uses, ``training.num_threads``), then training gets its own count back:
encoding is one big matrix product per batch and uses every core well, while the small
training steps run steadier on one thread of a busy machine.

Under ``torchrun`` rank 0 encodes and writes the disk cache, the other ranks wait and read it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import NamedTuple

import torch

from qattn_hybrid import distributed

__all__ = ["WarmupStats", "torch_threads", "warm_features"]

log = logging.getLogger(__name__)


class WarmupStats(NamedTuple):
    distinct: int  # distinct texts of the run (all tasks and splits)
    encoded: int  # of those, how many were not cached and went through the encoder
    seconds: float  # wall time of the encoding
    threads: int  # torch threads the encoder ran with


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run the block with ``n`` torch intra-op threads (None: unchanged); yields the count."""
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def warm_features(trainer) -> WarmupStats | None:
    """Encode every distinct text of ``trainer.tasks`` not cached yet; None when the encoder is
    fine-tuned (no cache). A second call finds everything cached (encoded = 0)."""
    cache = trainer.model.encoder.cache
    if cache is None:
        return None
    texts = [text for task in trainer.tasks.values() for split in task.splits.values()
             for text in split.texts]
    distinct = len(set(texts))
    if trainer.is_writer:
        log.info("Token features of %d distinct texts: from the cache %s, else encoded once "
                 "now", distinct, cache.dir or "(in memory)")
    shared = trainer.world_size > 1 and cache.dir is not None
    start = time.perf_counter()
    with torch_threads(trainer.config.training.encode_threads) as threads:
        if shared and not trainer.is_writer:  # rank 0 encodes and fills the disk cache first
            distributed.barrier()
            cache.load_shards()
        n = cache.warm(texts)
        if shared and trainer.is_writer:
            distributed.barrier()
    seconds = time.perf_counter() - start
    if n:
        log.info("Encoded %d texts in %.1f s with %d torch threads (cached for later epochs)",
                 n, seconds, threads)
    return WarmupStats(distinct, n, seconds, threads)
