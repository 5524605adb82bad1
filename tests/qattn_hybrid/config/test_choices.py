"""The light name lists equal the registries' built-ins; configs are checked against them
without importing torch; names registered at run time are accepted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qattn_hybrid.config import choices
from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.config.sections import Config

ROOT = Path(__file__).resolve().parents[3]


def builtins(registry: dict, module: str) -> set[str]:
    """The entries a registry module defines itself (not ones registered at run time)."""
    return {name for name, entry in registry.items() if entry.__module__ == module}


def test_the_lists_equal_the_registries():
    from qattn_hybrid.layers.mixer import MIXERS
    from qattn_hybrid.layers.registry import ATTENTIONS
    from qattn_hybrid.tasks.kinds import TASKS
    from qattn_hybrid.training.sampling import SAMPLERS
    from qattn_hybrid.training.tracking import TRACKERS
    from qattn_hybrid.training.weighting import WEIGHTINGS

    assert builtins(ATTENTIONS, "qattn_hybrid.layers.registry") == set(choices.ATTENTION_KINDS)
    assert builtins(WEIGHTINGS, "qattn_hybrid.training.weighting") == set(choices.WEIGHTING_METHODS)
    assert builtins(SAMPLERS, "qattn_hybrid.training.sampling") == set(choices.SAMPLING_METHODS)
    assert builtins(TASKS, "qattn_hybrid.tasks.kinds") == set(choices.TASK_TYPES)
    assert builtins(TRACKERS, "qattn_hybrid.training.tracking") == set(choices.TRACKERS)
    assert builtins(MIXERS, "qattn_hybrid.layers.mixer") == set(choices.MIXER_KINDS)


@pytest.mark.parametrize(("section", "kind"), [
    ("model.attention", "attention"), ("weighting.method", "weighting"),
    ("sampling.method", "sampling")])
def test_the_config_refuses_unknown_names_listing_the_choices(section, kind):
    table, field = section.split(".")
    first = repr(choices.choices(kind)[0])
    with pytest.raises(ConfigError, match=rf"{table}\.{field} must be one of {first}, .*; "
                                          r"got 'nope'"):
        Config.from_dict({table: {field: "nope"}})


def test_every_listed_name_is_accepted():
    for attention in choices.ATTENTION_KINDS:
        Config.from_dict({"model": {"attention": attention}})
    for method in choices.WEIGHTING_METHODS:
        Config.from_dict({"weighting": {"method": method}})
    for method in choices.SAMPLING_METHODS:
        Config.from_dict({"sampling": {"method": method}})
    for mixer in choices.MIXER_KINDS:
        Config.from_dict({"model": {"mixer": mixer}})


def test_run_time_registrations_count_once_the_registry_is_imported(monkeypatch):
    from qattn_hybrid.training.weighting import WEIGHTINGS, EqualWeighting

    assert "mine" not in choices.choices("weighting")
    monkeypatch.setitem(WEIGHTINGS, "mine", EqualWeighting)
    assert choices.choices("weighting")[-1] == "mine"
    Config.from_dict({"weighting": {"method": "mine"}})


def test_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of 'attention', 'weighting', "
                                         "'sampling', 'task', 'tracking', 'mixer'; got 'loss'"):
        choices.choices("loss")


def test_the_names_import_nothing_heavy():
    """What config validation asks for loads neither torch nor a registry module."""
    code = ("import sys\nfrom qattn_hybrid.config.choices import choices\n"
            "names = [choices(k) for k in ('attention', 'weighting', 'sampling', 'task', 'mixer')]\n"
            "light = {'qattn_hybrid.config.choices', 'qattn_hybrid.moved', 'qattn_hybrid.utils.lazy'}\n"
            "print('HEAVY', [m for m in sys.modules if m in ('torch', 'pennylane', 'numpy') "
            "or m.startswith('circuits') or m.startswith('qattn_hybrid.') and m.count('.') > 1 "
            "and m not in light])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout
