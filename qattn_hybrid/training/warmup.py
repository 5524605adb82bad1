"""Filling a frozen encoder's feature cache before the first training step.

    stats = warm_features(trainer)      # every distinct text of every task and split, once
    stats.distinct, stats.encoded, stats.seconds, stats.threads

Every distinct text of a run (all tasks, all splits; tasks on one file share their texts) is
encoded once, length-sorted, and its token features kept in the cache (memory and
``data.cache_dir``). ``training.encode_threads`` (None: 1) batches are encoded at once, each
by its own Python thread running the encoder with one torch thread (torch releases the GIL
inside its ops), so both cores of a 2-core machine work; then training gets its own
``training.num_threads`` back. Independent batches, rather than one forward split over two
intra-op threads, keep working when other jobs share the cores: on the shared 2-core
machine at load ~15, one forward over 2 intra-op threads encoded the shortest texts at ~10
texts/s, 2 such workers at ~75 (benchmarks/RESULTS.md, "Main job (issue 11/15)").

Under ``torchrun`` rank 0 encodes and writes the disk cache, the other ranks wait and read it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import NamedTuple

import torch

from qattn_hybrid.utils import distributed

__all__ = ["WarmupStats", "torch_threads", "warm_features"]

log = logging.getLogger(__name__)


class WarmupStats(NamedTuple):
    distinct: int  # distinct texts of the run (all tasks and splits)
    encoded: int  # of those, how many were not cached and went through the encoder
    seconds: float  # wall time of the encoding
    threads: int  # batches encoded at once (each with one torch thread)


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


@contextlib.contextmanager
def _workers(cache, n: int) -> Iterator[None]:
    before, cache.workers = cache.workers, n
    try:
        yield
    finally:
        cache.workers = before


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
    threads = trainer.config.training.encode_threads or 1
    with torch_threads(1 if threads > 1 else None), _workers(cache, threads):
        if shared and not trainer.is_writer:  # rank 0 encodes and fills the disk cache first
            distributed.barrier()
            cache.load_shards()
        n = cache.warm(texts)
        if shared and trainer.is_writer:
            distributed.barrier()
    seconds = time.perf_counter() - start
    if n:
        log.info("Encoded %d texts in %.1f s, %d batches at once (cached for later epochs)",
                 n, seconds, threads)
    return WarmupStats(distinct, n, seconds, threads)
