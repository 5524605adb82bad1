"""qattn_hybrid: task-conditioned quantum attention for PyTorch multi-task models."""

from qattn_hybrid.attention import AttentionOutput, QuantumAttention

__all__ = ["AttentionOutput", "QuantumAttention"]
