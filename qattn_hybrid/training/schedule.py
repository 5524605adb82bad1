"""Learning-rate schedules: a factor of the base learning rate at each optimizer step.

    factor = lr_factor(step, total_steps, warmup=0.1, kind="cosine")

Linear warm-up from ~0 to 1 over the first ``warmup`` fraction of the steps, then ``cosine``
decay to 0 at ``total_steps``, ``linear`` decay to 0, or ``constant``. The factor is a pure
function of the step, so a resumed run (which knows its epoch) continues the same schedule
without any saved scheduler state.
"""

from __future__ import annotations

import math

__all__ = ["SCHEDULES", "lr_factor"]

SCHEDULES = ("cosine", "linear", "constant")


def lr_factor(step: int, total_steps: int, warmup: float = 0.0, kind: str = "cosine") -> float:
    """Multiplier of the base learning rate for 0-based optimizer ``step`` of ``total_steps``."""
    if kind not in SCHEDULES:
        raise ValueError(f"kind must be one of {', '.join(map(repr, SCHEDULES))}; got {kind!r}")
    if not 0.0 <= warmup < 1.0:
        raise ValueError(f"warmup must be in [0, 1); got {warmup!r}")
    total_steps = max(int(total_steps), 1)
    n_warm = int(round(warmup * total_steps))
    if step < n_warm:
        return (step + 1) / n_warm
    if kind == "constant":
        return 1.0
    progress = min((step - n_warm) / max(total_steps - n_warm, 1), 1.0)  # 0 .. 1
    if kind == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))
