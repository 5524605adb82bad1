"""Training and evaluation of a :class:`~qattn_hybrid.model.MultiTaskModel`.

    trainer = Trainer(load_config("configs/demo.toml"))
    result = trainer.fit()                  # or fit(resume=True) to continue the latest checkpoint
    result.test_metrics["clinc_intent"]["accuracy"]

One epoch: the task sampler draws ``steps_per_epoch`` (task, rows) batches; every
``tasks_per_step`` draws make one AdamW step whose task losses the loss weighting combines.
After each epoch: validation on every task, metrics appended to ``metrics.csv`` / ``metrics.json``,
a resumable checkpoint, the best model so far in ``best/``, and early stopping on the monitored
score. At the end the best model is evaluated on the test splits (``test_metrics.json``).

Output folder::

    run_config.json          the validated config of the run
    metrics.csv, metrics.json
    checkpoints/epoch-0003/  model (config.json + model.safetensors), optimizer.pt,
                             weighting.safetensors, rng.safetensors, trainer_state.json
    latest.json              {"checkpoint": "checkpoints/epoch-0003"}: the newest complete one
    best/                    the best model (MultiTaskModel.from_pretrained)
    test_metrics.json

Every file is written atomically (temporary name, then ``os.replace``); a checkpoint folder is
complete before it gets its final name and before ``latest.json`` points at it, so an
interruption never leaves a partial checkpoint as the latest. Loading reads JSON, safetensors
and ``torch.load(weights_only=True)`` only, and checks every file against the SHA-256 recorded
in ``trainer_state.json``.

Distributed: under ``torchrun`` (``qattn_hybrid.distributed.setup`` joins its process group)
each rank trains on its shard of every task (the sampler's rank / world_size), with
``training.batch_size`` the global batch (batch_size / world_size rows per rank and step, so a
run gives the same updates on any number of processes); the model is wrapped in DDP, train
losses are summed over ranks, evaluation is sharded and gathered, and only rank 0 writes files.
A run resumes with a different world size (same global batch).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from qattn_hybrid import distributed, selection
from qattn_hybrid.config import Config
from qattn_hybrid.data import TaskData, load_tasks
from qattn_hybrid.encoders import TextEncoder
from qattn_hybrid.files import atomic_directory, atomic_write_text
from qattn_hybrid.metrics import compute_metrics, task_metrics
from qattn_hybrid.model import (
    CheckpointError,
    MultiTaskModel,
    TaskInfo,
    read_json,
    read_safetensors,
    sha256_file,
)
from qattn_hybrid.sampling import TaskSampler, make_sampler
from qattn_hybrid.schedule import lr_factor
from qattn_hybrid.weighting import JacobianWeighting, make_weighting

__all__ = ["TrainResult", "Trainer", "evaluate", "seed_everything"]

log = logging.getLogger(__name__)
STATE_NAME = "trainer_state.json"
LATEST_NAME = "latest.json"


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    output_dir: Path
    best_epoch: int  # 1-based epoch of the best validation score
    best_score: float
    history: list = field(default_factory=list)  # one dict per epoch (see metrics.json)
    test_metrics: dict = field(default_factory=dict)  # task -> metric -> value
    stopped_early: bool = False


# --------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(model: MultiTaskModel, tasks: Mapping[str, TaskData], split: str = "validation",
             batch_size: int = 256) -> dict[str, dict[str, float]]:
    """Metrics (and mean loss) per task on ``split``; tasks without that split are skipped.

    Labels are matched to the model's label maps by name, so a model evaluates on any data
    whose labels it knows; an unknown label is a clear error.
    """
    was_training = model.training
    model.eval()
    results = {}
    try:
        for name, task in tasks.items():
            model.task_id(name)  # unknown task names raise, listing the model's tasks
            if split not in task.splits:
                continue
            results[name] = _evaluate_task(model, task, split, batch_size)
    finally:
        model.train(was_training)
    return results


def _evaluate_task(model: MultiTaskModel, task: TaskData, split: str,
                   batch_size: int) -> dict[str, float]:
    data = task.split(split)
    if len(data) == 0:
        raise ValueError(f"Task {task.name!r}: the {split} split must not be empty; got 0 rows")
    targets = _targets(model, task, data.labels)
    world = distributed.world_size() if len(data) >= distributed.world_size() else 1
    rank = distributed.rank() if world > 1 else 0
    texts, targets = data.texts[rank::world], targets[rank::world]  # this rank's share
    outputs, loss_sum = [], 0.0
    device = _device_of(model)
    for start in range(0, len(texts), batch_size):
        out = model(texts[start : start + batch_size], task.name)
        y = targets[start : start + batch_size].to(device)
        loss_sum += float(model.loss(out, y, task.name)) * len(y)
        outputs.append(out.logits.float().cpu())
    outputs = torch.cat(outputs)
    if world > 1:  # every rank gets every row's outputs: metrics like macro F1 need them all
        outputs, targets = distributed.gather_cat(outputs), distributed.gather_cat(targets)
        loss_sum = distributed.all_reduce_sums({"loss": loss_sum})["loss"]
    info = model.tasks[task.name]
    scores = compute_metrics(task_metrics(info.task_type, info.labels), outputs, targets)
    return {"loss": loss_sum / len(data), **scores}


def _targets(model: MultiTaskModel, task: TaskData, labels: torch.Tensor) -> torch.Tensor:
    """Data label ids -> the model's label ids (by label name)."""
    model.task_id(task.name)  # unknown task names raise here
    if model.tasks[task.name].task_type == "regression":
        return labels.float()
    if tuple(task.labels) == model.tasks[task.name].labels:
        return labels
    return model.label_ids([task.labels[i] for i in labels.tolist()], task.name)


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def primary_score(model: MultiTaskModel, metrics: Mapping[str, Mapping[str, float]],
                  monitor: str) -> float:
    """Higher-is-better selection score: one task's main metric, or the mean over tasks."""
    def score(task: str) -> float:
        info = model.tasks[task]
        metric = next(iter(task_metrics(info.task_type, info.labels).values()))
        value = metrics[task][metric.name]
        return value if metric.higher_is_better else -value

    if monitor == "mean":
        return float(np.mean([score(t) for t in metrics]))
    if monitor not in metrics:
        raise ValueError(f"training.monitor must be 'mean' or a task name; got {monitor!r} "
                         f"(tasks: {', '.join(metrics)})")
    return score(monitor)


# --------------------------------------------------------------------------- the trainer
class Trainer:
    """Fits a MultiTaskModel as a Config says; see the module docstring.

    ``tasks`` (loaded data) and ``encoder`` (a TextEncoder, e.g. a tiny one in tests) may be
    given; otherwise they are built from the config.
    """

    def __init__(self, config: Config, *, tasks: Mapping[str, TaskData] | None = None,
                 encoder: TextEncoder | None = None):
        self.config = config
        t = config.training
        self.dist = distributed.setup(t.device)  # torchrun's process group; no-op alone
        self.rank, self.world_size = self.dist.rank, self.dist.world_size
        self.output_dir = Path(config.training.output_dir)
        if t.num_threads is not None:
            torch.set_num_threads(t.num_threads)
        seed_everything(t.seed)
        self.tasks = dict(tasks) if tasks is not None else load_tasks(config.data.task_specs())
        _check_tasks(self.tasks)
        infos = [TaskInfo.from_data(task) for task in self.tasks.values()]
        self.model = MultiTaskModel(config.model, infos, encoder, cache_dir=config.data.cache_dir)
        self.model.metadata = {"data": dataclasses.asdict(config.data)}
        self.model.to(self.dist.device)
        self.weighting = make_weighting(config.weighting.method, list(self.tasks),
                                        **config.weighting.options).to(self.dist.device)
        self.net = distributed.wrap(self.model, self.dist)  # DDP when world_size > 1
        # DDP syncs one forward + one backward per step. torchjd's methods write .grad unseen by
        # its hooks, and several tasks per step mean several forwards: those run on the bare
        # model and their gradients are averaged over ranks by hand.
        self.sync_by_hand = (isinstance(self.weighting, JacobianWeighting)
                             or t.tasks_per_step > 1)
        self.optimizer = self._make_optimizer()
        self.sampler = self._make_sampler()
        self.steps_per_epoch = math.ceil(len(self.sampler) / t.tasks_per_step)  # optimizer steps
        self._step_in_epoch = 0
        self.epoch = 0  # epochs completed
        self.history: list[dict] = []
        self.best_score, self.best_epoch, self.bad_epochs = -math.inf, 0, 0

    # ---- construction
    def _make_optimizer(self) -> torch.optim.AdamW:
        t, model = self.config.training, self.model
        groups = [{"params": [p for n, p in model.named_parameters()
                              if not n.startswith("encoder.") and p.requires_grad],
                   "lr": t.lr, "weight_decay": t.weight_decay}]
        if model.encoder.finetune:
            groups.append({"params": [p for p in model.encoder.parameters() if p.requires_grad],
                           "lr": t.encoder_lr, "weight_decay": t.weight_decay})
        weighting_params = list(self.weighting.parameters())
        if weighting_params:
            groups.append({"params": weighting_params, "lr": t.lr, "weight_decay": 0.0})
        for group in groups:
            group["base_lr"] = group["lr"]  # the schedule scales this (see _schedule_lr)
        return torch.optim.AdamW(groups)

    def _make_sampler(self) -> TaskSampler:
        s, t = self.config.sampling, self.config.training
        sizes = {name: len(task.train) for name, task in self.tasks.items()}
        kwargs = {"temperature": s.temperature} if s.method == "temperature" else {}
        if t.batch_size % self.world_size:
            raise ValueError(f"training.batch_size (the global batch) must be divisible by the "
                             f"world size {self.world_size}; got {t.batch_size}")
        return make_sampler(s.method, sizes, t.batch_size // self.world_size, seed=t.seed,
                            steps_per_epoch=t.steps_per_epoch, rank=self.rank,
                            world_size=self.world_size, **kwargs)

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    def _progress(self) -> bool:
        wanted = self.config.training.progress
        return self.is_writer and (sys.stderr.isatty() if wanted is None else wanted)

    # ---- the loop
    def fit(self, resume: bool | str | os.PathLike = False,
            on_epoch_end: Callable[[int, dict], None] | None = None) -> TrainResult:
        """Train until ``training.epochs`` or early stopping; evaluate the best model on test.

        resume: True continues from ``output_dir/latest.json`` (fresh start when there is none);
        a path continues from that checkpoint folder. ``on_epoch_end(epoch, record)`` is called
        after each epoch's checkpoint is written.
        """
        if resume:
            self._resume(resume)
        if self.is_writer:
            atomic_write_text(self.output_dir / "run_config.json",
                              json.dumps(self.config.to_dict(), indent=2) + "\n")
        self._warm_cache()
        t = self.config.training
        if t.init_heads == "probe" and self.epoch == 0:  # LP-FT: heads start as the probes
            from qattn_hybrid.probe import init_heads_from_probe

            log.info("Heads initialised from the linear probe (C / alpha: %s)",
                     init_heads_from_probe(self))
        stopped = False
        while self.epoch < t.epochs and not stopped:
            record = self._train_epoch()
            stopped = self._end_epoch(record)
            if on_epoch_end is not None:
                on_epoch_end(self.epoch, record)
        return self._finish(stopped)

    def _warm_cache(self) -> None:
        """Frozen encoder: encode every text once, before the first step."""
        cache = self.model.encoder.cache
        if cache is None:
            return
        texts = [text for task in self.tasks.values() for split in task.splits.values()
                 for text in split.texts]
        if self.is_writer:
            log.info("Token features of %d texts: from the cache %s, else encoded once now",
                     len(set(texts)), cache.dir or "(in memory)")
        start = time.perf_counter()
        shared = self.world_size > 1 and cache.dir is not None
        if shared and not self.is_writer:  # rank 0 encodes and fills the disk cache first
            distributed.barrier()
            cache._load_shards()
        n = cache.warm(texts)
        if shared and self.is_writer:
            distributed.barrier()
        if n:
            log.info("Encoded %d texts in %.1f s (cached for later epochs)", n,
                     time.perf_counter() - start)

    def _train_epoch(self) -> dict:
        from tqdm.auto import tqdm

        t, model = self.config.training, self.model
        net = self.model if self.sync_by_hand else self.net
        model.train()
        start = time.perf_counter()
        sums: dict[str, list[float]] = {name: [0.0, 0] for name in self.tasks}
        bar = tqdm(total=len(self.sampler), desc=f"epoch {self.epoch + 1}/{t.epochs}",
                   disable=not self._progress(), leave=False, dynamic_ncols=True)
        group: list[tuple[str, torch.Tensor]] = []
        for task, indices in self.sampler:
            group.append((task, indices))
            if len(group) == t.tasks_per_step:
                self._step(net, group, sums)
                group = []
            bar.update(1)
            bar.set_postfix_str(f"{task} loss {sums[task][0] / max(sums[task][1], 1):.3f}")
        if group:
            self._step(net, group, sums)
        bar.close()
        distributed.average_buffers(self.weighting)  # e.g. DWA's loss sums: same on all ranks
        self.weighting.end_epoch()
        totals = distributed.all_reduce_sums(
            {f"{k}/{i}": v for k, pair in sums.items() for i, v in enumerate(pair)})
        train_loss = {k: totals[f"{k}/0"] / totals[f"{k}/1"] for k in sums if totals[f"{k}/1"]}
        return {"epoch": self.epoch + 1, "train_loss": train_loss,
                "seconds": time.perf_counter() - start}

    def _step(self, net: nn.Module, group: list[tuple[str, torch.Tensor]],
              sums: dict[str, list[float]]) -> None:
        """One optimizer step on a group of (task, rows) draws: per-task mean losses, weighted."""
        model, device = self.model, _device_of(self.model)
        per_task: dict[str, list[torch.Tensor]] = {}
        for task, indices in group:
            texts, labels = self.tasks[task].train.batch(indices)
            out = net(texts, task)
            loss = model.loss(out, _targets(model, self.tasks[task], labels).to(device), task)
            per_task.setdefault(task, []).append(loss)
        losses = {task: torch.stack(ls).mean() for task, ls in per_task.items()}
        self.optimizer.zero_grad(set_to_none=True)
        shared = [p for n, p in model.named_parameters() if not n.startswith("heads.")]
        heads = list(model.heads.parameters())
        self.weighting.backward(losses, shared, task_params=heads)
        by_hand = [*self.weighting.parameters(), *(model.parameters() if self.sync_by_hand else ())]
        distributed.average_grads(by_hand)  # DDP syncs the model's (unless sync_by_hand)
        if self.config.training.grad_clip is not None:
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.config.training.grad_clip)
        self._schedule_lr()
        self.optimizer.step()
        for task, loss in losses.items():
            sums[task][0] += float(loss.detach()) * len(per_task[task])
            sums[task][1] += len(per_task[task])

    def _schedule_lr(self) -> None:
        """Every group's lr = its base lr x the schedule's factor at this step (stateless)."""
        t = self.config.training
        step = self.epoch * self.steps_per_epoch + self._step_in_epoch
        factor = lr_factor(step, t.epochs * self.steps_per_epoch, t.warmup, t.schedule)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        self._step_in_epoch += 1

    def _end_epoch(self, record: dict) -> bool:
        """Validate, log, checkpoint; returns True when early stopping says stop."""
        t = self.config.training
        self.epoch += 1
        self._step_in_epoch = 0
        val = evaluate(self.model, self.tasks, "validation", t.eval_batch_size)
        if not val:  # no validation split anywhere: select on the training loss
            val = {k: {"loss": v} for k, v in record["train_loss"].items()}
            score = -float(np.mean(list(record["train_loss"].values())))
        else:
            score = primary_score(self.model, val, t.monitor)
        record.update({"validation": val, "score": score})
        self.history.append(record)
        improved = score > self.best_score
        if improved:
            self.best_score, self.best_epoch, self.bad_epochs = score, self.epoch, 0
        else:
            self.bad_epochs += 1
        if self.is_writer:
            _log_epoch(record, improved)
        if t.selection == "per_task":
            selection.save_improved(self, record)
        if self.is_writer:
            if improved:
                self.model.save_pretrained(self.output_dir / "best")
            self._write_metrics()
            self.save_checkpoint()
        distributed.barrier()
        return t.patience is not None and self.bad_epochs >= t.patience

    def _finish(self, stopped: bool) -> TrainResult:
        best = self.output_dir / "best"
        if self.best_epoch and (best / "model.safetensors").is_file():
            state = read_safetensors(best / "model.safetensors", device=_device_of(self.model))
            self.model._load_weights(state, best)
        test = evaluate(self.model, self.tasks, "test", self.config.training.eval_batch_size)
        extra = {}
        if self.config.training.selection == "per_task":  # each task with its own best epoch
            per_task, epochs = selection.test_per_task(self, evaluate)
            test, extra = {**test, **per_task}, {"best_epoch_per_task": epochs}
        if self.is_writer and test:
            atomic_write_text(self.output_dir / "test_metrics.json",
                              json.dumps({"best_epoch": self.best_epoch, **extra, "test": test},
                                         indent=2) + "\n")
        return TrainResult(self.output_dir, self.best_epoch, self.best_score, self.history, test,
                           stopped)

    # ---- metrics files
    def _write_metrics(self) -> None:
        rows = []
        for rec in self.history:
            for task, loss in rec["train_loss"].items():
                rows.append((rec["epoch"], "train", task, "loss", loss))
            for task, scores in rec["validation"].items():
                rows.extend((rec["epoch"], "validation", task, k, v) for k, v in scores.items())
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["epoch", "split", "task", "metric", "value"])
        writer.writerows(rows)
        atomic_write_text(self.output_dir / "metrics.csv", buf.getvalue())
        atomic_write_text(self.output_dir / "metrics.json",
                          json.dumps(self.history, indent=2, allow_nan=True) + "\n")

    # ---- checkpoints
    def save_checkpoint(self) -> Path:
        """Write ``checkpoints/epoch-NNNN`` completely, then point ``latest.json`` at it."""
        name = f"epoch-{self.epoch:04d}"
        final = self.output_dir / "checkpoints" / name
        with atomic_directory(final) as tmp:
            self.model.save_pretrained(tmp / "model")
            torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
            _save_tensors(dict(self.weighting.state_dict()), tmp / "weighting.safetensors")
            _save_tensors(_torch_rng_state(), tmp / "rng.safetensors")
            files = sorted(p for p in tmp.rglob("*") if p.is_file())
            state = {
                "epoch": self.epoch,
                "sampler": self.sampler.state_dict(),
                "history": self.history,
                "best_score": self.best_score,
                "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs,
                "python_rng": _python_rng_state(),
                "numpy_rng": _numpy_rng_state(),
                "world_size": self.world_size,
                "files": {str(p.relative_to(tmp)): sha256_file(p) for p in files},
            }
            (tmp / STATE_NAME).write_text(json.dumps(state, allow_nan=True) + "\n",
                                          encoding="utf-8")
        atomic_write_text(self.output_dir / LATEST_NAME,
                          json.dumps({"checkpoint": f"checkpoints/{name}",
                                      "epoch": self.epoch}) + "\n")
        self._prune_checkpoints()
        return final

    def _prune_checkpoints(self) -> None:
        folder = self.output_dir / "checkpoints"
        done = sorted(p for p in folder.glob("epoch-*") if p.is_dir())
        for old in done[: -self.config.training.keep_checkpoints]:
            _remove_tree(old)

    def _resume(self, resume: bool | str | os.PathLike) -> None:
        if resume is True:
            latest = self.output_dir / LATEST_NAME
            if not latest.exists():
                log.info("No checkpoint in %s: starting from scratch", self.output_dir)
                return
            folder = self.output_dir / read_json(latest, "latest-checkpoint pointer")["checkpoint"]
        else:
            folder = Path(resume)
        state = load_checkpoint_state(folder)
        model_state = read_safetensors(folder / "model" / "model.safetensors",
                                       device=_device_of(self.model))
        self.model._load_weights(model_state, folder / "model")
        try:
            self.optimizer.load_state_dict(
                torch.load(folder / "optimizer.pt", map_location=_device_of(self.model),
                           weights_only=True))
            self.weighting.load_state_dict(read_safetensors(folder / "weighting.safetensors"))
            self.sampler.load_state_dict(
                distributed.reshard_sampler_state(state["sampler"], self.sampler))
        except (ValueError, KeyError, RuntimeError) as err:
            raise CheckpointError(f"checkpoint {folder} does not fit this run: {err}") from None
        self.epoch, self.history = int(state["epoch"]), state["history"]
        self.best_score, self.best_epoch = float(state["best_score"]), int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        _set_rng_state(read_safetensors(folder / "rng.safetensors"), state)
        log.info("Resumed from %s (epoch %d)", folder, self.epoch)


def load_checkpoint_state(folder: str | os.PathLike) -> dict:
    """A checkpoint's trainer_state.json, after checking every file's SHA-256."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint {folder} does not exist")
    state = read_json(folder / STATE_NAME, "checkpoint state")
    required = ("epoch", "sampler", "history", "best_score", "best_epoch", "bad_epochs", "files")
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint state {folder / STATE_NAME} is incomplete: "
                              f"missing {missing}")
    for rel, digest in state["files"].items():
        path = folder / rel
        if not path.is_file():
            raise CheckpointError(f"checkpoint {folder} is incomplete: {rel} is missing")
        if sha256_file(path) != digest:
            raise CheckpointError(f"checkpoint file {path} is corrupt or truncated "
                                  "(SHA-256 differs from the one recorded when it was written)")
    return state


# --------------------------------------------------------------------------- helpers
def _check_tasks(tasks: Mapping[str, TaskData]) -> None:
    if not tasks:
        raise ValueError("tasks must hold at least one task; got none")
    for name, task in tasks.items():
        if len(task.train) == 0:
            raise ValueError(f"Task {name!r}: the train split must not be empty; got 0 rows")
        if "validation" not in task.splits and not task.spec.allow_no_validation:
            raise ValueError(
                f"Task {name!r}: the validation split must have rows (it picks the best epoch); "
                f"got none. Set validation_from_train = 0.1 in the task to carve one from train, "
                f"or allow_no_validation = true to train without one")


def _log_epoch(record: dict, improved: bool) -> None:
    parts = []
    for task, scores in record["validation"].items():
        main = {k: v for k, v in scores.items() if k != "loss"}
        parts.append(f"{task}: " + ", ".join(f"{k} {v:.3f}" for k, v in main.items()))
    log.info("epoch %d (%.1f s) score %.4f%s | %s", record["epoch"], record["seconds"],
             record["score"], " (best)" if improved else "", " | ".join(parts))


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path))


def _torch_rng_state() -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            state[f"cuda{i}"] = s
    return state


def _python_rng_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _numpy_rng_state() -> list:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _set_rng_state(tensors: dict[str, torch.Tensor], state: dict) -> None:
    torch.set_rng_state(tensors["cpu"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("cuda")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    if "python_rng" in state:
        version, internal, gauss = state["python_rng"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy_rng" in state:
        name, keys, pos, has_gauss, cached = state["numpy_rng"]
        np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
