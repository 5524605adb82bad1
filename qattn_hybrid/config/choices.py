"""The names of every pluggable part, importable without torch (``qattn --help`` and config
validation stay light):

    ATTENTION_KINDS    qattn_hybrid.layers.registry.ATTENTIONS     (model.attention)
    WEIGHTING_METHODS  qattn_hybrid.training.weighting.WEIGHTINGS  (weighting.method)
    SAMPLING_METHODS   qattn_hybrid.training.sampling.SAMPLERS     (sampling.method)
    TASK_TYPES         qattn_hybrid.tasks.kinds.TASKS              (data.tasks[].task_type)
    TRACKERS           qattn_hybrid.training.tracking.TRACKERS     (training.tracking)
    MIXER_KINDS        qattn_hybrid.layers.mixer.MIXERS            (model.mixer)

Each registry's built-in entries (those its own module defines) equal its tuple here
(tests/qattn_hybrid/config/test_choices.py), so a new built-in is one registry entry plus one name.
:func:`choices` adds whatever was registered at run time (``register_attention("mine")``) once
the registry module has been imported, so a config may name it.
"""

from __future__ import annotations

import sys

__all__ = ["ATTENTION_KINDS", "MIXER_KINDS", "SAMPLING_METHODS", "TASK_TYPES", "TRACKERS",
           "WEIGHTING_METHODS", "choices"]

ATTENTION_KINDS = ("quantum", "classical", "quantum_self", "mean")
WEIGHTING_METHODS = ("equal", "uncertainty", "dwa", "gradnorm", "pcgrad", "upgrad", "mgda",
                     "imtl_g", "aligned_mtl", "dualproj", "graddrop", "cagrad")
SAMPLING_METHODS = ("proportional", "temperature", "round_robin")
TASK_TYPES = ("classification", "regression")
TRACKERS = ("tensorboard",)  # experiment tracking (issue 21); None: off
MIXER_KINDS = ("bigru",)  # token mixers before the attention; None: none

# kind -> (built-in names, the module holding the registry, the registry's name there)
REGISTRIES = {
    "attention": (ATTENTION_KINDS, "qattn_hybrid.layers.registry", "ATTENTIONS"),
    "weighting": (WEIGHTING_METHODS, "qattn_hybrid.training.weighting", "WEIGHTINGS"),
    "sampling": (SAMPLING_METHODS, "qattn_hybrid.training.sampling", "SAMPLERS"),
    "task": (TASK_TYPES, "qattn_hybrid.tasks.kinds", "TASKS"),
    "tracking": (TRACKERS, "qattn_hybrid.training.tracking", "TRACKERS"),
    "mixer": (MIXER_KINDS, "qattn_hybrid.layers.mixer", "MIXERS"),
}


def choices(kind: str) -> tuple[str, ...]:
    """The names a config may use for ``kind`` ("attention", "weighting", "sampling", "task",
    "tracking" or "mixer"): the built-ins, then any registered at run time (only if the
    registry is already imported: this never imports torch)."""
    if kind not in REGISTRIES:
        raise ValueError(f"kind must be one of {', '.join(map(repr, REGISTRIES))}; got {kind!r}")
    builtin, module, name = REGISTRIES[kind]
    registry = getattr(sys.modules.get(module), name, {})
    return (*builtin, *(n for n in registry if n not in builtin))
