"""Helpers for running on several processes with ``torch.distributed`` (DDP via ``torchrun``).

Every function works unchanged in a plain single process (rank 0 of 1, nothing initialised),
so the trainer calls them unconditionally::

    ctx = setup("cuda")                # joins torchrun's process group; cuda -> cuda:LOCAL_RANK
    model = wrap(model.to(ctx.device), ctx)          # DistributedDataParallel when world > 1
    sampler = make_sampler(..., rank=ctx.rank, world_size=ctx.world_size)
    sums = all_reduce_sums({"loss": loss_sum, "rows": n})            # the same on every rank
    if ctx.is_main: save(...)                                       # only rank 0 writes
    teardown()

Backends: ``nccl`` for CUDA devices, ``gloo`` otherwise (override with ``backend=``). Process
groups are created with a timeout, so a rank that dies makes the others fail, not hang.
"""

from __future__ import annotations

import atexit
import datetime
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = [
    "DistContext",
    "all_reduce_sums",
    "average_buffers",
    "average_grads",
    "barrier",
    "broadcast_object",
    "gather_cat",
    "is_main",
    "rank",
    "reshard_sampler_state",
    "resolve_device",
    "setup",
    "teardown",
    "unwrap",
    "world_size",
    "wrap",
]

DEFAULT_TIMEOUT_S = 1800.0  # as torch's default for gloo; a rank may wait for rank 0 to encode


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among ``world_size`` and its torch device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # rank on this machine: picks the CUDA device
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an int; got {value!r}") from None


def resolve_device(device: str | torch.device, local_rank: int = 0) -> torch.device:
    """The torch device of this rank: a bare ``"cuda"`` becomes ``cuda:local_rank``; an explicit
    index (``"cuda:1"``) or ``"cpu"`` is kept."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank)
    return device


def setup(device: str | torch.device = "cpu", backend: str | None = None,
          timeout_s: float = DEFAULT_TIMEOUT_S) -> DistContext:
    """Join the process group described by torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); a no-op in a single process.

    An already initialised group is used as is. On CUDA the rank's device is made current.
    """
    if dist.is_available() and dist.is_initialized():
        size, rank_ = dist.get_world_size(), dist.get_rank()
        local = _env_int("LOCAL_RANK", rank_)
    else:
        size, rank_, local = (_env_int("WORLD_SIZE", 1), _env_int("RANK", 0),
                              _env_int("LOCAL_RANK", 0))
        if size < 1 or not 0 <= rank_ < size:
            raise ValueError(f"RANK must be in [0, WORLD_SIZE={size}); got {rank_}")
    torch_device = resolve_device(device, local)
    if torch_device.type == "cuda":
        torch.cuda.set_device(torch_device)
    if size > 1 and not dist.is_initialized():
        if not dist.is_available():
            raise RuntimeError("WORLD_SIZE > 1 needs torch.distributed; this torch build has none")
        backend = backend or ("nccl" if torch_device.type == "cuda" else "gloo")
        dist.init_process_group(backend, rank=rank_, world_size=size,
                                timeout=datetime.timedelta(seconds=timeout_s))
        atexit.register(teardown)  # the group this call created is left at exit
    return DistContext(rank_, size, local, torch_device)


def teardown() -> None:
    """Leave the process group (if any); safe to call twice or without one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if _active() else 0


def world_size() -> int:
    return dist.get_world_size() if _active() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if _active():
        dist.barrier()


def _comm_device() -> torch.device:
    """Where collective tensors must live: the current CUDA device for nccl, else the CPU."""
    if _active() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sums(values: Mapping[str, float | torch.Tensor]) -> dict[str, float]:
    """Sum each value over all ranks (float64); the same dict on every rank.

    Reduce *sums* (loss × rows, correct predictions, rows), then divide: means of means are
    wrong when ranks see different numbers of rows.
    """
    names = list(values)
    local = torch.tensor([float(values[n]) for n in names], dtype=torch.float64,
                         device=_comm_device())
    if _active():
        dist.all_reduce(local, op=dist.ReduceOp.SUM)
    return dict(zip(names, local.tolist()))


def gather_cat(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate a tensor's rows from every rank, rank 0's first (rows may differ per rank);
    returned on the input's device. Non-decomposable metrics (macro F1) need this."""
    if not _active():
        return tensor
    sizes = [None] * dist.get_world_size()
    dist.all_gather_object(sizes, int(tensor.shape[0]))
    comm = tensor.to(_comm_device())
    padded = comm.new_zeros((max(sizes),) + tuple(tensor.shape[1:]))
    padded[: tensor.shape[0]] = comm
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([p[:n] for p, n in zip(parts, sizes)]).to(tensor.device)


def broadcast_object(obj, src: int = 0):
    """Rank ``src``'s ``obj`` on every rank (a picklable Python object)."""
    if not _active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def wrap(model: nn.Module, ctx: DistContext, **ddp_options) -> nn.Module:
    """``DistributedDataParallel(model)`` when the world has several ranks, else ``model``.

    ``find_unused_parameters`` defaults to True: a multi-task step uses one task's head and
    leaves the others without gradient. ``broadcast_buffers`` defaults to False: the model's
    buffers (the frozen encoder's position ids, ...) never change, and re-sending them every
    step cost ~7 ms a step on CPU. DDP broadcasts rank 0's parameters and buffers at
    construction, so every rank starts from the same weights (circuit weights included).
    """
    if not ctx.distributed:
        return model
    ddp_options.setdefault("find_unused_parameters", True)
    ddp_options.setdefault("broadcast_buffers", False)
    if ctx.device.type == "cuda":
        ddp_options.setdefault("device_ids", [ctx.device.index])
        ddp_options.setdefault("output_device", ctx.device.index)
    return DistributedDataParallel(model, **ddp_options)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper (for saving, evaluation, attribute access)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def average_grads(params: Iterable[torch.Tensor]) -> None:
    """Average ``.grad`` over ranks, in place, for parameters DDP does not synchronise (a loss
    weighting's own parameters; everything inside ``no_sync``). Parameters without a gradient
    are skipped; every rank must have gradients for the same parameters (they do: all ranks
    train the same tasks at the same step)."""
    if not _active():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads]).to(_comm_device())
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= dist.get_world_size()
    for g, part in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(part.view_as(g))


def average_buffers(module: nn.Module) -> None:
    """Average a module's floating-point buffers over ranks, in place (e.g. a loss weighting's
    running loss sums before its end-of-epoch update), so every rank holds the same state."""
    if not _active():
        return
    for buf in module.buffers():
        if buf.is_floating_point():
            comm = buf.to(_comm_device())
            dist.all_reduce(comm, op=dist.ReduceOp.SUM)
            buf.copy_(comm / dist.get_world_size())


def reshard_sampler_state(state: Mapping, sampler) -> dict:
    """A task sampler's ``state_dict()`` from a run with another world size, converted for
    ``sampler`` (this run's), so a run resumes with more or fewer processes.

    The global batch (per-rank batch × world size) must be the same. Every task stream keeps
    its position in the global order: a rank shard of W ranks at offset o has consumed the
    first W·o rows of the pass's permutation; the new ranks continue from there (exactly when
    W·o divides by the new world size, else from the nearest row before).
    """
    mine = sampler.state_dict()
    old_world, new_world = int(state["world_size"]), mine["world_size"]
    if old_world == new_world:
        return dict(state)
    old_global = int(state["batch_size"]) * old_world
    if old_global != mine["batch_size"] * new_world:
        raise ValueError(f"the global batch (batch per rank x world size) must match the "
                         f"checkpoint's ({state['batch_size']} x {old_world} = {old_global}); "
                         f"got {mine['batch_size']} x {new_world}")
    cursor = {}
    for task, (pass_, offset) in state["cursor"].items():
        offset = int(offset) * old_world // new_world
        shard = mine["sizes"][task] // new_world
        cursor[task] = [int(pass_) + 1, 0] if offset >= shard else [int(pass_), offset]
    step = min(int(state["step"]), mine["steps_per_epoch"])
    return {**state, "world_size": new_world, "batch_size": mine["batch_size"],
            "steps_per_epoch": mine["steps_per_epoch"], "step": step, "cursor": cursor}
