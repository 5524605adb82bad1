"""Builds a :class:`~qattn_hybrid.training.trainer.Trainer` and each of its parts from a Config: the
one place a training run is assembled.

    trainer = build_trainer(load_config("configs/demo.toml"))   # data, model, ... from the config
    trainer = build_trainer(config, tasks=tasks, encoder=enc)   # loaded data / a shared encoder
    result = trainer.fit()

The trainer itself builds nothing; code that wants one part different builds the others here
and passes them all to ``Trainer(config, model=..., tasks=..., ...)``. Each ``build_*`` function
reads only its own config sections:

    build_model      [model] [data]      MultiTaskModel with one head per task
    build_weighting  [weighting]         LossWeighting from weighting.WEIGHTINGS
    build_optimizer  [training]          AdamW: the model's, the fine-tuned encoder's and the
                                         weighting's parameters, each group with its base lr
    build_sampler    [sampling] [training]  TaskSampler from sampling.SAMPLERS, this rank's shard
    tracking.make_tracker  [training]    the experiment tracker (training.tracking), rank 0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
from torch import nn

from qattn_hybrid.config.sections import Config, TrainingConfig
from qattn_hybrid.data.loading import TaskData, load_tasks
from qattn_hybrid.evaluation.probe import init_heads_from_probe
from qattn_hybrid.modeling.encoders import TextEncoder, token_lengths
from qattn_hybrid.modeling.model import MultiTaskModel
from qattn_hybrid.tasks.kinds import task_from_data
from qattn_hybrid.training.sampling import SAMPLERS, TaskSampler, make_sampler
from qattn_hybrid.training.tracking import make_tracker
from qattn_hybrid.training.trainer import Trainer, check_tasks, seed_everything
from qattn_hybrid.training.weighting import LossWeighting, make_weighting
from qattn_hybrid.utils import distributed

__all__ = ["build_model", "build_optimizer", "build_sampler", "build_trainer", "build_weighting"]


def build_trainer(config: Config, *, tasks: Mapping[str, TaskData] | None = None,
                  encoder: TextEncoder | None = None) -> Trainer:
    """A Trainer with every part built from ``config``.

    ``tasks`` (loaded data) and ``encoder`` (a TextEncoder, e.g. one shared by several runs or a
    tiny one in tests) may be given; otherwise they are loaded as the config says. Joins
    torchrun's process group (a no-op in one process) and seeds every generator first, so the
    same config builds the same model.
    """
    t = config.training
    dist = distributed.setup(t.torch_device)  # torchrun's process group; no-op alone
    if t.num_threads is not None:
        torch.set_num_threads(t.num_threads)
    seed_everything(t.seed)
    tasks = dict(tasks) if tasks is not None else load_tasks(config.data.task_specs())
    check_tasks(tasks)
    model = build_model(config, tasks, encoder).to(dist.device)
    weighting = build_weighting(config, tasks).to(dist.device)
    return Trainer(config, model=model, tasks=tasks, weighting=weighting,
                   optimizer=build_optimizer(t, model, weighting),
                   sampler=build_sampler(config, tasks, dist.rank, dist.world_size, model.encoder),
                   dist=dist,
                   init_heads=init_heads_from_probe if t.init_heads == "probe" else None,
                   tracker=make_tracker(t, writer=dist.is_main))


def build_model(config: Config, tasks: Mapping[str, TaskData],
                encoder: TextEncoder | None = None) -> MultiTaskModel:
    """The model of ``config.model`` with one head per task; it records ``config.data``."""
    infos = [task_from_data(task) for task in tasks.values()]
    model = MultiTaskModel(config.model, infos, encoder, cache_dir=config.data.cache_dir)
    model.metadata = {"data": dataclasses.asdict(config.data)}
    return model


def build_weighting(config: Config, tasks: Mapping[str, TaskData] | list[str]) -> LossWeighting:
    """``weighting.method`` over the tasks, with ``weighting.options``."""
    w = config.weighting
    return make_weighting(w.method, list(tasks), **w.options)


def build_optimizer(training: TrainingConfig, model: nn.Module,
                    weighting: LossWeighting | None = None) -> torch.optim.AdamW:
    """AdamW over the trainable parameters: the model's (lr; the heads' head_lr and
    head_weight_decay when set), a fine-tuned encoder's
    (encoder_lr) and the weighting's (lr, no weight decay). Each group keeps its ``base_lr``,
    which the trainer's schedule scales."""
    t = training
    trainable = [(n, p) for n, p in model.named_parameters()
                 if not n.startswith("encoder.") and p.requires_grad]
    own = t.head_lr is not None or t.head_weight_decay is not None  # heads: a group of their own
    groups = [{"params": [p for n, p in trainable if not (own and n.startswith("heads."))],
               "lr": t.lr, "weight_decay": t.weight_decay}]
    if own:
        groups.append({"params": [p for n, p in trainable if n.startswith("heads.")],
                       "lr": t.lr if t.head_lr is None else t.head_lr,
                       "weight_decay": t.weight_decay if t.head_weight_decay is None
                       else t.head_weight_decay})
    if model.encoder.finetune:
        groups.append({"params": [p for p in model.encoder.parameters() if p.requires_grad],
                       "lr": t.encoder_lr, "weight_decay": t.weight_decay})
    weighting_params = list(weighting.parameters()) if weighting is not None else []
    if weighting_params:
        groups.append({"params": weighting_params, "lr": t.lr, "weight_decay": 0.0})
    for group in groups:
        group["base_lr"] = group["lr"]
    return torch.optim.AdamW(groups)


def build_sampler(config: Config, tasks: Mapping[str, TaskData], rank: int = 0,
                  world_size: int = 1, encoder=None) -> TaskSampler:
    """``sampling.method`` over the tasks' train rows: ``training.batch_size`` is the global
    batch (batch_size / world_size rows per rank and step); the options the sampler class names
    (``TaskSampler.options``, e.g. ``temperature``) come from the ``[sampling]`` table. With a
    fine-tuned ``encoder`` and ``training.length_buckets``, batches hold rows of similar token
    counts (little padding per step)."""
    s, t = config.sampling, config.training
    if t.batch_size % world_size:
        raise ValueError(f"training.batch_size (the global batch) must be divisible by the "
                         f"world size {world_size}; got {t.batch_size}")
    sizes = {name: len(task.train) for name, task in tasks.items()}
    options = {name: getattr(s, name) for name in SAMPLERS.get(s.method, TaskSampler).options}
    if encoder is not None and encoder.finetune and t.length_buckets:
        options.update(length_buckets=t.length_buckets, lengths={
            name: token_lengths(encoder.tokenizer, task.train.texts, encoder.max_length)
            for name, task in tasks.items()})
    return make_sampler(s.method, sizes, t.batch_size // world_size, seed=t.seed,
                        steps_per_epoch=t.steps_per_epoch, rank=rank, world_size=world_size,
                        **options)
