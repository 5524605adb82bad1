"""Project-level promises: README commands, CI, quiet imports, package boundaries."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fenced_block_after(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\s*```\w*\n(.*?)```", text, re.S)
    assert match, f"README.md has no code block after <!-- {marker} -->"
    return match.group(1).strip()


class TestReadme:
    def test_exactly_two_setup_commands(self):
        for marker in ("main-command", "test-command"):
            assert len(fenced_block_after(marker).splitlines()) == 1
            assert "pip install torch==2.13.0" in fenced_block_after(marker)

    def test_torch_cpu_wheel_installed_first(self):
        for marker in ("main-command", "test-command"):
            command = fenced_block_after(marker)
            assert command.index("torch==2.13.0") < command.index("pip install -e")

    def test_ci_runs_the_readme_test_command(self):
        ci = (ROOT / ".ci" / "run").read_text()
        assert fenced_block_after("test-command") in ci.splitlines()


class TestImports:
    def run(self, code: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=300, cwd=ROOT)

    def test_import_is_quiet_and_light(self):
        code = ("import sys, qattn_hybrid, circuits\n"
                "heavy = ('transformers', 'braket', 'qiskit', 'pennylane_ionq', 'pennylane_qiskit')\n"
                "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))")
        result = self.run(code)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "[]\n"

    def test_circuits_never_imports_qattn_hybrid(self):
        for path in (ROOT / "circuits").rglob("*.py"):
            source = path.read_text()
            assert not re.search(r"^\s*(from|import)\s+qattn_hybrid", source, re.M), path
            assert not re.search(r"^\s*(from|import)\s+transformers", source, re.M), path
            assert "torch.nn" not in source.replace("torch.nn.functional", ""), path


class TestLayout:
    """Tests mirror the source tree: tests/<package path>/test_<module>.py (the folder's name may
    prefix the module's, as in tests/circuits/hardware/test_hardware_cost.py, since test file
    names must be unique). Tests that span modules live in an ``end_to_end/`` folder, plugin
    tests in ``plugins/``; tests at the top of tests/ are about the project."""

    KEPT_APART = {"end_to_end", "plugins"}

    def test_every_test_module_names_its_source_module(self):
        stray = []
        for path in sorted((ROOT / "tests").rglob("test_*.py")):
            parts = path.relative_to(ROOT / "tests").parts
            if len(parts) == 1 or self.KEPT_APART & set(parts[:-1]):
                continue
            source = ROOT.joinpath(*parts[:-1])
            name = path.stem.removeprefix("test_")
            names = {name, name.removeprefix(parts[-2] + "_")}
            if not any((source / f"{n}.py").is_file() or (source / n).is_dir() for n in names):
                stray.append(str(path.relative_to(ROOT)))
        assert stray == [], ("no source module of that name: move each beside its module's "
                             "name, or into end_to_end/ or plugins/")

    def test_file_names_are_unique(self):
        """pytest imports test modules by file name (no __init__.py in tests/)."""
        names = [p.name for p in (ROOT / "tests").rglob("*.py") if p.name != "conftest.py"]
        assert sorted({n for n in names if names.count(n) > 1}) == []
