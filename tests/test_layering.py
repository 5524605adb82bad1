"""Who may import whom, read from the source with `ast` (function-level imports included).

- the circuit core never imports `circuits.hardware` (hardware builds on the core);
- `circuits` never imports `qattn_hybrid`, `transformers` or `torch.nn`;
- no import cycles among the modules of both packages;
- no module uses another module's private names (`model._load_weights`, `from m import _f`);
- `qattn_hybrid` is in subpackages (FLOORS), each importing only itself and those before it,
  and its tests mirror that tree.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("circuits", "qattn_hybrid")
# qattn_hybrid's subpackages, in order: each may import itself and those before it, never after
FLOORS = ("utils", "tasks", "config", "data", "layers", "modeling", "evaluation", "training",
          "serving", "cli")
TOP_LEVEL = {"qattn_hybrid", "qattn_hybrid.moved"}  # the facade and the old names' finder


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imported_names(path: Path, package: str = "", submodules=frozenset()) -> set[str]:
    """Every module an `import` or `from ... import` anywhere in `path` names (absolute;
    relative imports resolved against `package`), at module level or inside functions.
    `from P import m` with `P.m` in `submodules` names `P.m` only, as `import P.m` does."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            full = {f"{base}.{alias.name}" for alias in node.names}
            names.update(full)
            if not full <= submodules:
                names.add(base)
    return names


def internal_imports() -> dict[str, set[str]]:
    """module -> the modules of both packages it imports (a package counts as its __init__)."""
    known = modules()
    graph = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = {n for n in imported_names(path, package, frozenset(known))
                       if n in known and n != name}
    return graph


def core_modules() -> list[str]:
    return [m for m in modules()
            if m.startswith("circuits") and not m.startswith("circuits.hardware")]


@pytest.mark.parametrize("module", core_modules())
def test_core_never_imports_hardware(module):
    bad = sorted(n for n in imported_names(modules()[module]) if n.startswith("circuits.hardware"))
    assert bad == [], f"{module} imports {bad}: the core must not depend on circuits.hardware"


@pytest.mark.parametrize("module", [m for m in modules() if m.startswith("circuits")])
def test_circuits_never_imports_the_torch_side(module):
    forbidden = ("qattn_hybrid", "transformers", "torch.nn")
    bad = sorted(n for n in imported_names(modules()[module])
                 if any(n == f or n.startswith(f + ".") for f in forbidden))
    assert bad == [], f"{module} imports {bad}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


# across the packages no cycle can exist: circuits never imports qattn_hybrid (above)
@pytest.mark.parametrize("package", ["circuits", "qattn_hybrid"])
def test_no_import_cycles(package):
    graph = {m: deps for m, deps in internal_imports().items() if m.startswith(package)}
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_checker_finds_cycles_and_function_level_imports(tmp_path):
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from circuits.hardware.execution import guard_qnode\n"
                      "    from .spec import CircuitSpec\n")
    names = imported_names(source, package="circuits")
    assert {"circuits.hardware.execution", "circuits.spec"} <= names
    source.write_text("from circuits import spec\n")
    assert "circuits" in imported_names(source)  # a name of the package (its __init__)
    assert imported_names(source, submodules={"circuits.spec"}) == {"circuits.spec"}


def private_uses(path: Path, module: str, known: dict[str, Path]) -> list[str]:
    """`m._name` and `from m import _name` in `path` where `m` is another module of the
    packages (their private functions, constants and classes stay theirs)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases, bad = {}, []  # local name -> module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update({a.asname: a.name for a in node.names if a.asname and a.name in known})
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if sub in known:
                    aliases[alias.asname or alias.name] = sub
                elif node.module in known and node.module != module and _private(alias.name):
                    bad.append(f"from {node.module} import {alias.name}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and aliases[node.value.id] != module
                and _private(node.attr)):
            bad.append(f"{aliases[node.value.id]}.{node.attr} (line {node.lineno})")
    return bad


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_uses_another_modules_private_names(package):
    known = modules()
    bad = {m: uses for m, path in known.items() if m.startswith(package)
           if (uses := private_uses(path, m, known))}
    assert bad == {}


def test_tests_use_no_private_names_of_the_packages():
    """Tests reach the packages through public names only (`m._name` where m is a module of
    the packages, `from m import _name`), so a private helper can change without them."""
    known = modules()
    bad = {str(path.relative_to(ROOT)): uses for path in sorted((ROOT / "tests").rglob("*.py"))
           if (uses := private_uses(path, "tests", known))}
    assert bad == {}


def test_the_checker_finds_private_uses(tmp_path):
    known = {"qattn_hybrid.modeling.model": Path("m"), "qattn_hybrid.cli.parser": Path("c")}
    source = tmp_path / "x.py"
    source.write_text("from qattn_hybrid.modeling import model\n"
                      "from qattn_hybrid.cli.parser import _table\n"
                      "import qattn_hybrid.modeling.model as m\n"
                      "def f():\n    model._load_weights(); m._x; model.load_weights()\n"
                      "    m.__doc__\n")
    model = "qattn_hybrid.modeling.model"
    assert sorted(private_uses(source, "qattn_hybrid.x", known)) == [
        "from qattn_hybrid.cli.parser import _table", f"{model}._load_weights (line 5)",
        f"{model}._x (line 5)"]
    assert sorted(private_uses(source, "qattn_hybrid.cli.parser", known)) == [
        f"{model}._load_weights (line 5)", f"{model}._x (line 5)"]


def subpackage(module: str) -> str:
    return module.split(".")[1]


def exports(module: str) -> dict[str, str]:
    """The `_EXPORTS` of a package `__init__` (public name -> module), read from the source."""
    for node in ast.parse(modules()[module].read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_EXPORTS"
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def back_arrows(graph: dict[str, set[str]]) -> list[str]:
    """`a -> b` for every import of a qattn_hybrid module from a later floor (or the facade)."""
    floor = {name: i for i, name in enumerate(FLOORS)}
    bad = []
    for module, deps in sorted(graph.items()):
        if module in TOP_LEVEL or not module.startswith("qattn_hybrid."):
            continue
        for dep in sorted(d for d in deps if d.startswith("qattn_hybrid")):
            if dep in TOP_LEVEL or floor[subpackage(dep)] > floor[subpackage(module)]:
                bad.append(f"{module} -> {dep}")
    return bad


def test_every_module_lives_in_a_subpackage():
    outside = sorted(m for m in modules() if m.startswith("qattn_hybrid") and m not in TOP_LEVEL
                     and (m.count(".") == 0 or subpackage(m) not in FLOORS))
    assert outside == []
    assert sorted(p.name for p in (ROOT / "qattn_hybrid").iterdir() if p.is_dir()
                  and p.name != "__pycache__") == sorted(FLOORS)


def test_subpackages_import_only_earlier_floors():
    graph = internal_imports()
    for module in modules():  # the lazy exports are imports too
        if module.startswith("qattn_hybrid.") and module.count(".") == 1 and module in graph:
            graph[module] = graph[module] | set(exports(module).values())
    assert back_arrows(graph) == []


def test_the_floor_checker_finds_back_arrows():
    graph = {"qattn_hybrid.config.sections": {"qattn_hybrid.modeling.model",
                                              "qattn_hybrid.utils.files", "circuits.spec"},
             "qattn_hybrid.cli.train": {"qattn_hybrid.training.trainer"},
             "qattn_hybrid.layers.quantum": {"qattn_hybrid"}}
    assert back_arrows(graph) == ["qattn_hybrid.config.sections -> qattn_hybrid.modeling.model",
                                  "qattn_hybrid.layers.quantum -> qattn_hybrid"]


def test_tests_mirror_the_package_tree():
    """Each test file of tests/qattn_hybrid/<sub>/ is named after a module (or bundled dataset)
    of qattn_hybrid/<sub>/: ``test_<module>.py``, or ``test_<sub>_<module>.py`` where a
    module's name alone would clash with another test's."""
    tests = ROOT / "tests" / "qattn_hybrid"
    cross_cutting = {"end_to_end", "plugins"}  # whole runs and optional plugins
    top = {m.removeprefix("qattn_hybrid.") for m in TOP_LEVEL}
    assert sorted(p.name for p in tests.glob("test_*.py") if p.stem[5:] not in top) == []
    orphans = []
    for path in sorted(tests.rglob("test_*.py")):
        parts = path.relative_to(tests).parts
        if cross_cutting & set(parts):
            continue
        source = ROOT / "qattn_hybrid" / Path(*parts[:-1])
        name = path.stem.removeprefix("test_")
        names = {name, name.removeprefix(f"{source.name}_")}
        if not any((source / f"{n}.py").is_file() or (source / n).is_dir() for n in names):
            orphans.append(str(path.relative_to(ROOT)))
    assert orphans == []
