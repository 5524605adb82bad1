"""qattn_hybrid: task-conditioned quantum attention for PyTorch multi-task models.

Importing the package prints nothing, downloads nothing and imports neither torch, PennyLane,
transformers nor any optional plugin: each public name is imported from its module on first
use (module ``__getattr__``), so ``qattn --help`` starts in a fraction of a second.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# public name -> the module that defines it
_EXPORTS = {
    "AttentionOutput": "qattn_hybrid.attention",
    "QuantumAttention": "qattn_hybrid.attention",
    "ClassicalAttention": "qattn_hybrid.baseline",
    "Config": "qattn_hybrid.config",
    "ConfigError": "qattn_hybrid.config",
    "load_config": "qattn_hybrid.config",
    "TaskSpec": "qattn_hybrid.taskspec",
    "load_tasks": "qattn_hybrid.data",
    "CheckpointError": "qattn_hybrid.model",
    "ModelOutput": "qattn_hybrid.model",
    "MultiTaskModel": "qattn_hybrid.model",
    "ClassificationTask": "qattn_hybrid.tasks",
    "RegressionTask": "qattn_hybrid.tasks",
    "Task": "qattn_hybrid.tasks",
    "register_task": "qattn_hybrid.tasks",
    "ClassicalSelfAttention": "qattn_hybrid.self_attention",
    "QuantumEncoderLayer": "qattn_hybrid.self_attention",
    "QuantumSelfAttention": "qattn_hybrid.self_attention",
    "SelfAttentionOutput": "qattn_hybrid.self_attention",
    "Trainer": "qattn_hybrid.training",
    "build_trainer": "qattn_hybrid.factory",
    "TrainResult": "qattn_hybrid.training",
    "evaluate": "qattn_hybrid.evaluation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'qattn_hybrid' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static analysers and IDEs see the real names
    from qattn_hybrid.attention import AttentionOutput, QuantumAttention  # noqa: F401
    from qattn_hybrid.baseline import ClassicalAttention  # noqa: F401
    from qattn_hybrid.config import Config, ConfigError, load_config  # noqa: F401
    from qattn_hybrid.data import load_tasks  # noqa: F401
    from qattn_hybrid.model import CheckpointError, ModelOutput, MultiTaskModel  # noqa: F401
    from qattn_hybrid.tasks import (ClassificationTask, RegressionTask, Task,  # noqa: F401
                                    register_task)
    from qattn_hybrid.taskspec import TaskSpec  # noqa: F401
    from qattn_hybrid.self_attention import (ClassicalSelfAttention,  # noqa: F401
                                             QuantumEncoderLayer, QuantumSelfAttention,
                                             SelfAttentionOutput)
    from qattn_hybrid.evaluation import evaluate  # noqa: F401
    from qattn_hybrid.training import Trainer, TrainResult  # noqa: F401
    from qattn_hybrid.factory import build_trainer  # noqa: F401
