"""Task samplers: which task each multi-task training step draws, and which of its rows.

:data:`SAMPLERS` holds ``proportional``, ``temperature`` and ``round_robin``;
:func:`make_sampler` builds one by name::

    tasks = load_tasks(["clinc_intent", "fin_sentiment"])       # qattn_hybrid.data.loading
    sampler = make_sampler("temperature", {n: len(t.train) for n, t in tasks.items()},
                           batch_size=32, seed=0, temperature=2.0)
    for epoch in range(3):
        for task, idx in sampler:            # idx: LongTensor (B,) into tasks[task].train
            texts, labels = tasks[task].train.batch(idx)

Every sampler is seeded, resumable (``state_dict()`` / ``load_state_dict()``, mid-epoch too) and
DDP-aware: with ``rank`` / ``world_size`` each rank draws from a disjoint shard of every task while
all ranks follow the same task order.

With ``length_buckets`` (``training.length_buckets``, used when the encoder is fine-tuned) a
task's rows come in batches of similar length, so the encoder pads (and computes) little::

    order = bucket_order(perm, lengths, batch_size=32, chunk_batches=50, generator=g)

``perm`` is a (seeded) random permutation of a task's rows. It is cut into chunks of
``chunk_batches * batch_size`` rows; each chunk is sorted by length and cut into batches; the
batches of the whole pass are then shuffled (seeded), so a pass still visits every row exactly
once, batches stay random in content beyond their chunk, and a step's length is not predictable
from its position. Only the last batch of a pass can be short. With a frozen, cached encoder
padding is cheap and batches stay plainly random.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import torch

__all__ = [
    "SAMPLERS",
    "ProportionalSampler",
    "RoundRobinSampler",
    "TaskSampler",
    "TemperatureSampler",
    "bucket_order",
    "make_sampler",
]


class TaskSampler:
    """Yields ``(task_name, indices)`` per step: which task to train and which of its rows.

    ``sizes`` maps task name -> number of train rows (its order is the task order). Each task has
    its own index stream: a seeded permutation of its rows, sharded across ranks (rank r takes
    positions r, r + world_size, ...; the rows left over when the size is not a multiple of
    world_size are skipped that pass), consumed ``batch_size`` at a time, reshuffled when spent.
    Subclasses only choose the task order of an epoch (:meth:`task_order`), from a generator seeded
    by (seed, epoch) and never by rank, so every rank trains the same task at the same step.

    ``steps_per_epoch`` defaults to sum over tasks of ceil(rows per rank / batch_size): the steps
    a proportional sampler needs to show every row about once.

    ``lengths`` (task -> length of every row) with ``length_buckets`` = k >= 1: each pass of a
    task's stream is reordered by :func:`qattn_hybrid.training.sampling.bucket_order` (chunks of k
    batches sorted by length, batches shuffled, seeded), and a batch never runs over into the next
    pass (the last batch of a pass may be short), so one pass shows every row exactly once in
    batches of similar length (each rank buckets its own shard; a resume with another world size
    continues from the same number of rows, not the same rows). ``length_buckets = 0`` (default):
    plain random batches.
    """

    name: ClassVar[str] = ""
    # keyword arguments it takes from the config's [sampling] table (qattn_hybrid.training.factory)
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        sizes: Mapping[str, int],
        batch_size: int,
        *,
        seed: int = 0,
        steps_per_epoch: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        lengths: Mapping[str, Sequence[int]] | None = None,
        length_buckets: int = 0,
    ) -> None:
        _check_sampler_args(sizes, batch_size, steps_per_epoch, rank, world_size)
        self.length_buckets, self.lengths = _check_buckets(sizes, lengths, length_buckets)
        self.sizes = {str(k): int(v) for k, v in sizes.items()}
        self.tasks = list(self.sizes)
        self.batch_size, self.seed = batch_size, seed
        self.rank, self.world_size = rank, world_size
        per_rank = [n // world_size for n in self.sizes.values()]
        self.steps_per_epoch = steps_per_epoch or sum(math.ceil(n / batch_size) for n in per_rank)
        self.epoch, self.step = 0, 0  # position: next step to yield
        self._cursor = {t: (0, 0) for t in self.tasks}  # task -> (pass, offset) in its stream
        self._shards: dict[str, tuple[int, torch.Tensor]] = {}  # task -> (pass, shard) cache

    def probabilities(self) -> dict[str, float]:
        """Probability of drawing each task at a step (uniform for round-robin)."""
        raise NotImplementedError

    def task_order(self, epoch: int) -> list[int]:
        """Task index of every step of ``epoch``; the same on every rank."""
        p = torch.tensor(list(self.probabilities().values()), dtype=torch.float64)
        g = torch.Generator().manual_seed(_mix(self.seed, epoch, -1))
        return torch.multinomial(p, self.steps_per_epoch, replacement=True, generator=g).tolist()

    def __len__(self) -> int:
        return self.steps_per_epoch

    def __iter__(self) -> Iterator[tuple[str, torch.Tensor]]:
        """The rest of the current epoch; the next ``iter()`` starts the next epoch."""
        order = self.task_order(self.epoch)
        while self.step < self.steps_per_epoch:
            task = self.tasks[order[self.step]]
            indices = self._take(task)
            self.step += 1
            yield task, indices
        self.epoch, self.step = self.epoch + 1, 0

    def _shard(self, task: str, pass_: int) -> torch.Tensor:
        cached = self._shards.get(task)
        if cached is not None and cached[0] == pass_:
            return cached[1]
        g = torch.Generator().manual_seed(_mix(self.seed, self.tasks.index(task), pass_))
        perm = torch.randperm(self.sizes[task], generator=g)  # same on every rank
        usable = (self.sizes[task] // self.world_size) * self.world_size
        shard = perm[:usable][self.rank :: self.world_size]
        if self.length_buckets:  # batches of similar length (seeded per rank and pass)
            g = torch.Generator().manual_seed(_mix(self.seed, self.tasks.index(task), pass_,
                                                   self.rank, -2))
            shard = bucket_order(shard, self.lengths[task], self.batch_size,
                                 self.length_buckets, g)
        self._shards[task] = (pass_, shard)
        return shard

    def _take(self, task: str) -> torch.Tensor:
        pass_, offset = self._cursor[task]
        parts, need = [], self.batch_size
        while need > 0:
            shard = self._shard(task, pass_)
            chunk = shard[offset : offset + need]
            parts.append(chunk)
            need -= len(chunk)
            offset += len(chunk)
            if offset >= len(shard):
                pass_, offset = pass_ + 1, 0
                if self.length_buckets:  # a bucketed batch never mixes two passes
                    break
        self._cursor[task] = (pass_, offset)
        return torch.cat(parts)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this sampler is (plain JSON types)."""
        return {
            "name": self.name,
            "sizes": dict(self.sizes),
            "batch_size": self.batch_size,
            "seed": self.seed,
            "world_size": self.world_size,
            "steps_per_epoch": self.steps_per_epoch,
            "length_buckets": self.length_buckets,
            "epoch": self.epoch,
            "step": self.step,
            "cursor": {t: list(c) for t, c in self._cursor.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of a sampler built the same way (rank may differ)."""
        for key in ("name", "sizes", "batch_size", "seed", "world_size", "steps_per_epoch",
                    "length_buckets"):
            mine = self.state_dict()[key]
            theirs = state.get(key, 0 if key == "length_buckets" else None)  # older states: 0
            if theirs != mine:
                raise ValueError(
                    f"Sampler state {key} must match this sampler's ({mine!r}); got {theirs!r}"
                )
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self._cursor = {t: (int(p), int(o)) for t, (p, o) in state["cursor"].items()}


def _mix(*numbers: int) -> int:
    """A 63-bit seed from several integers (stable across runs and machines)."""
    digest = hashlib.sha256(",".join(map(str, numbers)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _check_buckets(sizes, lengths, length_buckets) -> tuple[int, dict]:
    if not (isinstance(length_buckets, int) and not isinstance(length_buckets, bool)
            and length_buckets >= 0):
        raise ValueError(f"length_buckets must be an int >= 0; got {length_buckets!r}")
    if not length_buckets:
        return 0, {}
    if lengths is None:
        raise ValueError("lengths must be given (task -> length of every row) when "
                         "length_buckets >= 1; got None")
    for task, n in sizes.items():
        if task not in lengths or len(lengths[task]) != n:
            got = len(lengths[task]) if task in lengths else "none"
            raise ValueError(f"Task {task!r}: lengths must have one entry per row ({n}); "
                             f"got {got}")
    return length_buckets, {str(t): torch.as_tensor(list(lengths[t]), dtype=torch.long)
                            for t in sizes}


def _check_sampler_args(sizes, batch_size, steps_per_epoch, rank, world_size) -> None:
    if not sizes:
        raise ValueError("sizes must name at least one task; got an empty mapping")
    if not (isinstance(world_size, int) and world_size >= 1):
        raise ValueError(f"world_size must be an int >= 1; got {world_size!r}")
    if not (isinstance(rank, int) and 0 <= rank < world_size):
        raise ValueError(f"rank must be an int in [0, {world_size}); got {rank!r}")
    for task, n in sizes.items():
        if not (isinstance(n, int) and n >= world_size):
            raise ValueError(
                f"Task {task!r}: size must be an int >= world_size ({world_size}); got {n!r}"
            )
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")
    if steps_per_epoch is not None and not (
        isinstance(steps_per_epoch, int) and steps_per_epoch >= 1
    ):
        raise ValueError(f"steps_per_epoch must be an int >= 1 or None; got {steps_per_epoch!r}")


class ProportionalSampler(TaskSampler):
    """Draw a task with probability proportional to its number of rows."""

    name = "proportional"

    def probabilities(self) -> dict[str, float]:
        total = sum(self.sizes.values())
        return {t: n / total for t, n in self.sizes.items()}


class TemperatureSampler(TaskSampler):
    """Draw a task with probability proportional to n^(1/T) (T=1: proportional; T->inf: uniform)."""

    name = "temperature"
    options = ("temperature",)

    def __init__(self, sizes: Mapping[str, int], batch_size: int, *, temperature: float = 2.0,
                 **kwargs: Any) -> None:
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"temperature must be a number > 0; got {temperature!r}")
        super().__init__(sizes, batch_size, **kwargs)
        self.temperature = float(temperature)

    def probabilities(self) -> dict[str, float]:
        w = {t: n ** (1.0 / self.temperature) for t, n in self.sizes.items()}
        total = sum(w.values())
        return {t: v / total for t, v in w.items()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "temperature": self.temperature}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("temperature") != self.temperature:
            raise ValueError(
                f"Sampler state temperature must match this sampler's ({self.temperature!r}); "
                f"got {state.get('temperature')!r}"
            )
        super().load_state_dict(state)


class RoundRobinSampler(TaskSampler):
    """Tasks in turn, in the order of ``sizes``: t0, t1, ..., t0, t1, ... (no randomness)."""

    name = "round_robin"

    def probabilities(self) -> dict[str, float]:
        return {t: 1.0 / len(self.tasks) for t in self.tasks}

    def task_order(self, epoch: int) -> list[int]:
        start = epoch * self.steps_per_epoch  # continue the cycle across epochs
        return [(start + s) % len(self.tasks) for s in range(self.steps_per_epoch)]


SAMPLERS: dict[str, type[TaskSampler]] = {
    cls.name: cls for cls in (ProportionalSampler, TemperatureSampler, RoundRobinSampler)
}


def make_sampler(name: str, sizes: Mapping[str, int], batch_size: int,
                 **kwargs: Any) -> TaskSampler:
    """Build a sampler from :data:`SAMPLERS` by name (``temperature=`` for ``temperature``)."""
    if name not in SAMPLERS:
        raise KeyError(f"Unknown sampler {name!r}. Available: {', '.join(SAMPLERS)}")
    return SAMPLERS[name](sizes, batch_size, **kwargs)


# Length-bucketed batches (``length_buckets``)

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
