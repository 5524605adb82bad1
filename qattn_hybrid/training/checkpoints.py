"""A training run's folder: resumable checkpoints, the ``latest.json`` pointer, pruning, and
the rule that a new run never writes over an old one.

    checkpoints/epoch-0003/  model/ (a saved MultiTaskModel), optimizer.pt,
                             weighting.safetensors, rng.safetensors, trainer_state.json
    latest.json              {"checkpoint": "checkpoints/epoch-0003", "epoch": 3}

Order of a save, so that ``latest.json`` only ever names an existing, complete checkpoint
(a ``kill -9`` at any moment leaves a resumable run):

1. the checkpoint is written in a temporary folder, every file's SHA-256 recorded in
   ``trainer_state.json``, and the folder renamed to ``checkpoints/epoch-NNNN``;
2. ``latest.json`` is replaced atomically to point at it;
3. only then are older checkpoints pruned, by epoch *number*: the ``keep_checkpoints`` newest
   at or below the current epoch stay; any above it belong to an abandoned timeline.

Loading reads JSON, safetensors and ``torch.load(weights_only=True)`` only, and checks every
file against its recorded SHA-256 first.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import uuid
from pathlib import Path

import numpy as np
import torch

from qattn_hybrid.utils.files import (
    CheckpointError,
    atomic_directory,
    atomic_write_text,
    read_json,
    read_safetensors,
    recover_directory,
    sha256_file,
)
from qattn_hybrid.utils.manifest import check_finite

__all__ = ["LATEST_NAME", "STATE_NAME", "RUN_FILES", "checkpoint_epoch", "latest_checkpoint",
           "describe_output_dir", "load_checkpoint_state", "prepare_output_dir",
           "prune_checkpoints", "restore", "save"]

log = logging.getLogger(__name__)
STATE_NAME = "trainer_state.json"
LATEST_NAME = "latest.json"
CHECKPOINTS_DIR = "checkpoints"
# What a run writes into its output folder (removed by overwrite=True; nothing else is).
RUN_FILES = ("run_config.json", "metrics.csv", "metrics.json", LATEST_NAME, "test_metrics.json",
             "training_curves.png", "best", CHECKPOINTS_DIR,
             "tensorboard")  # tracking.DEFAULT_DIR_NAME: the default tracking_dir
_EPOCH = re.compile(r"^epoch-(\d+)$")
_LEFTOVER = re.compile(r"^\.(tmp|old)-")  # temporaries of an interrupted atomic write


# --------------------------------------------------------------------------- the run folder
def prepare_output_dir(output_dir: str | os.PathLike, *, resume: bool, overwrite: bool) -> None:
    """Refuse to start a new run in a non-empty folder unless told to resume or overwrite.

    resume: continue what is there (nothing is checked). overwrite: remove the files of the
    previous run (:data:`RUN_FILES` and temporaries) and start over; other files are kept.
    """
    describe_output_dir(output_dir, resume=resume, overwrite=overwrite)
    output_dir = Path(output_dir)
    if overwrite and not resume and output_dir.is_dir():
        for entry in output_dir.iterdir():
            if entry.name in RUN_FILES or _LEFTOVER.match(entry.name):
                _remove(entry)


def describe_output_dir(output_dir: str | os.PathLike, *, resume: bool, overwrite: bool) -> str:
    """What a run would do with ``output_dir`` (one line); ValueError where it would refuse."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"training.output_dir must be a folder; got {output_dir}, which is "
                         "a file")
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other; got both (--resume "
                         "continues the run in training.output_dir, --overwrite replaces it)")
    entries = sorted(p.name for p in output_dir.iterdir()) if output_dir.is_dir() else []
    if resume:
        latest = latest_checkpoint(output_dir) if entries else None
        return (f"{output_dir}: resume from {latest}" if latest is not None
                else f"{output_dir}: no checkpoint yet, so a fresh start")
    if not entries:
        return f"{output_dir}: a new run"
    if overwrite:
        run = [e for e in entries if e in RUN_FILES or _LEFTOVER.match(e)]
        return f"{output_dir}: a new run, replacing {', '.join(run) or 'nothing'}"
    shown = ", ".join(entries[:6]) + (", ..." if len(entries) > 6 else "")
    raise ValueError(f"training.output_dir must be empty or new for a fresh run; got "
                     f"{output_dir}, which holds {shown}. Pass --resume (fit(resume=True)) to "
                     f"continue the run there, or --overwrite (fit(overwrite=True)) to replace "
                     f"it, or choose another --output-dir")


def checkpoint_epoch(path: Path) -> int | None:
    """The epoch number of a ``checkpoints/epoch-NNNN`` folder name; None for other names."""
    match = _EPOCH.match(path.name)
    return int(match.group(1)) if match else None


def latest_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The folder ``latest.json`` names; None when there is no pointer yet."""
    latest = Path(output_dir) / LATEST_NAME
    if not latest.exists():
        return None
    pointer = read_json(latest, "latest-checkpoint pointer")
    if not isinstance(pointer.get("checkpoint"), str):
        raise CheckpointError(f"latest-checkpoint pointer {latest} must name a checkpoint "
                              f"folder; got {pointer!r}")
    return Path(output_dir) / pointer["checkpoint"]


# --------------------------------------------------------------------------- save
def save(trainer) -> Path:
    """Write ``checkpoints/epoch-NNNN`` completely, point ``latest.json`` at it, then prune."""
    name = f"epoch-{trainer.epoch:04d}"
    final = trainer.output_dir / CHECKPOINTS_DIR / name
    with atomic_directory(final) as tmp:
        trainer.model.save_pretrained(tmp / "model")
        torch.save(trainer.optimizer.state_dict(), tmp / "optimizer.pt")
        _save_tensors(dict(trainer.weighting.state_dict()), tmp / "weighting.safetensors")
        _save_tensors(_torch_rng_state(), tmp / "rng.safetensors")
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        state = {
            "epoch": trainer.epoch,
            "sampler": trainer.sampler.state_dict(),
            "history": trainer.history,
            "best_score": trainer.best_score,
            "best_epoch": trainer.best_epoch,
            "bad_epochs": trainer.bad_epochs,
            "python_rng": _python_rng_state(),
            "numpy_rng": _numpy_rng_state(),
            "world_size": trainer.world_size,
            "files": {p.relative_to(tmp).as_posix(): sha256_file(p) for p in files},
        }
        (tmp / STATE_NAME).write_text(json.dumps(state, allow_nan=True) + "\n",
                                      encoding="utf-8")
    atomic_write_text(trainer.output_dir / LATEST_NAME,
                      json.dumps({"checkpoint": f"{CHECKPOINTS_DIR}/{name}",
                                  "epoch": trainer.epoch}) + "\n")
    prune_checkpoints(trainer.output_dir, trainer.epoch, trainer.config.training.keep_checkpoints)
    return final


def prune_checkpoints(output_dir: str | os.PathLike, epoch: int, keep: int) -> None:
    """Keep the ``keep`` newest checkpoints at or below ``epoch`` (by number); remove the rest
    and the temporaries of interrupted writes. The one ``latest.json`` names is always kept."""
    folder = Path(output_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return
    latest = latest_checkpoint(output_dir)
    numbered = [(checkpoint_epoch(p), p) for p in folder.iterdir() if p.is_dir()]
    current = sorted((n, p) for n, p in numbered if n is not None and n <= epoch)
    keep_paths = {p for _, p in current[-keep:]}
    if latest is not None:
        keep_paths.add(latest)
    for n, path in numbered:
        if path in keep_paths:
            continue
        if n is not None or _LEFTOVER.match(path.name):
            _remove(path)


# --------------------------------------------------------------------------- load
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


def restore(trainer, resume: bool | str | os.PathLike) -> None:
    """Load the model, optimizer, weighting, sampler, history and RNGs of a checkpoint:
    ``resume=True`` the one ``latest.json`` names (none yet: a fresh start), or a folder."""
    recover_directory(trainer.output_dir / "best")  # killed between its two renames
    if resume is True:
        folder = latest_checkpoint(trainer.output_dir)
        if folder is None:
            log.info("No checkpoint in %s: starting from scratch", trainer.output_dir)
            return
    else:
        folder = Path(resume)
    state = load_checkpoint_state(folder)
    device = next(trainer.model.parameters()).device
    model_state = read_safetensors(folder / "model" / "model.safetensors", device=device)
    check_finite(model_state, folder / "model" / "model.safetensors")
    trainer.model.load_weights(model_state, folder / "model")
    try:
        trainer.optimizer.load_state_dict(
            torch.load(folder / "optimizer.pt", map_location=device, weights_only=True))
        trainer.weighting.load_state_dict(read_safetensors(folder / "weighting.safetensors"))
        from qattn_hybrid.utils import distributed

        trainer.sampler.load_state_dict(
            distributed.reshard_sampler_state(state["sampler"], trainer.sampler))
    except (ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint {folder} does not fit this run: {err}") from None
    trainer.epoch, trainer.history = int(state["epoch"]), state["history"]
    trainer.best_score, trainer.best_epoch = float(state["best_score"]), int(state["best_epoch"])
    trainer.bad_epochs = int(state["bad_epochs"])
    _set_rng_state(read_safetensors(folder / "rng.safetensors"), state)
    log.info("Resumed from %s (epoch %d)", folder, trainer.epoch)


# --------------------------------------------------------------------------- helpers
def _remove(path: Path) -> None:
    """Delete a file, or a folder by renaming it to a temporary name first: a process killed
    mid-delete leaves a ``.old-*`` leftover (removed later), never a half-deleted checkpoint
    under its final name."""
    if path.is_dir() and not path.is_symlink():
        if not _LEFTOVER.match(path.name):
            aside = path.with_name(f".old-{path.name}-{uuid.uuid4().hex[:8]}")
            os.replace(path, aside)
            path = aside
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


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
