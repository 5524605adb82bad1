"""The flat module names of qattn_hybrid before its subpackages, and where each now lives.

    import qattn_hybrid.attention          # DeprecationWarning: now qattn_hybrid.layers.quantum
    from qattn_hybrid.factory import build_trainer      # still works, with the same warning

Every name an old module made public is found in its new module (or, for the two modules that
were split, in one of them): :class:`MovedModules` is a finder on ``sys.meta_path`` that answers
only for the old names, after every real module, so code written against the flat layout keeps
working while it moves. Old names that are now packages (``config``, ``data``, ``tasks``,
``training``, ``evaluation``, ``cli``) need nothing: each package exports the old module's names.
New code imports from the subpackages (``from qattn_hybrid.training import Trainer``) or from
``qattn_hybrid`` itself.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

__all__ = ["MOVED", "MovedModules", "install"]

# old module (under qattn_hybrid.) -> the modules its public names now live in, first first
MOVED = {
    "files": ("qattn_hybrid.utils.files",),
    "manifest": ("qattn_hybrid.utils.manifest",),
    "distributed": ("qattn_hybrid.utils.distributed",),
    "progress": ("qattn_hybrid.utils.progress",),
    "metrics": ("qattn_hybrid.tasks.metrics",),
    "config_checks": ("qattn_hybrid.config.checks",),
    "config_circuit": ("qattn_hybrid.config.circuit",),
    "choices": ("qattn_hybrid.config.choices",),
    "taskspec": ("qattn_hybrid.config.taskspec",),
    "presets": ("qattn_hybrid.config.presets",),
    "rows": ("qattn_hybrid.data.rows",),
    "splits": ("qattn_hybrid.data.rows",),
    "subsets": ("qattn_hybrid.data.rows",),
    "attention": ("qattn_hybrid.layers.quantum", "qattn_hybrid.layers.common",),
    "baseline": ("qattn_hybrid.layers.classical",),
    "self_attention": ("qattn_hybrid.layers.self_attention",),
    "folded": ("qattn_hybrid.layers.folding",),
    "attentions": ("qattn_hybrid.layers.registry",),
    "model": ("qattn_hybrid.modeling.model",),
    "encoders": ("qattn_hybrid.modeling.encoders",),
    "encoder_prune": ("qattn_hybrid.modeling.prune",),
    "encoder_quantize": ("qattn_hybrid.modeling.quantize",),
    "ranking": ("qattn_hybrid.evaluation.ranking", "qattn_hybrid.tasks.metrics",),
    "probe": ("qattn_hybrid.evaluation.probe",),
    "plots": ("qattn_hybrid.evaluation.plots",),
    "attend": ("qattn_hybrid.evaluation.attend",),
    "factory": ("qattn_hybrid.training.factory",),
    "sampling": ("qattn_hybrid.training.sampling",),
    "buckets": ("qattn_hybrid.training.sampling",),
    "weighting": ("qattn_hybrid.training.weighting",),
    "schedule": ("qattn_hybrid.training.schedule",),
    "warmup": ("qattn_hybrid.training.warmup",),
    "checkpoints": ("qattn_hybrid.training.checkpoints",),
    "selection": ("qattn_hybrid.training.selection",),
    "history": ("qattn_hybrid.training.history",),
    "comparison": ("qattn_hybrid.training.baselines",),
    "tracking": ("qattn_hybrid.training.tracking",),
    "masking": ("qattn_hybrid.serving.masking",),
    "monitor": ("qattn_hybrid.serving.monitor",),
    "monitor_plot": ("qattn_hybrid.serving.monitor_plot",),
    "serving.commands": ("qattn_hybrid.cli.serve",),
    "plan": ("qattn_hybrid.cli.plan",),
    "commands.attend": ("qattn_hybrid.cli.attend",),
    "commands.circuit": ("qattn_hybrid.cli.circuit",),
    "commands.models": ("qattn_hybrid.cli.models",),
    "commands.monitor": ("qattn_hybrid.cli.monitor",),
    "commands.tables": ("qattn_hybrid.cli.tables",),
    "commands.train": ("qattn_hybrid.cli.train",),
    "commands": ("qattn_hybrid.cli",),
}


class _MovedModule(types.ModuleType):
    """An old module name: each attribute read from the first new module that has it."""

    def __init__(self, name: str, targets: tuple[str, ...]):
        super().__init__(name, f"Moved to {', '.join(targets)}.")
        self.__path__: list[str] = []  # old packages (``commands``) keep their submodules
        self._targets = targets

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        for target in self._targets:
            module = importlib.import_module(target)
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} (now {' and '.join(self._targets)}) has "
                             f"no attribute {attr!r}")

    def __dir__(self) -> list[str]:
        return sorted({n for t in self._targets for n in dir(importlib.import_module(t))})


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``qattn_hybrid.<old name>`` (:data:`MOVED`) and warns where it moved."""

    prefix = "qattn_hybrid."

    def find_spec(self, fullname, path=None, target=None):
        old = fullname[len(self.prefix):] if fullname.startswith(self.prefix) else None
        if old not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        targets = MOVED[spec.name[len(self.prefix):]]
        warnings.warn(f"{spec.name} moved to {' and '.join(targets)}; import it from there "
                      f"(the old name will go in a later release)", DeprecationWarning,
                      stacklevel=2)
        return _MovedModule(spec.name, targets)

    def exec_module(self, module) -> None:
        pass


def install() -> None:
    """Put one :class:`MovedModules` at the end of ``sys.meta_path`` (idempotent)."""
    if not any(isinstance(f, MovedModules) for f in sys.meta_path):
        sys.meta_path.append(MovedModules())
