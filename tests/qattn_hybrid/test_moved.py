"""The flat module names of earlier releases still import, warn, and give the same objects."""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path

import pytest

import qattn_hybrid
from qattn_hybrid.moved import MOVED

PACKAGE = Path(qattn_hybrid.__file__).parent

# The public names (``__all__``) of the old flat modules whose names are now packages, as they
# were before the move: each package must still export every one of them.
OLD_API = {
    "config": ["Config", "ConfigError", "DataConfig", "ModelConfig", "SamplingConfig",
               "TrainingConfig", "WeightingConfig", "load_config", "moved_keys",
               "validate_section"],
    "data": ["DATASETS_DIR", "PRESETS", "TaskData", "TaskSpec", "TaskSplit", "get_preset",
             "load_task", "load_tasks", "resolve_data_file"],
    "tasks": ["TASKS", "ClassificationTask", "RegressionTask", "Task", "register_task",
              "task_class", "task_from_data", "task_from_dict"],
    "training": ["OptimizerBuilder", "TrainResult", "Trainer", "check_tasks", "evaluate",
                 "seed_everything"],
    "evaluation": ["device_of", "evaluate", "evaluate_task", "model_targets", "primary_score"],
    "cli": ["main", "build_parser"],
}


def fresh_import(name: str):
    """Import ``name`` as a first import would (the old name dropped from sys.modules)."""
    sys.modules.pop(name, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(name)
    return module, [w for w in caught if issubclass(w.category, DeprecationWarning)]


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_name_warns_and_gives_the_new_modules_names(old):
    module, warned = fresh_import(f"qattn_hybrid.{old}")
    targets = MOVED[old]
    assert len(warned) == 1
    assert f"qattn_hybrid.{old} moved to {targets[0]}" in str(warned[0].message)
    news = [importlib.import_module(t) for t in targets]
    for name in {n for new in news for n in getattr(new, "__all__", [])}:
        first = next(new for new in news if hasattr(new, name))  # the first target wins
        assert getattr(module, name) is getattr(first, name), (old, name)


def test_old_names_never_shadow_a_real_module():
    real = {".".join(p.relative_to(PACKAGE).with_suffix("").parts) for p in PACKAGE.rglob("*.py")}
    real |= {p.name for p in PACKAGE.iterdir() if p.is_dir()}
    assert sorted(set(MOVED) & real) == []


def test_old_names_of_the_split_and_merged_modules():
    from qattn_hybrid.layers.common import AttentionOutput
    from qattn_hybrid.layers.quantum import QuantumAttention
    from qattn_hybrid.tasks.metrics import ndcg_at_k

    attention, _ = fresh_import("qattn_hybrid.attention")
    ranking, _ = fresh_import("qattn_hybrid.ranking")
    assert (attention.QuantumAttention, attention.AttentionOutput) == (QuantumAttention,
                                                                       AttentionOutput)
    assert ranking.ndcg_at_k is ndcg_at_k
    splits, _ = fresh_import("qattn_hybrid.splits")
    buckets, _ = fresh_import("qattn_hybrid.buckets")
    assert splits.carve_validation.__module__ == "qattn_hybrid.data.rows"
    assert buckets.bucket_order.__module__ == "qattn_hybrid.training.sampling"
    with pytest.raises(AttributeError, match=r"qattn_hybrid.ranking.*now.*has no attribute 'nope'"):
        ranking.nope


def test_an_old_subpackage_keeps_its_submodules():
    from qattn_hybrid.cli.train import train

    old, _ = fresh_import("qattn_hybrid.commands.train")
    assert old.train is train


def test_unknown_names_are_still_errors():
    with pytest.raises(ModuleNotFoundError, match="qattn_hybrid.no_such_module"):
        importlib.import_module("qattn_hybrid.no_such_module")


@pytest.mark.parametrize("package", sorted(OLD_API))
def test_packages_named_like_old_modules_export_their_names(package):
    module = importlib.import_module(f"qattn_hybrid.{package}")
    missing = [n for n in OLD_API[package] if not hasattr(module, n)]
    assert missing == []
