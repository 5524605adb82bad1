"""qattn_hybrid: task-conditioned quantum attention for PyTorch multi-task models.

The library in subpackages, each importing only those above it in this list:

    utils/       files, integrity, processes, progress
    tasks/       task types and their metrics
    config/      the run configuration (TOML into checked dataclasses), without torch
    data/        bundled datasets, rows read and split, tasks loaded
    layers/      attention pooling: quantum, classical, self-attention, folding
    modeling/    the multi-task model and its text encoders
    evaluation/  evaluation, the probe, ranking, attention over words, plots
    training/    the trainer and its parts (sampling, weighting, checkpoints, ...)
    serving/     export, ``qattn serve``, ``qattn monitor``
    cli/         the ``qattn`` command line

The circuits themselves are the sibling package ``circuits`` (PennyLane only), which never
imports this one. Importing the package prints nothing, downloads nothing and imports neither
torch, PennyLane, transformers nor any optional plugin: each public name is imported from its
module on first use, so ``qattn --help`` starts in a fraction of a second. The flat module
names of earlier releases (``qattn_hybrid.attention``, ...) still import, with a
DeprecationWarning (:mod:`qattn_hybrid.moved`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qattn_hybrid import moved
from qattn_hybrid.utils.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "AttentionOutput": "qattn_hybrid.layers.common",
    "QuantumAttention": "qattn_hybrid.layers.quantum",
    "ClassicalAttention": "qattn_hybrid.layers.classical",
    "ClassicalSelfAttention": "qattn_hybrid.layers.self_attention",
    "QuantumEncoderLayer": "qattn_hybrid.layers.self_attention",
    "QuantumSelfAttention": "qattn_hybrid.layers.self_attention",
    "SelfAttentionOutput": "qattn_hybrid.layers.self_attention",
    "Config": "qattn_hybrid.config.sections",
    "ConfigError": "qattn_hybrid.config.checks",
    "load_config": "qattn_hybrid.config.sections",
    "TaskSpec": "qattn_hybrid.config.taskspec",
    "load_tasks": "qattn_hybrid.data.loading",
    "CheckpointError": "qattn_hybrid.utils.files",
    "ModelOutput": "qattn_hybrid.modeling.model",
    "MultiTaskModel": "qattn_hybrid.modeling.model",
    "ClassificationTask": "qattn_hybrid.tasks.kinds",
    "RegressionTask": "qattn_hybrid.tasks.kinds",
    "Task": "qattn_hybrid.tasks.kinds",
    "register_task": "qattn_hybrid.tasks.kinds",
    "Trainer": "qattn_hybrid.training.trainer",
    "TrainResult": "qattn_hybrid.training.trainer",
    "build_trainer": "qattn_hybrid.training.factory",
    "evaluate": "qattn_hybrid.evaluation.evaluator",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
moved.install()

if TYPE_CHECKING:  # static analysers and IDEs see the real names
    from qattn_hybrid.config.checks import ConfigError  # noqa: F401
    from qattn_hybrid.config.sections import Config, load_config  # noqa: F401
    from qattn_hybrid.config.taskspec import TaskSpec  # noqa: F401
    from qattn_hybrid.data.loading import load_tasks  # noqa: F401
    from qattn_hybrid.evaluation.evaluator import evaluate  # noqa: F401
    from qattn_hybrid.layers.classical import ClassicalAttention  # noqa: F401
    from qattn_hybrid.layers.common import AttentionOutput  # noqa: F401
    from qattn_hybrid.layers.quantum import QuantumAttention  # noqa: F401
    from qattn_hybrid.layers.self_attention import (ClassicalSelfAttention,  # noqa: F401
                                                    QuantumEncoderLayer, QuantumSelfAttention,
                                                    SelfAttentionOutput)
    from qattn_hybrid.modeling.model import ModelOutput, MultiTaskModel  # noqa: F401
    from qattn_hybrid.tasks.kinds import (ClassificationTask, RegressionTask, Task,  # noqa: F401
                                          register_task)
    from qattn_hybrid.training.factory import build_trainer  # noqa: F401
    from qattn_hybrid.training.trainer import Trainer, TrainResult  # noqa: F401
    from qattn_hybrid.utils.files import CheckpointError  # noqa: F401
