"""qattn_hybrid: task-conditioned quantum attention for PyTorch multi-task models.

Importing the package prints nothing, downloads nothing and imports neither transformers nor
any optional PennyLane plugin; those load when first used.
"""

from qattn_hybrid.attention import AttentionOutput, QuantumAttention
from qattn_hybrid.baseline import ClassicalAttention
from qattn_hybrid.config import Config, ConfigError, load_config
from qattn_hybrid.data import TaskSpec, load_tasks
from qattn_hybrid.model import CheckpointError, ModelOutput, MultiTaskModel, TaskInfo
from qattn_hybrid.self_attention import (ClassicalSelfAttention, QuantumEncoderLayer,
                                         QuantumSelfAttention, SelfAttentionOutput)
from qattn_hybrid.training import Trainer, TrainResult, evaluate

__all__ = [
    "AttentionOutput",
    "CheckpointError",
    "ClassicalAttention",
    "ClassicalSelfAttention",
    "Config",
    "ConfigError",
    "ModelOutput",
    "MultiTaskModel",
    "QuantumAttention",
    "QuantumEncoderLayer",
    "QuantumSelfAttention",
    "SelfAttentionOutput",
    "TaskInfo",
    "TaskSpec",
    "TrainResult",
    "Trainer",
    "evaluate",
    "load_config",
    "load_tasks",
]
