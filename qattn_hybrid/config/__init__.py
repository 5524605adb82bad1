"""Run configuration: a TOML file read into checked dataclasses, importable without torch.

    sections.py  the sections ([model], [data], [training], ...), :class:`Config`,
                 :func:`load_config`
    checks.py    the checks behind the fields, and :class:`ConfigError`
    circuit.py   ``[model.circuit]``: where the circuit sits in a config
    choices.py   the names of every pluggable part (attention kinds, weightings, samplers, ...)
    taskspec.py  :class:`TaskSpec`: where a task's data comes from
    presets.py   the built-in tasks on the bundled data
"""

from __future__ import annotations

from qattn_hybrid.utils.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "Bounds": "qattn_hybrid.config.checks",
    "ConfigError": "qattn_hybrid.config.checks",
    "bounded": "qattn_hybrid.config.checks",
    "check_bounds": "qattn_hybrid.config.checks",
    "check_choice": "qattn_hybrid.config.checks",
    "check_nonempty": "qattn_hybrid.config.checks",
    "check_range": "qattn_hybrid.config.checks",
    "check_types": "qattn_hybrid.config.checks",
    "moved_notes": "qattn_hybrid.config.checks",
    "reject_moved": "qattn_hybrid.config.checks",
    "reject_unknown": "qattn_hybrid.config.checks",
    "ATTENTION_KINDS": "qattn_hybrid.config.choices",
    "MIXER_KINDS": "qattn_hybrid.config.choices",
    "SAMPLING_METHODS": "qattn_hybrid.config.choices",
    "TASK_TYPES": "qattn_hybrid.config.choices",
    "TRACKERS": "qattn_hybrid.config.choices",
    "WEIGHTING_METHODS": "qattn_hybrid.config.choices",
    "MOVED_KEYS": "qattn_hybrid.config.circuit",
    "circuit_from_table": "qattn_hybrid.config.circuit",
    "circuit_table": "qattn_hybrid.config.circuit",
    "execution_from_table": "qattn_hybrid.config.circuit",
    "moved_keys": "qattn_hybrid.config.circuit",
    "DATASETS_DIR": "qattn_hybrid.config.presets",
    "MAMS_ASPECTS": "qattn_hybrid.config.presets",
    "PRESETS": "qattn_hybrid.config.presets",
    "get_preset": "qattn_hybrid.config.presets",
    "resolve_data_file": "qattn_hybrid.config.presets",
    "Config": "qattn_hybrid.config.sections",
    "DataConfig": "qattn_hybrid.config.sections",
    "ModelConfig": "qattn_hybrid.config.sections",
    "SamplingConfig": "qattn_hybrid.config.sections",
    "TrainingConfig": "qattn_hybrid.config.sections",
    "WeightingConfig": "qattn_hybrid.config.sections",
    "load_config": "qattn_hybrid.config.sections",
    "validate_section": "qattn_hybrid.config.sections",
    "TaskSpec": "qattn_hybrid.config.taskspec",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
