"""Lazy package exports: names resolve on first use, and importing a package stays light."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

from qattn_hybrid.utils.lazy import lazy_exports

FLOORS = ("utils", "tasks", "config", "data", "layers", "modeling", "evaluation", "training",
          "serving", "cli")


def test_a_name_is_imported_on_first_use_and_then_cached(monkeypatch):
    package = types.ModuleType("fake_package")
    monkeypatch.setitem(sys.modules, "fake_package", package)
    get, names = lazy_exports("fake_package", {"sqrt": "math", "dumps": "json"})
    assert get("sqrt")(9.0) == 3.0
    assert vars(package)["sqrt"](16.0) == 4.0  # cached on the package: no second look-up
    assert {"sqrt", "dumps"} <= set(names())
    with pytest.raises(AttributeError, match="module 'fake_package' has no attribute 'loads'"):
        get("loads")


@pytest.mark.parametrize("package", FLOORS)
def test_importing_a_subpackage_loads_no_heavy_library(package):
    code = (f"import sys, qattn_hybrid.{package}\n"
            "heavy = ('torch', 'transformers', 'pennylane', 'fastapi', 'matplotlib')\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"


@pytest.mark.parametrize("package", FLOORS)
def test_every_exported_name_resolves(package):
    module = importlib.import_module(f"qattn_hybrid.{package}")
    for name in module.__all__:
        value = getattr(module, name)
        home = getattr(value, "__module__", None)  # functions and classes: where defined
        if isinstance(home, str) and home.startswith("qattn_hybrid."):
            assert getattr(sys.modules[home], name) is value, (package, name, home)
