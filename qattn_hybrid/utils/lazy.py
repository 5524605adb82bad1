"""Lazy public names for a package: each one imported from its module on first use.

    __getattr__, __dir__ = lazy_exports(__name__, {"Trainer": "qattn_hybrid.training.trainer"})

A package's ``__init__`` then imports nothing until a name is asked for, so ``import
qattn_hybrid.config`` (or ``qattn --help``) pulls in neither torch nor PennyLane (PEP 562).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``: name -> the module that defines it."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
